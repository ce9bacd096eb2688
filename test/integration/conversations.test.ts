// Reactions, pins, saved messages, threads, edit history and rendered Markdown, through the
// real API, persist worker and fanout (issue 16).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import * as renderMigration from '../../migrations/20261204000200_render_markdown.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { openWs, type WsClient } from '../helpers/realtime.js';

let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser, cat: FixtureUser, guest: FixtureUser, stranger: FixtureUser;
let wid: string, general: string, secret: string;

beforeAll(async () => {
  env = await createTestEnv({ WORKER_QUEUES: 'persist,receipts' });
  app = await startInProcess(env, 'all');
  request = client(app.url);
  [ann, bob, cat, guest, stranger] = await Promise.all(['Ann', 'Bob', 'Cat', 'Guest', 'Stranger'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [
    [bob, 'member'],
    [cat, 'member'],
    [guest, 'guest'],
  ]);
  await fixtureWorkspace(env.deps, stranger);
  general = await fixtureChat(env.deps, wid, ann, [bob, guest], 'public', 'general');
  secret = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'secret');
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

let sent = 0;
async function say(user: FixtureUser, chatId: string, content: string, extra: Record<string, unknown> = {}) {
  const res = await request('POST', `/api/v1/chats/${chatId}/messages`, { token: user.token, body: { content, client_id: `c-${++sent}`, ...extra } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return eventually(async () => {
    const got = await request('GET', `/api/v1/messages/${res.body.id}`, { token: user.token });
    return got.status === 200 ? got.body : null;
  });
}

const seen = (ws: WsClient, type: string, match: (data: any) => boolean) => eventually(async () => ws.inbox.events(type).find((f) => match(f.data)));

describe('reactions', () => {
  it('add and remove idempotently, show counts and who, and announce each change once', async () => {
    const m = await say(ann, general, 'react to me');
    const ws = await openWs(app.url, guest.token);
    const thumbs = encodeURIComponent('👍');
    const first = await request('PUT', `/api/v1/messages/${m.id}/reactions/${thumbs}`, { token: bob.token });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ emoji: '👍', count: 1, user_ids: [bob.id] });
    expect((await request('PUT', `/api/v1/messages/${m.id}/reactions/${thumbs}`, { token: bob.token })).body.count).toBe(1);
    const second = await request('PUT', `/api/v1/messages/${m.id}/reactions/${thumbs}`, { token: ann.token });
    expect(second.body).toEqual({ emoji: '👍', count: 2, user_ids: [bob.id, ann.id] });
    // Unqualified hearts are stored fully qualified.
    expect((await request('PUT', `/api/v1/messages/${m.id}/reactions/${encodeURIComponent('❤')}`, { token: bob.token })).body.emoji).toBe('❤️');

    const read = await request('GET', `/api/v1/messages/${m.id}`, { token: guest.token });
    expect(read.body.reactions).toEqual([
      { emoji: '👍', count: 2, user_ids: [bob.id, ann.id] },
      { emoji: '❤️', count: 1, user_ids: [bob.id] },
    ]);
    const history = await request('GET', `/api/v1/chats/${general}/messages?limit=1`, { token: guest.token });
    expect(history.body.items[0].reactions).toHaveLength(2);

    const removed = await request('DELETE', `/api/v1/messages/${m.id}/reactions/${thumbs}`, { token: bob.token });
    expect(removed.body).toEqual({ emoji: '👍', count: 1, user_ids: [ann.id] });
    expect((await request('DELETE', `/api/v1/messages/${m.id}/reactions/${thumbs}`, { token: bob.token })).body.count).toBe(1);

    const added = await seen(ws, 'reaction.added', (d) => d.message_id === m.id && d.user_id === ann.id);
    expect(added.data).toEqual({ message_id: m.id, emoji: '👍', user_id: ann.id, reaction: { emoji: '👍', count: 2, user_ids: [bob.id, ann.id] } });
    await seen(ws, 'reaction.removed', (d) => d.message_id === m.id);
    // Each change once: three adds (bob 👍, ann 👍, bob ❤️) and one removal, whatever was repeated.
    expect(ws.inbox.events('reaction.added').filter((f) => f.data.message_id === m.id)).toHaveLength(3);
    expect(ws.inbox.events('reaction.removed').filter((f) => f.data.message_id === m.id)).toHaveLength(1);
    await ws.close();
  });

  it('refuses a 21st reaction per person, but re-adding one I have stays an idempotent 200', async () => {
    const m = await say(ann, general, 'react a lot');
    const emoji = [...'😀😃😄😁😆😅😂🙂🙃😉😊😇🥰😍🤩😘😗😚😙😋'];
    expect(emoji).toHaveLength(20);
    for (const e of emoji) expect((await request('PUT', `/api/v1/messages/${m.id}/reactions/${encodeURIComponent(e)}`, { token: bob.token })).status).toBe(200);
    const again = await request('PUT', `/api/v1/messages/${m.id}/reactions/${encodeURIComponent(emoji[3])}`, { token: bob.token });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ emoji: emoji[3], count: 1, user_ids: [bob.id] });
    const more = await request('PUT', `/api/v1/messages/${m.id}/reactions/${encodeURIComponent('🎉')}`, { token: bob.token });
    expect(more.status).toBe(400);
    expect(more.body.error.details[0].code).toBe('too_many_reactions');
  });

  it('refuses what is not one emoji, strangers and non-members', async () => {
    const m = await say(ann, secret, 'private');
    for (const bad of ['x', '👍👍', 'thumbsup', '%3Cscript%3E']) {
      const res = await request('PUT', `/api/v1/messages/${m.id}/reactions/${bad}`, { token: bob.token });
      expect(res.status, bad).toBe(400);
    }
    expect((await request('PUT', `/api/v1/messages/${m.id}/reactions/${encodeURIComponent('🎉')}`, { token: cat.token })).status).toBe(404);
    expect((await request('PUT', `/api/v1/messages/${m.id}/reactions/${encodeURIComponent('🎉')}`, { token: stranger.token })).status).toBe(404);
    expect((await request('PUT', `/api/v1/messages/not-an-id/reactions/${encodeURIComponent('🎉')}`, { token: bob.token })).status).toBe(404);
  });
});

