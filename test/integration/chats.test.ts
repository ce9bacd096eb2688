import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, streamEventsAfter, streamMark, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;
let owner: FixtureUser, admin: FixtureUser, ann: FixtureUser, bob: FixtureUser, guest: FixtureUser, outsider: FixtureUser;
let wid: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startInProcess(env, 'api');
  request = client(api.url);
  const u = (name: string) => fixtureUser(env.deps, name);
  [owner, admin, ann, bob, guest, outsider] = [await u('Owner'), await u('Admin'), await u('Ann'), await u('Bob'), await u('Guest'), await u('Outsider')];
  wid = await fixtureWorkspace(env.deps, owner, [
    [admin, 'admin'],
    [ann, 'member'],
    [bob, 'member'],
    [guest, 'guest'],
  ]);
  await fixtureWorkspace(env.deps, outsider);
});
afterAll(async () => {
  await api?.stop();
  await env?.close();
});

const lastEventId = () => streamMark(env);
const eventsAfter = (mark: string[]) => streamEventsAfter(env, mark);
const create = (as: FixtureUser, body: unknown) => request('POST', `/api/v1/workspaces/${wid}/chats`, { token: as.token, body });
const message = (chatId: string, sender: FixtureUser, content: string, deleted = false) => fixtureMessage(env.deps, chatId, sender, content, { deleted });

describe('creating chats', () => {
  it('creates a private chat and announces it with its member ids', async () => {
    const mark = await lastEventId();
    const res = await create(ann, { type: 'private', name: ' design ', topic: 'pixels', member_ids: [bob.id, ann.id] });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      workspace_id: wid,
      type: 'private',
      name: 'design',
      topic: 'pixels',
      created_by: ann.id,
      created_at: expect.stringMatching(/Z$/),
      last_seq: 0,
      member_count: 2,
      archived_at: null,
    });
    const events = await eventsAfter(mark);
    expect(events).toEqual([
      { id: expect.any(String), type: 'chat.created', workspace_id: wid, chat_id: res.body.id, data: { ...res.body, member_ids: [ann.id, bob.id] } },
    ]);
    expect((await request('GET', `/api/v1/chats/${res.body.id}`, { token: bob.token })).body).toEqual(res.body);
  });

  it('enforces the rules of each type', async () => {
    const cases: Array<[unknown, string]> = [
      [{ type: 'public' }, 'name'],
      [{ type: 'private', name: '  ' }, 'name'],
      [{ type: 'public', name: 'x'.repeat(81) }, 'name'],
      [{ type: 'group', member_ids: [] }, 'member_ids'],
      [{ type: 'direct', member_ids: [] }, 'member_ids'],
      [{ type: 'direct', member_ids: [ann.id] }, 'member_ids'],
      [{ type: 'direct', member_ids: [bob.id, admin.id] }, 'member_ids'],
      [{ type: 'direct', name: 'hi', member_ids: [bob.id] }, 'name'],
      [{ type: 'channel', name: 'x' }, 'type'],
      [{ type: 'public', name: 'x', color: 'red' }, ''],
      [{ type: 'public', name: 'x', member_ids: ['abc'] }, 'member_ids.0'],
    ];
    for (const [body, field] of cases) {
      const res = await create(ann, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      if (field)
        expect(
          res.body.error.details.map((d: { field?: string }) => d.field),
          JSON.stringify(body),
        ).toContain(field);
    }
  });

  it('refuses member_ids from outside the workspace, naming them', async () => {
    const res = await create(ann, { type: 'private', name: 'x', member_ids: [bob.id, outsider.id, '999999'] });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0]).toMatchObject({ field: 'member_ids', user_ids: [outsider.id, '999999'] });
  });

  it('guests cannot create chats', async () => {
    expect((await create(guest, { type: 'group', member_ids: [ann.id] })).status).toBe(403);
  });

  it('a pair has one direct chat: creating it again returns it with 200', async () => {
    const first = await create(ann, { type: 'direct', member_ids: [admin.id] });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ type: 'direct', name: null, member_count: 2 });
    const again = await create(admin, { type: 'direct', member_ids: [ann.id] });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    // If one of them left, opening it again brings them back (and says so).
    await request('DELETE', `/api/v1/chats/${first.body.id}/members/${admin.id}`, { token: admin.token });
    const mark = await lastEventId();
    const reopened = await create(ann, { type: 'direct', member_ids: [admin.id] });
    expect(reopened.status).toBe(200);
    expect(reopened.body.member_count).toBe(2);
    expect((await eventsAfter(mark)).map((e) => [e.type, e.data.user_id])).toEqual([['chat.member_joined', admin.id]]);
  });
});

