// The API's in-process access cache (src/domain/access-cache.ts) across two API processes that do
// not share it: changes made through one reach the other through the changes stream, never by
// the TTL (set to an hour here), and a load that raced a change is not cached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { createDeps, closeDeps, type Deps } from '../../src/deps.js';
import { accessChat, invalidateChatMembers } from '../../src/domain/access.js';
import { NotFoundError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { startRole, type Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let other: Deps;
let apiA: Running, apiB: Running;
let viaA: ReturnType<typeof client>, viaB: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser, carol: FixtureUser, dave: FixtureUser;
let wid: string;

const sendVia = (request: ReturnType<typeof client>, user: FixtureUser, chatId: string) =>
  request('POST', `/api/v1/chats/${chatId}/messages`, { token: user.token, body: { content: 'hi', client_id: uuidv7() } });
/** Waits until B answers `status`; returns how long that took after the change. */
async function untilB(status: number, probe: () => Promise<{ status: number }>, since: number): Promise<number> {
  await eventually(async () => (await probe()).status === status, 5000, 20);
  return Date.now() - since;
}

beforeAll(async () => {
  env = await createTestEnv({ CACHE_TTL_SECONDS: '3600' });
  apiA = await startInProcess(env, 'api');
  // A second API process as far as the cache goes: its own deps, so its own cache and tail.
  other = await createDeps(env.config, createLogger('silent'));
  apiB = await startRole('api', other);
  viaA = client(apiA.url);
  viaB = client(apiB.url);
  [ann, bob, carol, dave] = await Promise.all(['Ann', 'Bob', 'Carol', 'Dave'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [
    [bob, 'member'],
    [carol, 'member'],
    [dave, 'member'],
  ]);
});
afterAll(async () => {
  await apiB?.stop();
  if (other) await closeDeps(other);
  await apiA?.stop();
  await env?.close();
});

describe('another API process', () => {
  it('refuses a member removed through this one once the removal event arrives; the TTL plays no part', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'removal');
    expect((await sendVia(viaB, bob, chat)).status).toBe(202);
    // B answers from memory: a removal that publishes nothing (straight in the database) goes unnoticed for the TTL.
    await env.deps.db('chat_members').where({ chat_id: chat, user_id: bob.id }).del();
    expect((await sendVia(viaB, bob, chat)).status).toBe(202);
    await env.deps.db('chat_members').insert({ chat_id: chat, user_id: bob.id, workspace_id: wid });

    const before = Date.now();
    expect((await viaA('DELETE', `/api/v1/chats/${chat}/members/${bob.id}`, { token: ann.token })).status).toBe(204);
    // A's answer comes after the publish; B drops the entry when the change reaches its tail.
    const took = await untilB(404, () => viaB('GET', `/api/v1/chats/${chat}`, { token: bob.token }), before);
    expect((await sendVia(viaB, bob, chat)).status).toBe(404);
    expect(took).toBeLessThan(5000);
  });

  it('refuses sends to a chat archived through this one', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'archived');
    expect((await sendVia(viaB, bob, chat)).status).toBe(202);
    const before = Date.now();
    expect((await viaA('DELETE', `/api/v1/chats/${chat}`, { token: ann.token })).status).toBe(204);
    await untilB(403, () => sendVia(viaB, bob, chat), before);
  });

  it('accepts a member added through this one (a cached "not a member" is dropped too)', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'added');
    expect((await sendVia(viaB, carol, chat)).status).toBe(404);
    const before = Date.now();
    expect((await viaA('POST', `/api/v1/chats/${chat}/members`, { token: ann.token, body: { user_ids: [carol.id] } })).status).toBe(200);
    await untilB(202, () => sendVia(viaB, carol, chat), before);
  });

  it('follows role changes made through this one', async () => {
    const demote = () => viaB('PATCH', `/api/v1/workspaces/${wid}/members/${dave.id}`, { token: carol.token, body: { role: 'guest' } });
    expect((await demote()).status).toBe(403);
    const before = Date.now();
    expect((await viaA('PATCH', `/api/v1/workspaces/${wid}/members/${carol.id}`, { token: ann.token, body: { role: 'admin' } })).status).toBe(200);
    await untilB(200, demote, before);
  });

  it('refuses a user removed from the workspace through this one', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [dave], 'private', 'left');
    expect((await sendVia(viaB, dave, chat)).status).toBe(202);
    const before = Date.now();
    expect((await viaA('DELETE', `/api/v1/workspaces/${wid}/members/${dave.id}`, { token: ann.token })).status).toBe(204);
    await untilB(404, () => sendVia(viaB, dave, chat), before);
    expect((await viaB('GET', `/api/v1/workspaces/${wid}/members`, { token: dave.token })).status).toBe(404);
  });
});

describe('in one process', () => {
  it('caches what a load read (control for the next test)', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'cached');
    await accessChat(env.deps, bob.id, chat, 'member');
    await env.deps.db('chat_members').where({ chat_id: chat, user_id: bob.id }).del();
    await expect(accessChat(env.deps, bob.id, chat, 'member')).resolves.toMatchObject({ is_member: true });
  });

  it('does not cache a load that was in flight when an invalidation came', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'raced');
    // The query is on its way when the change's invalidation runs (synchronously, after its COMMIT).
    const loading = accessChat(env.deps, bob.id, chat, 'member');
    invalidateChatMembers(env.deps, chat, [bob.id]);
    await expect(loading).resolves.toMatchObject({ is_member: true });
    await env.deps.db('chat_members').where({ chat_id: chat, user_id: bob.id }).del();
    await expect(accessChat(env.deps, bob.id, chat, 'member')).rejects.toBeInstanceOf(NotFoundError);
  });
});