describe('pins and saved messages', () => {
  it('pin and unpin per chat, listed newest first, with events', async () => {
    const [a, b] = [await say(ann, general, 'pin a'), await say(bob, general, 'pin b')];
    const ws = await openWs(app.url, ann.token);
    const pinned = await request('PUT', `/api/v1/messages/${a.id}/pin`, { token: bob.token });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ pinned_by: bob.id, message: { id: a.id, content: 'pin a' } });
    await request('PUT', `/api/v1/messages/${b.id}/pin`, { token: ann.token });
    await request('PUT', `/api/v1/messages/${b.id}/pin`, { token: ann.token });
    const list = await request('GET', `/api/v1/chats/${general}/pins`, { token: guest.token });
    expect(list.body.items.map((p: any) => p.message.id)).toEqual([b.id, a.id]);
    const event = await seen(ws, 'message.pinned', (d) => d.message_id === a.id);
    expect(event.data).toMatchObject({ pinned_by: bob.id, message: { id: a.id } });
    expect((await request('DELETE', `/api/v1/messages/${a.id}/pin`, { token: ann.token })).status).toBe(204);
    await seen(ws, 'message.unpinned', (d) => d.message_id === a.id);
    expect((await request('GET', `/api/v1/chats/${general}/pins`, { token: ann.token })).body.items.map((p: any) => p.message.id)).toEqual([b.id]);
    expect(ws.inbox.events('message.pinned').filter((f) => f.data.message_id === b.id)).toHaveLength(1);
    // Readers who are not members cannot pin; strangers see nothing.
    expect((await request('PUT', `/api/v1/messages/${a.id}/pin`, { token: cat.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/chats/${general}/pins`, { token: stranger.token })).status).toBe(404);
    await ws.close();
  });

  it('save privately, list newest first with a cursor, only what I can still read', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await say(ann, general, `save ${i}`)).id);
    const privateOne = await say(ann, secret, 'save private');
    const bobWs = await openWs(app.url, bob.token);
    const annWs = await openWs(app.url, ann.token);
    for (const id of [...ids, privateOne.id]) expect((await request('PUT', `/api/v1/messages/${id}/saved`, { token: bob.token })).status).toBe(200);
    const again = await request('PUT', `/api/v1/messages/${ids[0]}/saved`, { token: bob.token });
    expect(again.body).toMatchObject({ message: { id: ids[0] }, saved_at: expect.any(String) });
    const page1 = await request('GET', '/api/v1/me/saved?limit=2', { token: bob.token });
    expect(page1.body.items.map((s: any) => s.message.id)).toEqual([privateOne.id, ids[2]]);
    const page2 = await request('GET', `/api/v1/me/saved?limit=2&cursor=${page1.body.next_cursor}`, { token: bob.token });
    expect(page2.body.items.map((s: any) => s.message.id)).toEqual([ids[1], ids[0]]);
    expect(page2.body.next_cursor).toBeNull();
    await seen(bobWs, 'message.saved', (d) => d.message_id === ids[0]);
    // Leaving the private chat takes its message out of my list.
    await env.deps.db('chat_members').where({ chat_id: secret, user_id: bob.id }).del();
    expect((await request('GET', '/api/v1/me/saved', { token: bob.token })).body.items.map((s: any) => s.message.id)).toEqual([ids[2], ids[1], ids[0]]);
    await env.deps.db('chat_members').insert({ chat_id: secret, user_id: bob.id, workspace_id: wid });
    expect((await request('DELETE', `/api/v1/messages/${ids[1]}/saved`, { token: bob.token })).status).toBe(204);
    await seen(bobWs, 'message.unsaved', (d) => d.message_id === ids[1]);
    // Private: nobody else's connections hear of it.
    const marker = await say(bob, general, 'marker');
    await seen(annWs, 'message.created', (d) => d.id === marker.id);
    expect(annWs.inbox.events('message.saved')).toEqual([]);
    expect((await request('GET', '/api/v1/me/saved', { token: ann.token })).body.items).toEqual([]);
    await Promise.all([bobWs.close(), annWs.close()]);
  });
});

describe('threads', () => {
  it('replies count on the root, page in order, and follow the thread for those taking part', async () => {
    const root = await say(ann, general, 'thread root');
    const ws = await openWs(app.url, guest.token);
    const r1 = await say(bob, general, 'first reply', { thread_root_id: root.id });
    const r2 = await say(ann, general, `second, @${guest.username}`, { thread_root_id: root.id });
    expect(r1).toMatchObject({ thread_root_id: root.id, seq: root.seq + 1 });
    const created = await seen(ws, 'message.created', (d) => d.id === r2.id);
    expect(created.data.thread).toMatchObject({ root_id: root.id, reply_count: 2, last_reply_at: expect.any(String) });

    const thread = await request('GET', `/api/v1/messages/${root.id}/thread`, { token: bob.token });
    expect(thread.status).toBe(200);
    expect(thread.body.root).toMatchObject({ id: root.id, reply_count: 2 });
    expect(thread.body.items.map((m: any) => m.id)).toEqual([r1.id, r2.id]);
    expect(thread.body.thread).toEqual({ root_id: root.id, chat_id: general, following: true, last_read_seq: r1.seq, unread_count: 1 });
    const after = await request('GET', `/api/v1/messages/${root.id}/thread?after=${r1.seq}`, { token: bob.token });
    expect(after.body.items.map((m: any) => m.id)).toEqual([r2.id]);
    const before = await request('GET', `/api/v1/messages/${root.id}/thread?before=${r2.seq}&limit=1`, { token: bob.token });
    expect(before.body).toMatchObject({ items: [{ id: r1.id }], has_more: false });

    // The mentioned guest follows it; the root's author too.
    const mine = await request('GET', `/api/v1/me/threads?workspace_id=${wid}`, { token: guest.token });
    expect(mine.body.items).toEqual([
      expect.objectContaining({ root: expect.objectContaining({ id: root.id }), thread: expect.objectContaining({ following: true, unread_count: 2 }) }),
    ]);
    // ann replied last: she has read it up to her reply.
    expect((await request('GET', '/api/v1/me/threads', { token: ann.token })).body.items[0].thread).toMatchObject({
      root_id: root.id,
      following: true,
      last_read_seq: r2.seq,
      unread_count: 0,
    });

    // Replies stay out of the chat's unread count; the mention counts.
    await env.deps.db('chat_members').where({ chat_id: general, user_id: guest.id }).update({ last_read_seq: root.seq });
    const chats = await request('GET', `/api/v1/workspaces/${wid}/chats`, { token: guest.token });
    expect(chats.body.items.find((c: any) => c.id === general)).toMatchObject({ unread_count: 0, mention_count: 1 });

    // Read and unfollow, with user-scoped events.
    const read = await request('POST', `/api/v1/messages/${root.id}/thread/read`, { token: guest.token, body: { seq: 1e9 } });
    expect(read.body).toMatchObject({ last_read_seq: r2.seq, unread_count: 0 });
    const unfollowed = await request('DELETE', `/api/v1/messages/${root.id}/thread/follow`, { token: guest.token });
    expect(unfollowed.body.following).toBe(false);
    await seen(ws, 'thread.updated', (d) => d.root_id === root.id && d.following === false);
    await say(bob, general, `@${guest.username} again`, { thread_root_id: root.id });
    expect((await request('GET', '/api/v1/me/threads', { token: guest.token })).body.items).toEqual([]);
    await ws.close();
  });

  it('reading a thread I never followed is not unfollowing it, and reacting right after the event works', async () => {
    const root = await say(ann, general, 'quiet root');
    await say(ann, general, 'a reply', { thread_root_id: root.id });
    const read = await request('POST', `/api/v1/messages/${root.id}/thread/read`, { token: bob.token, body: { seq: 1e9 } });
    expect(read.body).toMatchObject({ following: false, unread_count: 0 });
    await say(ann, general, `@${bob.username} your turn`, { thread_root_id: root.id });
    const thread = await request('GET', `/api/v1/messages/${root.id}/thread`, { token: bob.token });
    // Read state is kept for followers only: following now, both replies count as unread.
    expect(thread.body.thread).toMatchObject({ following: true, unread_count: 2 });

    // A client reacts the moment it hears of a message.
    const ws = await openWs(app.url, bob.token);
    const res = await request('POST', `/api/v1/chats/${general}/messages`, { token: ann.token, body: { content: 'react fast', client_id: `c-${++sent}` } });
    const created = await seen(ws, 'message.created', (d) => d.id === res.body.id);
    expect((await request('PUT', `/api/v1/messages/${created.data.id}/reactions/${encodeURIComponent('⚡')}`, { token: bob.token })).status).toBe(200);
    await ws.close();
  });

  it('refuse replies to replies and to other chats, and deleting a reply updates the root', async () => {
    const root = await say(ann, general, 'another root');
    const reply = await say(bob, general, 'reply', { thread_root_id: root.id });
    expect(
      (
        await request('POST', `/api/v1/chats/${general}/messages`, {
          token: bob.token,
          body: { content: 'nested', client_id: 'nested', thread_root_id: reply.id },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await request('POST', `/api/v1/chats/${secret}/messages`, {
          token: bob.token,
          body: { content: 'elsewhere', client_id: 'elsewhere', thread_root_id: root.id },
        })
      ).status,
    ).toBe(400);
    expect((await request('GET', `/api/v1/messages/${reply.id}/thread`, { token: bob.token })).status).toBe(400);
    expect((await request('DELETE', `/api/v1/messages/${reply.id}`, { token: bob.token })).status).toBe(202);
    await eventually(async () => (await request('GET', `/api/v1/messages/${root.id}`, { token: ann.token })).body.reply_count === 0);
  });
});

describe('edit history and Markdown', () => {
  it('keeps every earlier version for members; a delete wipes them', async () => {
    const m = await say(ann, general, 'v1 *original*');
    expect(m.rendered).toBe('<p>v1 <em>original</em></p>');
    for (const content of ['v2', 'v3 **bold**']) {
      expect((await request('PATCH', `/api/v1/messages/${m.id}`, { token: ann.token, body: { content } })).status).toBe(202);
      await eventually(async () => (await request('GET', `/api/v1/messages/${m.id}`, { token: ann.token })).body.content === content);
    }
    const now = await request('GET', `/api/v1/messages/${m.id}`, { token: guest.token });
    expect(now.body.rendered).toBe('<p>v3 <strong>bold</strong></p>');
    const edits = await request('GET', `/api/v1/messages/${m.id}/edits`, { token: guest.token });
    expect(edits.body.items.map((e: any) => [e.version, e.content])).toEqual([
      [2, 'v2'],
      [1, 'v1 *original*'],
    ]);
    expect(edits.body.items[1].written_at).toBe(m.created_at);
    expect((await request('GET', `/api/v1/messages/${m.id}/edits`, { token: stranger.token })).status).toBe(404);
    expect((await request('DELETE', `/api/v1/messages/${m.id}`, { token: ann.token })).status).toBe(202);
    await eventually(async () => (await request('GET', `/api/v1/messages/${m.id}`, { token: ann.token })).body.deleted);
    expect((await request('GET', `/api/v1/messages/${m.id}/edits`, { token: ann.token })).status).toBe(404);
    expect(await env.deps.db('message_edits').where({ message_id: m.id })).toEqual([]);
  });

  it('renders messages stored before rendering existed, once, in the migration', async () => {
    const old = await fixtureMessage(env.deps, general, ann, 'from *before*');
    const gone = await fixtureMessage(env.deps, general, ann, 'deleted', { deleted: true });
    await env.deps.db('messages').whereIn('id', [old.id, gone.id]).update({ rendered: null });
    await renderMigration.up(env.deps.db);
    const rows = await env.deps.db('messages').whereIn('id', [old.id, gone.id]).orderBy('seq').pluck('rendered');
    expect(rows).toEqual(['<p>from <em>before</em></p>', '']);
  });

  it('renders sanitized HTML once, and the text stays as sent', async () => {
    const content = 'Hi <script>alert(1)</script> [x](javascript:alert(1)) `code` https://example.com';
    const m = await say(ann, general, content);
    expect(m.content).toBe(content);
    expect(m.rendered).not.toMatch(/<script|href="javascript:/i);
    expect(m.rendered).toContain('<code>code</code>');
    expect(m.rendered).toContain('href="https://example.com"');
  });
});
