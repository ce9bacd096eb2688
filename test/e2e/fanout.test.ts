// Real fanout processes (spawned `fechatter fanout`), real clients: several processes deliver
// the same events, and clients of a SIGKILLed process resume on another with no gap and no
// repeat. The last test drives the whole write path: API -> persist workers -> stream -> fanouts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishEvents, type ChatEvent } from '../../src/infra/events.js';
import { client, createTestEnv, spawnRole, type RoleProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { messageEvent, openSse, openWs, type Frame } from '../helpers/realtime.js';

let env: TestEnv;
let fanoutA: RoleProcess;
let fanoutB: RoleProcess;
let api: RoleProcess | undefined;
let workers: RoleProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  const extra = {};
  [fanoutA, fanoutB, api, ...workers] = await Promise.all([
    spawnRole(env, 'fanout', extra),
    spawnRole(env, 'fanout', extra),
    spawnRole(env, 'api', extra),
    spawnRole(env, 'worker', { ...extra, WORKER_QUEUES: 'persist' }),
    spawnRole(env, 'worker', { ...extra, WORKER_QUEUES: 'persist' }),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all([fanoutA, fanoutB, api, ...workers].map((p) => p?.kill().catch(() => {})));
  await env?.close();
});

const publish = (...events: ChatEvent[]) => publishEvents(env.deps.redis, env.deps.stream, events);
const seqs = (frames: Frame[]) => frames.filter((f) => f.type === 'message.created').map((f) => f.data.seq as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function world() {
  const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((n) => fixtureUser(env.deps, n)));
  const ws = await fixtureWorkspace(env.deps, alice, [[bob, 'member']]);
  const chat = await fixtureChat(env.deps, ws, alice, [bob]);
  const msg = (seq: number, sender: FixtureUser = alice) => messageEvent(ws, chat, sender.id, seq);
  return { alice, bob, ws, chat, msg };
}

describe('several fanout processes', () => {
  it('each delivers the same events to its own clients, in order, exactly once', async () => {
    const { alice, bob, msg } = await world();
    const tabs = [await openWs(fanoutA.url, bob.token), await openWs(fanoutB.url, bob.token), await openSse(fanoutB.url, alice.token)];
    const ids = await publish(...range(1, 50).map((s) => msg(s)));
    for (const tab of tabs) {
      expect(seqs(await tab.inbox.until((fs) => seqs(fs).length >= 50))).toEqual(range(1, 50));
      expect(tab.inbox.ids()).toEqual(ids);
    }
    await tabs[0].close();
    await tabs[1].close();
    (tabs[2] as { close(): void }).close();
  });

  it('clients of a SIGKILLed fanout resume on another with no gap and no repeat', async () => {
    const { alice, bob, msg } = await world();
    const victim = await spawnRole(env, 'fanout');
    const wsTab = await openWs(victim.url, bob.token);
    const sseTab = await openSse(victim.url, alice.token);
    await publish(...range(1, 10).map((s) => msg(s)));
    await wsTab.inbox.until((fs) => seqs(fs).length === 10);
    await sseTab.inbox.until((fs) => seqs(fs).length === 10);

    // Messages keep flowing while the process dies and the clients come back elsewhere.
    let next = 11;
    let producing = true;
    const producer = (async () => {
      while (producing) {
        await publish(msg(next++));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await victim.kill('SIGKILL');
    const { code } = await wsTab.closed;
    expect(code).toBe(1006);
    sseTab.close();
    const wsResumed = await openWs(fanoutB.url, bob.token, { lastEventId: wsTab.inbox.lastEventId() });
    const sseResumed = await openSse(fanoutA.url, alice.token, { lastEventId: sseTab.inbox.lastEventId() });
    await new Promise((r) => setTimeout(r, 200));
    producing = false;
    await producer;
    const last = next - 1;

    for (const [before, after] of [
      [wsTab, wsResumed],
      [sseTab, sseResumed],
    ] as const) {
      await after.inbox.until((fs) => seqs(fs).at(-1) === last, 10_000);
      const all = [...before.inbox.frames, ...after.inbox.frames];
      expect(seqs(all)).toEqual(range(1, last));
      const ids = all.filter((f) => f.id).map((f) => f.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
    await wsResumed.close();
    sseResumed.close();
  });
});

describe('the whole write path', () => {
  it('messages posted to the API reach every member on every fanout once, in seq order, with their ids', async () => {
    const { alice, bob, chat } = await world();
    const request = client(api!.url);
    const bobA = await openWs(fanoutA.url, bob.token);
    const bobB = await openSse(fanoutB.url, bob.token);
    const aliceA = await openWs(fanoutA.url, alice.token);
    const replies = await Promise.all(
      range(1, 40).map((i) =>
        request('POST', `/api/v1/chats/${chat}/messages`, { token: alice.token, body: { content: `hello ${i}`, client_id: `e2e-${i}` } }),
      ),
    );
    for (const r of replies) expect(r.status).toBe(202);
    const accepted = new Set(replies.map((r) => r.body.id));
    for (const tab of [bobA, bobB, aliceA]) {
      const frames = (await tab.inbox.until((fs) => seqs(fs).length >= 40, 20_000)).filter((f) => f.type === 'message.created');
      expect(seqs(frames)).toEqual(range(1, 40));
      expect(new Set(frames.map((f) => f.data.id))).toEqual(accepted);
    }
    await bobA.close();
    bobB.close();
    await aliceA.close();
  });
});