describe('listing chats', () => {
  it('lists my chats with unread_count, last_read_seq and last_message', async () => {
    const user = await fixtureUser(env.deps, 'Reader');
    await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: user.id, role: 'member' });
    const busy = await fixtureChat(env.deps, wid, ann, [user], 'private', 'busy');
    const quiet = await fixtureChat(env.deps, wid, user, [], 'private', 'quiet');
    await fixtureChat(env.deps, wid, ann, [bob], 'private', 'not mine');
    await message(busy, ann, 'one');
    await message(busy, user, 'mine');
    await message(busy, ann, 'gone', true);
    await message(busy, bob, 'three');
    await message(busy, ann, 'four');
    await env.deps.db('chat_members').where({ chat_id: busy, user_id: user.id }).update({ last_read_seq: 1 });

    const res = await request('GET', `/api/v1/workspaces/${wid}/chats`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body.next_cursor).toBeNull();
    const byId = Object.fromEntries(res.body.items.map((c: { id: string }) => [c.id, c]));
    expect(Object.keys(byId).sort()).toEqual([busy, quiet].sort());
    // seq 2 is mine, 3 is deleted: unread are 4 and 5.
    expect(byId[busy]).toMatchObject({
      unread_count: 2,
      mention_count: 0,
      notify_level: 'default',
      muted: false,
      last_read_seq: 1,
      last_seq: 5,
      member_count: 2,
    });
    expect(byId[busy].last_message).toEqual({
      id: expect.any(String),
      chat_id: busy,
      workspace_id: wid,
      seq: 5,
      sender_id: ann.id,
      content: 'four',
      client_id: `c-${byId[busy].last_message.id}`,
      reply_to: null,
      mentions: [],
      thread_root_id: null,
      reply_count: 0,
      last_reply_at: null,
      rendered: '<p>four</p>',
      link_previews: [],
      reactions: [],
      attachments: [],
      created_at: expect.any(String),
      edited_at: null,
      deleted: false,
    });
    expect(byId[quiet]).toMatchObject({ unread_count: 0, last_read_seq: 0, last_message: null });
    expect(res.body.items[0].id).toBe(busy); // most recently active first
  });

  it('browses the public chats I can join', async () => {
    const joined = await fixtureChat(env.deps, wid, owner, [bob], 'public', 'joined');
    const open = await fixtureChat(env.deps, wid, owner, [], 'public', 'open');
    const archived = await fixtureChat(env.deps, wid, owner, [], 'public', 'archived');
    await env.deps.db('chats').where({ id: archived }).update({ archived_at: new Date() });
    const res = await request('GET', `/api/v1/workspaces/${wid}/chats?browse=public`, { token: bob.token });
    expect(res.status).toBe(200);
    const ids = res.body.items.map((c: { id: string }) => c.id);
    expect(ids).toContain(open);
    expect(ids).not.toContain(joined);
    expect(ids).not.toContain(archived);
    expect(res.body.items.every((c: { type: string }) => c.type === 'public')).toBe(true);
    expect((await request('GET', `/api/v1/workspaces/${wid}/chats?browse=private`, { token: bob.token })).status).toBe(400);
    expect((await request('GET', `/api/v1/workspaces/${wid}/chats?browse=public`, { token: guest.token })).status).toBe(403);
  });
});

