import { describe, expect, it } from 'vitest';
import { parseMentions } from '../../src/domain/mentions.js';
import { usernameFromEmail, usernameProblem } from '../../src/domain/usernames.js';

describe('parseMentions', () => {
  const names = (content: string) => parseMentions(content).usernames;

  it('finds handles in order, once each, lower-cased, with punctuation around them', () => {
    expect(names('@Bob hi @carol, and @bob again (@dave) @eve.')).toEqual(['bob', 'carol', 'dave', 'eve']);
    expect(names('@bob.smith and @a-b_c.d!')).toEqual(['bob.smith', 'a-b_c.d']);
    expect(names('start@bob')).toEqual([]);
  });

  it('ignores e-mail addresses, code spans and code blocks', () => {
    expect(names('mail ann@example.com or ann.b+x@example.com')).toEqual([]);
    expect(names('`@bob` and ``` \n@carol\n``` but @dave')).toEqual(['dave']);
    expect(names('```\n@bob never closed')).toEqual([]);
  });

  it('recognises @channel, @all, @everyone and @here, not as handles', () => {
    expect(parseMentions('@channel')).toEqual({ usernames: [], channel: true, here: false });
    expect(parseMentions('@ALL @everyone')).toMatchObject({ channel: true, here: false });
    expect(parseMentions('@here @bob')).toEqual({ usernames: ['bob'], channel: false, here: true });
    expect(parseMentions('@channels @herein')).toEqual({ usernames: ['channels', 'herein'], channel: false, here: false });
  });

  it('does not take a partial handle', () => {
    expect(names('@' + 'a'.repeat(40))).toEqual([]);
    expect(names('@bob_')).toEqual([]);
  });
});

describe('usernames', () => {
  it('validates handles', () => {
    for (const ok of ['a', 'bob', 'b.o-b_9', 'x'.repeat(32)]) expect(usernameProblem(ok), ok).toBeUndefined();
    for (const bad of ['', 'Bob', '.bob', 'bob-', 'x'.repeat(33), 'b b', 'all', 'here', 'channel', 'everyone']) expect(usernameProblem(bad), bad).toBeDefined();
  });

  it('derives one from an e-mail address, or none', () => {
    expect(usernameFromEmail('Ann.Lee+work@example.com')).toBe('ann.leework');
    expect(usernameFromEmail('_x_@example.com')).toBeNull();
    expect(usernameFromEmail('here@example.com')).toBeNull();
    expect(usernameFromEmail('Zoë.Müller@example.com')).toBe('zoe.muller');
  });
});
