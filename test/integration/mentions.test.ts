// Handles, @mentions, mention counts and the mentions feed, per-chat notification settings,
// status and do-not-disturb: through the real API, persist and receipts workers, and fanout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, streamEventsAfter, streamMark, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { openWs } from '../helpers/realtime.js';

let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser, cat: FixtureUser, guest: FixtureUser, stranger: FixtureUser;
let wid: string, general: string, side: string;

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
  general = await fixtureChat(env.deps, wid, ann, [bob, cat], 'public', 'general');
  side = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'side');
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

let sent = 0;
/** Sends through the API and waits until the worker has stored it; returns the stored message. */
async function say(user: FixtureUser, chatId: string, content: string) {
  const res = await request('POST', `/api/v1/chats/${chatId}/messages`, { token: user.token, body: { content, client_id: `m-${++sent}` } });
  expect(res.status).toBe(202);
  return eventually(async () => {
    const got = await request('GET', `/api/v1/messages/${res.body.id}`, { token: user.token });
    return got.status === 200 ? got.body : null;
  });
}

async function myChat(user: FixtureUser, chatId: string) {
  const res = await request('GET', `/api/v1/workspaces/${wid}/chats`, { token: user.token });
  expect(res.status).toBe(200);
  return res.body.items.find((c: { id: string }) => c.id === chatId);
}

async function readAll(user: FixtureUser, chatId: string) {
  const { last_seq } = await myChat(user, chatId);
  expect((await request('POST', `/api/v1/chats/${chatId}/read`, { token: user.token, body: { seq: last_seq } })).status).toBe(202);
  await eventually(async () => (await myChat(user, chatId)).last_read_seq === last_seq);
}

describe('usernames', () => {
  const password = 'password123';
  it('are chosen at signup (lower-cased) or derived from the email, unique, validated', async () => {
    const chosen = await request('POST', '/api/v1/auth/signup', { body: { email: 'dora@example.com', password, display_name: 'Dora', username: ' Dora.Q ' } });
    expect(chosen.status).toBe(201);
    expect(chosen.body.user).toMatchObject({ username: 'dora.q', status: null, dnd_until: null });

    const taken = await request('POST', '/api/v1/auth/signup', { body: { email: 'other@example.com', password, display_name: 'X', username: 'dora.q' } });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toMatchObject({ code: 'conflict', message: 'This username is taken.' });
    // Nothing was half-written: the email is still free.
    expect((await request('POST', '/api/v1/auth/signup', { body: { email: 'other@example.com', password, display_name: 'X' } })).status).toBe(201);

    for (const username of ['channel', 'HERE', '-dash', 'a b', 'x'.repeat(33), 'ünï']) {
      const bad = await request('POST', '/api/v1/auth/signup', { body: { email: `bad${Math.random()}@example.com`, password, display_name: 'B', username } });
      expect(bad.status, username).toBe(400);
      expect(bad.body.error.details[0]).toMatchObject({ field: 'username' });
    }

    // Derived: the email's local part; taken, a number is added; a signup never fails for it.
    const first = await request('POST', '/api/v1/auth/signup', { body: { email: 'Eve.Smith+chat@example.com', password, display_name: 'Eve' } });
    expect(first.body.user.username).toBe('eve.smithchat');
    const second = await request('POST', '/api/v1/auth/signup', { body: { email: 'eve.smithchat@example.org', password, display_name: 'Eve 2' } });
    expect(second.status).toBe(201);
    expect(second.body.user.username).toMatch(/^eve\.smithchat\d{4}$/);
    const odd = await request('POST', '/api/v1/auth/signup', { body: { email: 'x@example.com', password, display_name: 'E' } });
    expect(odd.body.user.username).toBe(`user-${odd.body.user.id}`);
  });

  it('change through PATCH /me with a user.updated event in each workspace; a taken one is 409', async () => {
    const mark = await streamMark(env);
    const res = await request('PATCH', '/api/v1/me', { token: cat.token, body: { username: 'Catherine' } });
    expect(res.status).toBe(200);
    expect(res.body.user.username).toBe('catherine');
    cat.username = 'catherine';
    expect((await request('PATCH', '/api/v1/me', { token: bob.token, body: { username: 'catherine' } })).status).toBe(409);
    const events = await eventually(async () => (await streamEventsAfter(env, mark)).filter((e) => e.type === 'user.updated'));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ workspace_id: wid, chat_id: null, data: { user_id: cat.id, user: { id: cat.id, username: 'catherine' } } });
    // Member lists show it.
    const members = await request('GET', `/api/v1/workspaces/${wid}/members`, { token: ann.token });
    expect(members.body.items.find((m: any) => m.user.id === cat.id).user.username).toBe('catherine');
  });
});

