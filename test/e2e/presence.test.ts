// Presence across real fanout processes: online with the first connection on any process,
// offline after the last one closes, and offline (after the lease) when a process is killed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, spawnRole, startInProcess, type RoleProcess, type TestEnv } from '../helpers/env.js';
import { fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { openWs, type Frame } from '../helpers/realtime.js';

let env: TestEnv;
let api: Running;
let fanoutA: RoleProcess;
let fanoutB: RoleProcess;
let request: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser, outsider: FixtureUser;
let wid: string;

const presenceOf = (frames: Frame[], userId: string) =>
  frames.filter((f) => f.type === 'presence.updated' && f.data.user_id === userId).map((f) => f.data.status);
async function memberPresence(userId: string) {
  const res = await request('GET', `/api/v1/workspaces/${wid}/members`, { token: ann.token });
  return res.body.items.find((m: { user: { id: string } }) => m.user.id === userId)?.presence;
}

beforeAll(async () => {
  // A short lease keeps the crash test quick; long enough that a busy machine renews in time.
  env = await createTestEnv({ PRESENCE_LEASE_SECONDS: '8' });
  [fanoutA, fanoutB] = await Promise.all([spawnRole(env, 'fanout'), spawnRole(env, 'fanout')]);
  api = await startInProcess(env, 'api');
  request = client(api.url);
  [ann, bob, outsider] = await Promise.all(['Ann', 'Bob', 'Outsider'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [[bob, 'member']]);
  await fixtureWorkspace(env.deps, outsider);
}, 90_000);
afterAll(async () => {
  await Promise.all([fanoutA, fanoutB].map((p) => p?.kill().catch(() => {})));
  await api?.stop();
  await env?.close();
});

describe('presence', () => {
  it('announces online on the first connection anywhere and offline after the last one closes', async () => {
    const watcher = await openWs(fanoutA.url, ann.token);
    const stranger = await openWs(fanoutA.url, outsider.token);
    const tab1 = await openWs(fanoutA.url, bob.token);
    await watcher.inbox.until((fs) => presenceOf(fs, bob.id).length === 1, 5000, 'online');
    expect(await memberPresence(bob.id)).toBe('online');

    // More tabs, on another process too: still one "online", no flapping.
    const tab2 = await openWs(fanoutB.url, bob.token);
    await tab1.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(presenceOf(watcher.inbox.frames, bob.id)).toEqual(['online']);
    expect(await memberPresence(bob.id)).toBe('online');

    await tab2.close();
    await watcher.inbox.until((fs) => presenceOf(fs, bob.id).length === 2, 5000, 'offline');
    expect(presenceOf(watcher.inbox.frames, bob.id)).toEqual(['online', 'offline']);
    expect(await memberPresence(bob.id)).toBe('offline');
    // Presence goes to members of the user's workspaces only.
    expect(presenceOf(stranger.inbox.frames, bob.id)).toEqual([]);
    await watcher.close();
    await stranger.close();
  });

  it('does not leave users online for ever when their fanout process dies', async () => {
    const watcher = await openWs(fanoutA.url, ann.token);
    await openWs(fanoutB.url, bob.token);
    await watcher.inbox.until((fs) => presenceOf(fs, bob.id).includes('online'), 5000, 'online');
    await fanoutB.kill('SIGKILL');
    // No process closes Bob's socket cleanly: his lease runs out and a surviving process sweeps it.
    await watcher.inbox.until((fs) => presenceOf(fs, bob.id).at(-1) === 'offline', 25_000, 'offline after the lease');
    await eventually(async () => (await memberPresence(bob.id)) === 'offline');
    await watcher.close();
  }, 40_000);
});