describe('changing chats', () => {
  it('creator or admin+ rename; others get 403; events follow', async () => {
    const chat = (await create(ann, { type: 'private', name: 'plans', member_ids: [bob.id, admin.id] })).body;
    const mark = await lastEventId();
    const renamed = await request('PATCH', `/api/v1/chats/${chat.id}`, { token: ann.token, body: { name: 'plans-2', topic: 'Q4' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'plans-2', topic: 'Q4' });
    expect((await request('PATCH', `/api/v1/chats/${chat.id}`, { token: bob.token, body: { topic: 'mine now' } })).status).toBe(403);
    expect((await request('PATCH', `/api/v1/chats/${chat.id}`, { token: admin.token, body: { topic: null } })).body.topic).toBeNull();
    expect((await request('PATCH', `/api/v1/chats/${chat.id}`, { token: ann.token, body: { name: null } })).status).toBe(400);
    expect((await request('PATCH', `/api/v1/chats/${chat.id}`, { token: ann.token, body: { name: 'x', pinned: true } })).status).toBe(400);
    const events = await eventsAfter(mark);
    expect(events.map((e) => [e.type, e.data.name, e.data.topic])).toEqual([
      ['chat.updated', 'plans-2', 'Q4'],
      ['chat.updated', 'plans-2', null],
    ]);
  });

  it('archiving keeps history readable and stops joining and adding', async () => {
    const chat = (await create(ann, { type: 'public', name: 'old' })).body;
    expect((await request('DELETE', `/api/v1/chats/${chat.id}`, { token: bob.token })).status).toBe(403);
    const mark = await lastEventId();
    expect((await request('DELETE', `/api/v1/chats/${chat.id}`, { token: ann.token })).status).toBe(204);
    expect((await request('DELETE', `/api/v1/chats/${chat.id}`, { token: ann.token })).status).toBe(204);
    const events = await eventsAfter(mark);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'chat.updated', chat_id: chat.id, data: { archived_at: expect.any(String) } });
    const got = await request('GET', `/api/v1/chats/${chat.id}`, { token: ann.token });
    expect(got.body.archived_at).toEqual(expect.any(String));
    expect((await request('POST', `/api/v1/chats/${chat.id}/join`, { token: bob.token })).status).toBe(403);
    expect((await request('POST', `/api/v1/chats/${chat.id}/members`, { token: ann.token, body: { user_ids: [bob.id] } })).status).toBe(403);
  });
});