describe('status and do-not-disturb', () => {
  it('set, read back, expire by themselves, and clear', async () => {
    const soon = new Date(Date.now() + 1500).toISOString();
    const later = new Date(Date.now() + 3600_000).toISOString();
    const set = await request('PATCH', '/api/v1/me', {
      token: bob.token,
      body: { status: { emoji: '🌴', text: 'On holiday', expires_at: soon }, dnd_until: later },
    });
    expect(set.status).toBe(200);
    expect(set.body.user).toMatchObject({ status: { emoji: '🌴', text: 'On holiday', expires_at: soon }, dnd_until: later });
    expect((await request('GET', '/api/v1/me', { token: bob.token })).body.user.status.text).toBe('On holiday');
    await eventually(async () => (await request('GET', '/api/v1/me', { token: bob.token })).body.user.status === null, 5000);

    const cleared = await request('PATCH', '/api/v1/me', { token: bob.token, body: { status: { text: 'Focus' }, dnd_until: null } });
    expect(cleared.body.user).toMatchObject({ status: { emoji: null, text: 'Focus', expires_at: null }, dnd_until: null });
    expect((await request('PATCH', '/api/v1/me', { token: bob.token, body: { status: null } })).body.user.status).toBeNull();
    for (const body of [{ dnd_until: 'tomorrow' }, { status: { emoji: 'x'.repeat(65) } }, { status: { text: '' } }, { status: { mood: 'x' } }]) {
      expect((await request('PATCH', '/api/v1/me', { token: bob.token, body })).status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('mentions', () => {
  it('are parsed into message.mentions: members by handle, not in code, not e-mail addresses, not strangers', async () => {
    const m = await say(
      ann,
      general,
      `Hi @${bob.username}, @${cat.username.toUpperCase()} and @${stranger.username}! mail bob@${bob.username}.com, \`@${cat.username}\`\n\`\`\`\n@${bob.username}\n\`\`\``,
    );
    expect(m.mentions).toEqual([
      { type: 'user', user_id: bob.id, username: bob.username },
      { type: 'user', user_id: cat.id, username: cat.username },
    ]);
    const plain = await say(ann, general, 'no mentions here, just an email a@b.co');
    expect(plain.mentions).toEqual([]);
  });

  it('are counted per chat above the read watermark (chat list and unread), and cleared by reading', async () => {
    await readAll(bob, general);
    await say(ann, general, `@${bob.username} one`);
    await say(ann, general, 'not for bob');
    await say(cat, general, `two for @${bob.username} and @${bob.username}`);
    await say(ann, side, `@${bob.username} on the side`);
    expect(await myChat(bob, general)).toMatchObject({ unread_count: 3, mention_count: 2 });
    const unread = await request('GET', `/api/v1/workspaces/${wid}/unread`, { token: bob.token });
    expect(unread.body.chats.find((c: any) => c.chat_id === general)).toMatchObject({ unread_count: 3, mention_count: 2 });
    expect(unread.body.mention_total).toBe(3);
    // The mentioner sees no count of their own.
    expect((await myChat(ann, general)).mention_count).toBe(0);
    await readAll(bob, general);
    expect(await myChat(bob, general)).toMatchObject({ unread_count: 0, mention_count: 0 });
    expect((await request('GET', `/api/v1/workspaces/${wid}/unread`, { token: bob.token })).body.mention_total).toBe(1);
  });

  it('@channel reaches every member; @here the online ones; a workspace can keep both to admins', async () => {
    await Promise.all([readAll(bob, general), readAll(cat, general)]);
    const m = await say(bob, general, 'hey @channel');
    expect(m.mentions).toEqual([{ type: 'channel' }]);
    expect((await myChat(cat, general)).mention_count).toBe(1);
    expect((await myChat(ann, general)).mention_count).toBeGreaterThanOrEqual(1);
    expect((await myChat(bob, general)).mention_count).toBe(0);
    await Promise.all([readAll(ann, general), readAll(cat, general)]);

    // cat is online (an open socket), ann is not.
    const ws = await openWs(app.url, cat.token);
    await eventually(
      async () =>
        (await request('GET', `/api/v1/workspaces/${wid}/members`, { token: ann.token })).body.items.find((x: any) => x.user.id === cat.id).presence ===
        'online',
    );
    const here = await say(bob, general, '@here standup?');
    expect(here.mentions).toEqual([{ type: 'here' }]);
    expect((await myChat(cat, general)).mention_count).toBe(1);
    expect((await myChat(ann, general)).mention_count).toBe(0);
    await ws.close();
    await readAll(cat, general);

    expect((await request('PATCH', `/api/v1/workspaces/${wid}`, { token: bob.token, body: { channel_mentions: 'admins' } })).status).toBe(403);
    const policy = await request('PATCH', `/api/v1/workspaces/${wid}`, { token: ann.token, body: { channel_mentions: 'admins' } });
    expect(policy.body).toMatchObject({ channel_mentions: 'admins', name: expect.any(String) });
    const refused = await say(bob, general, `@all lunch? @${cat.username}`);
    expect(refused.mentions).toEqual([{ type: 'user', user_id: cat.id, username: cat.username }]);
    const byAdmin = await say(ann, general, '@everyone lunch!');
    expect(byAdmin.mentions).toEqual([{ type: 'channel' }]);
    expect((await myChat(bob, general)).mention_count).toBe(1);
    await request('PATCH', `/api/v1/workspaces/${wid}`, { token: ann.token, body: { channel_mentions: 'everyone' } });
    await Promise.all([readAll(bob, general), readAll(cat, general)]);
  });

  it('never reach a guest outside the chat', async () => {
    const m = await say(ann, general, `@${guest.username} can you see this?`);
    expect(m.mentions).toEqual([]);
    const feed = await request('GET', '/api/v1/me/mentions', { token: guest.token });
    expect(feed.body.items).toEqual([]);
  });

  it('follow edits: a mention edited away stops counting, one edited in starts', async () => {
    await readAll(bob, general);
    const m = await say(ann, general, `@${bob.username} typo`);
    expect((await myChat(bob, general)).mention_count).toBe(1);
    expect((await request('PATCH', `/api/v1/messages/${m.id}`, { token: ann.token, body: { content: `@${cat.username} fixed` } })).status).toBe(202);
    const edited = await eventually(async () => {
      const got = await request('GET', `/api/v1/messages/${m.id}`, { token: ann.token });
      return got.body.edited_at ? got.body : null;
    });
    expect(edited.mentions).toEqual([{ type: 'user', user_id: cat.id, username: cat.username }]);
    expect((await myChat(bob, general)).mention_count).toBe(0);
    expect((await myChat(cat, general)).mention_count).toBe(1);
    // Deleting it takes it out of counts and the feed.
    expect((await request('DELETE', `/api/v1/messages/${m.id}`, { token: ann.token })).status).toBe(202);
    await eventually(async () => (await myChat(cat, general)).mention_count === 0);
    const feed = await request('GET', '/api/v1/me/mentions', { token: cat.token });
    expect(feed.body.items.map((i: any) => i.message.id)).not.toContain(m.id);
    await readAll(bob, general);
  });
});

describe('GET /me/mentions', () => {
  it('pages newest first with a cursor, marks what is read, filters by workspace', async () => {
    const fresh = await fixtureUser(env.deps, 'Fay');
    const other = await fixtureWorkspace(env.deps, fresh, [[ann, 'member']]);
    const otherChat = await fixtureChat(env.deps, other, fresh, [ann]);
    await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: fresh.id, role: 'member' });
    await env.deps.db('chat_members').insert({ chat_id: general, user_id: fresh.id, workspace_id: wid });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await say(ann, general, `@${fresh.username} ${i}`)).id);
    await readAll(fresh, general);
    ids.push((await say(bob, general, `@${fresh.username} unread`)).id);
    ids.push((await say(ann, otherChat, `@${fresh.username} elsewhere`)).id);

    const first = await request('GET', '/api/v1/me/mentions?limit=2', { token: fresh.token });
    expect(first.status).toBe(200);
    expect(first.body.items.map((i: any) => i.message.id)).toEqual([ids[4], ids[3]]);
    expect(first.body.items[0]).toMatchObject({
      chat_id: otherChat,
      workspace_id: other,
      kind: 'user',
      read: false,
      message: { content: `@${fresh.username} elsewhere` },
    });
    const rest = await request('GET', `/api/v1/me/mentions?limit=2&cursor=${first.body.next_cursor}`, { token: fresh.token });
    expect(rest.body.items.map((i: any) => [i.message.id, i.read])).toEqual([
      [ids[2], true],
      [ids[1], true],
    ]);
    const last = await request('GET', `/api/v1/me/mentions?limit=2&cursor=${rest.body.next_cursor}`, { token: fresh.token });
    expect(last.body).toEqual({ items: [expect.objectContaining({ message: expect.objectContaining({ id: ids[0] }) })], next_cursor: null });

    const scoped = await request('GET', `/api/v1/me/mentions?workspace_id=${wid}`, { token: fresh.token });
    expect(scoped.body.items.map((i: any) => i.message.id)).toEqual([ids[3], ids[2], ids[1], ids[0]]);
    expect((await request('GET', `/api/v1/me/mentions?workspace_id=${wid}`, { token: stranger.token })).status).toBe(404);
    expect((await request('GET', '/api/v1/me/mentions?cursor=nope', { token: fresh.token })).status).toBe(400);
    expect((await request('GET', '/api/v1/me/mentions?limit=0', { token: fresh.token })).status).toBe(400);
    expect((await request('GET', '/api/v1/me/mentions')).status).toBe(401);
  });
});

describe('notification settings', () => {
  it('default by chat type, change with an event to my own connections only, 404 for non-members', async () => {
    const dm =
      (await request('POST', `/api/v1/workspaces/${wid}/chats`, { token: ann.token, body: { type: 'direct', member_ids: [bob.id] } })).body.chat?.id ??
      (await request('POST', `/api/v1/workspaces/${wid}/chats`, { token: ann.token, body: { type: 'direct', member_ids: [bob.id] } })).body.id;
    expect((await request('GET', `/api/v1/chats/${dm}/notifications`, { token: ann.token })).body).toEqual({
      chat_id: dm,
      level: 'default',
      muted: false,
      effective_level: 'all',
    });
    expect((await request('GET', `/api/v1/chats/${general}/notifications`, { token: ann.token })).body).toEqual({
      chat_id: general,
      level: 'default',
      muted: false,
      effective_level: 'mentions',
    });

    const annWs = await openWs(app.url, ann.token);
    const bobWs = await openWs(app.url, bob.token);
    const muted = await request('PATCH', `/api/v1/chats/${general}/notifications`, { token: ann.token, body: { muted: true } });
    expect(muted.body).toEqual({ chat_id: general, level: 'default', muted: true, effective_level: 'none' });
    const all = await request('PATCH', `/api/v1/chats/${general}/notifications`, { token: ann.token, body: { level: 'all', muted: false } });
    expect(all.body).toEqual({ chat_id: general, level: 'all', muted: false, effective_level: 'all' });
    const events = await eventually(async () => {
      const got = annWs.inbox.events('notifications.updated');
      return got.length === 2 ? got : null;
    });
    expect(events.map((e) => e.data)).toEqual([muted.body, all.body]);
    expect(events[0]).toMatchObject({ chat_id: general, workspace_id: wid });
    const chat = await myChat(ann, general);
    expect(chat).toMatchObject({ notify_level: 'all', muted: false });
    // bob's connection saw none of it (a marker event proves it is caught up).
    const marker = await say(bob, general, 'marker');
    await eventually(async () => bobWs.inbox.events('message.created').some((f) => f.data.id === marker.id));
    expect(bobWs.inbox.events('notifications.updated')).toEqual([]);
    await annWs.close();
    await bobWs.close();

    expect((await request('GET', `/api/v1/chats/${general}/notifications`, { token: stranger.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/chats/${side}/notifications`, { token: cat.token })).status).toBe(404);
    expect((await request('PATCH', `/api/v1/chats/${general}/notifications`, { token: ann.token, body: { level: 'loud' } })).status).toBe(400);
    expect((await request('PATCH', `/api/v1/chats/${general}/notifications`, { token: ann.token, body: { muted: 'yes' } })).status).toBe(400);
  });
});
