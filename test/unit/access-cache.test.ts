// Which cached access entries each event makes stale (src/domain/access-cache.ts), and the
// generation guard of the cache itself.
import { describe, expect, it } from 'vitest';
import { AccessCache, chatKey, memberKey, roleKey, staleKeys } from '../../src/domain/access-cache.js';
import { ACCESS_CHANGE_TYPES, EVENT_TYPES, type ChatEvent, type EventType } from '../../src/infra/events.js';

const event = (type: EventType, data: Record<string, unknown> = {}, chat: string | null = '7'): ChatEvent => ({ type, workspace_id: '3', chat_id: chat, data });

describe('staleKeys', () => {
  it('names the chat, the roles and the memberships each access change touches', () => {
    expect(staleKeys(event('chat.created', { member_ids: ['1', '2'] }))).toEqual([memberKey('7', '1'), memberKey('7', '2'), chatKey('7')]);
    expect(staleKeys(event('chat.updated', { archived_at: 'x' }))).toEqual([chatKey('7')]);
    expect(staleKeys(event('chat.member_joined', { user_id: '1' }))).toEqual([memberKey('7', '1')]);
    expect(staleKeys(event('chat.member_left', { user_id: '1' }))).toEqual([memberKey('7', '1')]);
    for (const type of ['workspace.member_joined', 'workspace.member_updated', 'workspace.member_left'] as const) {
      expect(staleKeys(event(type, { user_id: '1' }, null)), type).toEqual([roleKey('3', '1')]);
    }
  });

  it('names nothing for every other event', () => {
    for (const type of EVENT_TYPES.filter((t) => !ACCESS_CHANGE_TYPES.has(t)))
      expect(staleKeys(event(type, { user_id: '1', member_ids: ['1'] })), type).toEqual([]);
  });
});

describe('AccessCache', () => {
  it('stores a load only if nothing was dropped since it started', () => {
    const cache = new AccessCache(60);
    const started = cache.generation;
    cache.drop([memberKey('7', '1')]);
    cache.fill(started, [[memberKey('7', '1'), true]]);
    expect(cache.get(memberKey('7', '1'))).toBeUndefined();
    cache.fill(cache.generation, [[memberKey('7', '1'), false]]);
    expect(cache.get(memberKey('7', '1'))).toEqual({ value: false });
  });
});