describe('chat members', () => {
  it('adds workspace members with events; refuses outsiders and guests adding', async () => {
    const chat = (await create(ann, { type: 'private', name: 'crew', member_ids: [guest.id] })).body;
    const mark = await lastEventId();
    const res = await request('POST', `/api/v1/chats/${chat.id}/members`, { token: ann.token, body: { user_ids: [bob.id, bob.id, ann.id] } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ chat: { id: chat.id, member_count: 3 }, added_user_ids: [bob.id] });
    expect((await eventsAfter(mark)).map((e) => [e.type, e.chat_id, e.data])).toEqual([
      [
        'chat.member_joined',
        chat.id,
        {
          user_id: bob.id,
          user: { id: bob.id, email: bob.email, display_name: 'Bob', username: bob.username, status: null, dnd_until: null, created_at: expect.any(String) },
        },
      ],
    ]);
    const outsiderAdd = await request('POST', `/api/v1/chats/${chat.id}/members`, { token: ann.token, body: { user_ids: [outsider.id] } });
    expect(outsiderAdd.status).toBe(400);
    expect(outsiderAdd.body.error.details[0].user_ids).toEqual([outsider.id]);
    expect((await request('POST', `/api/v1/chats/${chat.id}/members`, { token: guest.token, body: { user_ids: [admin.id] } })).status).toBe(403);
    expect((await request('POST', `/api/v1/chats/${chat.id}/members`, { token: ann.token, body: { user_ids: [] } })).status).toBe(400);

    const list = await request('GET', `/api/v1/chats/${chat.id}/members`, { token: guest.token });
    expect(list.status).toBe(200);
    expect(list.body.items.map((m: any) => m.user.id)).toEqual([ann.id, bob.id, guest.id].sort((a, b) => Number(a) - Number(b)));
    expect(list.body.items[0]).toEqual({
      user: { id: ann.id, email: ann.email, display_name: 'Ann', username: ann.username, status: null, dnd_until: null, created_at: expect.any(String) },
      joined_at: expect.any(String),
      last_read_seq: 0,
    });
  });

  it('direct chats cannot grow', async () => {
    const direct = (await create(bob, { type: 'direct', member_ids: [owner.id] })).body;
    expect((await request('POST', `/api/v1/chats/${direct.id}/members`, { token: bob.token, body: { user_ids: [ann.id] } })).status).toBe(400);
  });

  it('a removed member loses access at once, and the chat hears of it', async () => {
    const chat = (await create(ann, { type: 'private', name: 'secret', member_ids: [bob.id] })).body;
    expect((await request('GET', `/api/v1/chats/${chat.id}`, { token: bob.token })).status).toBe(200); // warm the cache
    expect((await request('DELETE', `/api/v1/chats/${chat.id}/members/${ann.id}`, { token: bob.token })).status).toBe(403);
    const mark = await lastEventId();
    expect((await request('DELETE', `/api/v1/chats/${chat.id}/members/${bob.id}`, { token: ann.token })).status).toBe(204);
    expect((await request('GET', `/api/v1/chats/${chat.id}`, { token: bob.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/chats/${chat.id}/members`, { token: bob.token })).status).toBe(404);
    expect((await eventsAfter(mark)).map((e) => [e.type, e.data.user_id])).toEqual([['chat.member_left', bob.id]]);
    expect((await request('DELETE', `/api/v1/chats/${chat.id}/members/${bob.id}`, { token: ann.token })).status).toBe(404);
  });

  it('joins public chats (idempotent); private chats stay hidden', async () => {
    const pub = (await create(owner, { type: 'public', name: 'town-square' })).body;
    const priv = (await create(owner, { type: 'private', name: 'board' })).body;
    // A probe before joining caches "not a member": joining must invalidate it.
    expect((await request('GET', `/api/v1/chats/${pub.id}`, { token: bob.token })).status).toBe(200);
    const mark = await lastEventId();
    const joined = await request('POST', `/api/v1/chats/${pub.id}/join`, { token: bob.token });
    expect(joined.status).toBe(200);
    expect(joined.body).toMatchObject({ id: pub.id, member_count: 2 });
    expect((await request('POST', `/api/v1/chats/${pub.id}/join`, { token: bob.token })).body.member_count).toBe(2);
    expect((await eventsAfter(mark)).map((e) => [e.type, e.data.user_id])).toEqual([['chat.member_joined', bob.id]]);
    const mine = await request('GET', `/api/v1/workspaces/${wid}/chats`, { token: bob.token });
    expect(mine.body.items.map((c: { id: string }) => c.id)).toContain(pub.id);
    expect((await request('POST', `/api/v1/chats/${priv.id}/join`, { token: bob.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/chats/${priv.id}`, { token: bob.token })).status).toBe(404);
    expect((await request('POST', `/api/v1/chats/${pub.id}/join`, { token: guest.token })).status).toBe(404);
    expect((await request('POST', `/api/v1/chats/${pub.id}/join`, { token: outsider.token })).status).toBe(404);
  });

  it('a chat created right after its id was probed is visible at once', async () => {
    const [{ max }] = await env.deps.db('chats').max({ max: 'id' });
    const next = String(Number(max) + 1);
    expect((await request('GET', `/api/v1/chats/${next}`, { token: ann.token })).status).toBe(404);
    const chat = (await create(ann, { type: 'group', member_ids: [bob.id] })).body;
    expect(chat.id).toBe(next);
    expect((await request('GET', `/api/v1/chats/${next}`, { token: ann.token })).status).toBe(200);
  });
});
