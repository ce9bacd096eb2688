// The outbox with real processes: an API killed between COMMIT and the XADD of its event, and a
// member removed while connected to a fanout process. A worker process runs the outbox relay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRIPTS } from '../../src/infra/scripts.js';
import { client, createTestEnv, eventually, spawnRole, type RoleProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace } from '../helpers/fixtures.js';
import { openWs } from '../helpers/realtime.js';
import { stallProxy, type StallProxy } from '../helpers/stall-proxy.js';

let env: TestEnv;
let proxy: StallProxy;
let fanout: RoleProcess;
let worker: RoleProcess;
let api: RoleProcess;

beforeAll(async () => {
  env = await createTestEnv();
  proxy = await stallProxy(env.vars.REDIS_URL);
  [fanout, worker, api] = await Promise.all([spawnRole(env, 'fanout'), spawnRole(env, 'worker'), spawnRole(env, 'api', { REDIS_URL: proxy.url })]);
}, 90_000);
afterAll(async () => {
  await Promise.all([fanout, worker, api].map((p) => p?.kill().catch(() => {})));
  await proxy?.close();
  await env?.close();
});

describe('the outbox with real processes', () => {
  it('an event whose API process is killed between COMMIT and XADD still reaches clients, once', async () => {
    const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((n) => fixtureUser(env.deps, n)));
    const wid = await fixtureWorkspace(env.deps, alice, [[bob, 'member']]);
    const chatId = await fixtureChat(env.deps, wid, alice, [bob], 'private', 'before');
    const bobWs = await openWs(fanout.url, bob.token);

    // The publish script, run by its SHA (src/infra/scripts.ts), is the first thing the API sends after COMMIT that names it.
    const stalled = proxy.stallOn(SCRIPTS.publishEvents.sha);
    const rename = client(api.url)('PATCH', `/api/v1/chats/${chatId}`, { token: alice.token, body: { name: 'after' } }).catch((err: Error) => err);
    await stalled;
    // Committed, not on the stream: the change and its outbox row are in Postgres.
    expect((await env.deps.db('chats').where({ id: chatId }).first('name')).name).toBe('after');
    expect(await env.deps.db('event_outbox').count({ n: '*' }).first()).toEqual({ n: '1' });
    await api.kill('SIGKILL');
    expect(await rename).toBeInstanceOf(Error);

    const [event] = (await bobWs.inbox.until((fs) => fs.some((f) => f.type === 'chat.updated'), 15_000)).filter((f) => f.type === 'chat.updated');
    expect(event).toMatchObject({ type: 'chat.updated', workspace_id: wid, chat_id: chatId, data: { id: chatId, name: 'after', member_count: 2 } });
    await eventually(async () => Number((await env.deps.db('event_outbox').count({ n: '*' }).first())?.n) === 0);
    // Relay passes run every second: give a second one the chance to repeat it.
    await new Promise((r) => setTimeout(r, 2500));
    expect(bobWs.inbox.events('chat.updated')).toHaveLength(1);
    await bobWs.close();
  });

  it('a member removed from the workspace stops receiving its chats and presence on a live connection', async () => {
    api = await spawnRole(env, 'api');
    const request = client(api.url);
    const [owner, bob, carol] = await Promise.all(['Owner', 'Bob', 'Carol'].map((n) => fixtureUser(env.deps, n)));
    const wid = await fixtureWorkspace(env.deps, owner, [
      [bob, 'member'],
      [carol, 'member'],
    ]);
    const chatId = await fixtureChat(env.deps, wid, owner, [bob, carol]);
    const bobWs = await openWs(fanout.url, bob.token);
    const send = (content: string) => request('POST', `/api/v1/chats/${chatId}/messages`, { token: owner.token, body: { content, client_id: content } });

    expect((await send('before')).status).toBe(202);
    await bobWs.inbox.until((fs) => fs.some((f) => f.type === 'message.created'), 10_000);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${bob.id}`, { token: owner.token })).status).toBe(204);
    await bobWs.inbox.until((fs) => fs.some((f) => f.type === 'workspace.member_left'), 10_000);
    const left = bobWs.inbox.frames.length;

    // After the removal: a message in the chat, and Carol coming online in the workspace.
    const ownerWs = await openWs(fanout.url, owner.token);
    const carolWs = await openWs(fanout.url, carol.token);
    expect((await send('after')).status).toBe(202);
    await ownerWs.inbox.until((fs) => fs.some((f) => f.type === 'message.created' && f.data.content === 'after'), 10_000);
    await ownerWs.inbox.until((fs) => fs.some((f) => f.type === 'presence.updated' && f.data.user_id === carol.id), 10_000);
    expect(bobWs.inbox.frames.slice(left)).toEqual([]);
    expect(bobWs.inbox.frames.map((f) => f.type).filter((t) => t !== 'presence.updated')).toEqual([
      'message.created',
      'chat.member_left',
      'workspace.member_left',
    ]);
    await Promise.all([bobWs, ownerWs, carolWs].map((c) => c.close()));
  });
});
