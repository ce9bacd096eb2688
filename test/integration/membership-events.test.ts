// Membership on live and resumed connections, through the real API, persist worker and fanout
// (in-process `all`): a connection receives a chat's or workspace's events exactly while its user
// belongs to it, live and on resume, and workspace membership changes arrive as events that
// carry what a client needs to render them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { openWs, type Frame, type WsClient } from '../helpers/realtime.js';

let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;

beforeAll(async () => {
  env = await createTestEnv();
  app = await startInProcess(env, 'all');
  request = client(app.url);
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

let n = 0;
/** Sends through the API and waits until the worker stored it; returns its content. */
async function say(as: FixtureUser, chatId: string, content = `m${++n}`): Promise<string> {
  const res = await request('POST', `/api/v1/chats/${chatId}/messages`, { token: as.token, body: { content, client_id: content } });
  expect(res.status).toBe(202);
  await eventually(async () => (await request('GET', `/api/v1/messages/${res.body.id}`, { token: as.token })).status === 200);
  return content;
}

const contents = (frames: Frame[]) => frames.filter((f) => f.type === 'message.created').map((f) => f.data.content as string);
const gotMessage = (c: WsClient, content: string) => c.inbox.until((fs) => contents(fs).includes(content), 10_000, `message ${content}`);

/** Connects, receives one message (so it has a resume point), disconnects; returns the point. */
async function resumePoint(user: FixtureUser, sender: FixtureUser, chatId: string): Promise<string> {
  const ws = await openWs(app.url, user.token);
  await gotMessage(ws, await say(sender, chatId));
  const id = ws.inbox.lastEventId()!;
  await ws.close();
  return id;
}

async function world() {
  const [owner, bob, carol] = await Promise.all(['Owner', 'Bob', 'Carol'].map((name) => fixtureUser(env.deps, name)));
  const wid = await fixtureWorkspace(env.deps, owner, [
    [bob, 'member'],
    [carol, 'member'],
  ]);
  const general = await fixtureChat(env.deps, wid, owner, [bob, carol], 'public', 'general');
  return { owner, bob, carol, wid, general };
}

describe('resume replays a chat only while the user belonged to it', () => {
  it('nothing from before the user joined', async () => {
    const { owner, bob, carol, wid, general } = await world();
    const secret = await fixtureChat(env.deps, wid, owner, [carol], 'private', 'secret');
    const point = await resumePoint(bob, owner, general);

    const early = await say(owner, secret, 'said before Bob joined');
    expect((await request('POST', `/api/v1/chats/${secret}/members`, { token: owner.token, body: { user_ids: [bob.id] } })).status).toBe(200);
    const late = await say(owner, secret, 'said after Bob joined');

    const ws = await openWs(app.url, bob.token, { lastEventId: point });
    await gotMessage(ws, late);
    const types = ws.inbox.events().map((f) => `${f.type}:${f.chat_id}`);
    expect(contents(ws.inbox.frames)).not.toContain(early);
    expect(types.indexOf(`chat.member_joined:${secret}`)).toBeLessThan(types.indexOf(`message.created:${secret}`));
    await ws.close();
  });

  it('everything until the user left, the leave itself, and nothing after', async () => {
    const { owner, bob, carol, wid, general } = await world();
    const other = await fixtureChat(env.deps, wid, owner, [bob], 'private', 'other');
    const point = await resumePoint(bob, owner, general);

    const before = await say(carol, general, 'before Bob left');
    expect((await request('DELETE', `/api/v1/chats/${general}/members/${bob.id}`, { token: owner.token })).status).toBe(204);
    const after = await say(carol, general, 'after Bob left');
    const sentinel = await say(owner, other, 'sentinel');

    const ws = await openWs(app.url, bob.token, { lastEventId: point });
    await gotMessage(ws, sentinel);
    expect(contents(ws.inbox.frames)).toEqual([before, sentinel]);
    expect(ws.inbox.events('chat.member_left')).toMatchObject([{ chat_id: general, data: { user_id: bob.id } }]);
    expect(contents(ws.inbox.frames)).not.toContain(after);
    await ws.close();
  });

  it('nothing of a workspace after the user was removed from it', async () => {
    const { owner, bob, carol, wid, general } = await world();
    const elsewhere = await fixtureWorkspace(env.deps, owner, [[bob, 'member']]);
    const lounge = await fixtureChat(env.deps, elsewhere, owner, [bob], 'private', 'lounge');
    const point = await resumePoint(bob, owner, general);

    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${bob.id}`, { token: owner.token })).status).toBe(204);
    const after = await say(carol, general, 'after Bob was removed');
    const carolWs = await openWs(app.url, carol.token); // presence.updated online in the workspace
    const sentinel = await say(owner, lounge, 'sentinel');

    const ws = await openWs(app.url, bob.token, { lastEventId: point });
    await gotMessage(ws, sentinel);
    // (Bob's own presence in the workspace may or may not fall after the resume point.)
    const fromWorkspace = ws.inbox.frames
      .filter((f) => f.workspace_id === wid && !(f.type === 'presence.updated' && f.data.user_id === bob.id))
      .map((f) => f.type);
    expect(fromWorkspace).toEqual(['chat.member_left', 'workspace.member_left']);
    expect(contents(ws.inbox.frames)).not.toContain(after);
    await Promise.all([ws.close(), carolWs.close()]);
  });
});

describe('workspace membership events', () => {
  it('joining through an invitation reaches the members and starts the joiner’s workspace events', async () => {
    const { owner, wid, general } = await world();
    const dave = await fixtureUser(env.deps, 'Dave');
    const [ownerWs, daveWs] = await Promise.all([openWs(app.url, owner.token), openWs(app.url, dave.token)]);
    const invitation = await request('POST', `/api/v1/workspaces/${wid}/invitations`, { token: owner.token, body: { role: 'member' } });
    expect((await request('POST', `/api/v1/invitations/${invitation.body.token}/accept`, { token: dave.token })).status).toBe(200);

    const joined = {
      type: 'workspace.member_joined',
      workspace_id: wid,
      chat_id: null,
      data: { user_id: dave.id, user: { id: dave.id, display_name: 'Dave' }, role: 'member', joined_at: expect.any(String) },
    };
    for (const ws of [ownerWs, daveWs]) {
      await ws.inbox.until((fs) => fs.some((f) => f.type === 'workspace.member_joined'), 10_000);
      expect(ws.inbox.events('workspace.member_joined')).toMatchObject([joined]);
    }
    // Now a member: the workspace's presence reaches Dave's open connection.
    const eve = await fixtureUser(env.deps, 'Eve');
    await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: eve.id, role: 'member' });
    const eveWs = await openWs(app.url, eve.token);
    await daveWs.inbox.until((fs) => fs.some((f) => f.type === 'presence.updated' && f.data.user_id === eve.id), 10_000);
    expect((await request('POST', `/api/v1/chats/${general}/join`, { token: dave.token })).status).toBe(200);
    await Promise.all([ownerWs, daveWs, eveWs].map((c) => c.close()));
  });

  it('role changes reach members with the member as the list shows it, but not guests', async () => {
    const { owner, bob, carol, wid } = await world();
    const gus = await fixtureUser(env.deps, 'Gus');
    await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: gus.id, role: 'guest' });
    const [bobWs, gusWs, carolWs] = await Promise.all([openWs(app.url, bob.token), openWs(app.url, gus.token), openWs(app.url, carol.token)]);
    expect((await request('PATCH', `/api/v1/workspaces/${wid}/members/${carol.id}`, { token: owner.token, body: { role: 'admin' } })).status).toBe(200);

    const updated = { type: 'workspace.member_updated', workspace_id: wid, data: { user_id: carol.id, user: { id: carol.id }, role: 'admin' } };
    for (const ws of [bobWs, carolWs]) await ws.inbox.until((fs) => fs.some((f) => f.type === 'workspace.member_updated'), 10_000);
    expect(bobWs.inbox.events('workspace.member_updated')).toMatchObject([updated]);
    expect(carolWs.inbox.events('workspace.member_updated')).toMatchObject([updated]);
    // Renaming: an event every member gets, guests included (they can read the workspace).
    expect((await request('PATCH', `/api/v1/workspaces/${wid}`, { token: owner.token, body: { name: 'Renamed' } })).status).toBe(200);
    await gusWs.inbox.until((fs) => fs.some((f) => f.type === 'workspace.updated'), 10_000);
    expect(gusWs.inbox.events('workspace.updated')).toMatchObject([{ workspace_id: wid, data: { id: wid, name: 'Renamed' } }]);
    expect(gusWs.inbox.events('workspace.member_updated')).toEqual([]);
    await Promise.all([bobWs, gusWs, carolWs].map((c) => c.close()));
  });
});
