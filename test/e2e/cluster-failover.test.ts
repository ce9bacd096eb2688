// Kill a Redis master during sends. Its own Redis Cluster (3 masters with 1 replica each, AOF
// fsynced on every write, 2 s node timeout), a real `fechatter worker` and two real `fechatter
// api` processes, one plain and one with REDIS_WAIT_REPLICAS=1. The master holding the {bull}
// slot (the persist queue) is SIGKILLed while clients send, its replica takes over, and every
// send answered 202 must be in the history exactly once. Then the replication window itself: a
// replica cut off from its master, writes acknowledged by the master alone, the master killed.
// Runs with TEST_REDIS_CLUSTER=1 (`npm run test:cluster`); REDIS_WAIT_REPLICAS on one Redis
// server with a replica (the last suite) runs always.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestEnv, eventually, spawnRole, startInProcess, type RoleProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { startEmbeddedRedis, type EmbeddedService } from '../../src/infra/embedded.js';
import type { Running } from '../../src/roles.js';
import { startRedisCluster, type ClusterNode, type LocalCluster } from '../helpers/redis-cluster.js';

const CLUSTER = process.env.TEST_REDIS_CLUSTER === '1';
// ioredis's own slot function (its dependency cluster-key-slot, which ships no types).
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;
const NODE_TIMEOUT_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stored {
  id: string;
  client_id: string;
  seq: number;
}

describe.skipIf(!CLUSTER)('Redis Cluster failover (own cluster of 3 masters and 3 replicas; runs with TEST_REDIS_CLUSTER=1)', () => {
  let dir: string;
  let cluster: LocalCluster;
  let env: TestEnv;
  let worker: RoleProcess;
  /** The API as deployed by default, and with REDIS_WAIT_REPLICAS=1. */
  let plain: RoleProcess, waiting: RoleProcess;
  let users: FixtureUser[];
  let wid: string;
  let bullSlot: number;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-failover-'));
    cluster = await startRedisCluster(dir, { masters: 3, replicas: 1, durable: true, nodeTimeoutMs: NODE_TIMEOUT_MS });
    env = await createTestEnv({ REDIS_URL: cluster.url, WORKER_QUEUES: 'persist' });
    // One at a time: three cold starts at once can take longer than spawnRole waits on a busy machine.
    worker = await spawnRole(env, 'worker');
    plain = await spawnRole(env, 'api');
    waiting = await spawnRole(env, 'api', { REDIS_WAIT_REPLICAS: '1' });
    users = await Promise.all(['Ann', 'Bob'].map((n) => fixtureUser(env.deps, n)));
    wid = await fixtureWorkspace(env.deps, users[0], [[users[1], 'member']]);
    bullSlot = calculateSlot(env.deps.keys.bull);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([plain?.stop(), waiting?.stop(), worker?.stop()]);
    await env?.close();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Whether `node` is a master now (its own word). */
  async function isMaster(node: ClusterNode): Promise<boolean> {
    const probe = new Redis(node.url, { maxRetriesPerRequest: 1, connectTimeout: 1000, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      return /role:master/.test(await probe.info('replication'));
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }

  /** Polls until `node` has taken over; returns when (ms epoch). */
  async function promoted(node: ClusterNode): Promise<number> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (await isMaster(node)) return Date.now();
      await sleep(50);
    }
    throw new Error(`${node.address} was not promoted within 30 s`);
  }

  /** Every message of the chat, oldest first, as the history API pages it. */
  async function history(chatId: string): Promise<Stored[]> {
    const request = client(plain.url);
    const all: Stored[] = [];
    for (let after = 0; ;) {
      const res = await request('GET', `/api/v1/chats/${chatId}/messages?after=${after}&limit=200`, { token: users[0].token });
      expect(res.status).toBe(200);
      all.push(...res.body.items);
      if (!res.body.has_more) return all;
      after = res.body.items.at(-1).seq;
    }
  }

  async function send(api: RoleProcess, user: FixtureUser, chatId: string, clientId: string): Promise<{ status: string; id?: string }> {
    const res = await client(api.url)('POST', `/api/v1/chats/${chatId}/messages`, {
      token: user.token,
      body: { content: `message ${clientId}`, client_id: clientId },
    }).catch((err: Error) => ({ status: `network: ${err.message}`, body: undefined }));
    return { status: String(res.status), id: res.body?.id };
  }

  it('SIGKILL of the {bull} master during sends: every 202 is stored exactly once', async () => {
    const chatId = await fixtureChat(env.deps, wid, users[0], [users[1]], 'private', 'failover');
    const { master, replicas } = await cluster.shardOf(bullSlot);
    expect(replicas).toHaveLength(1);
    const apis = { plain, waiting };
    type Api = keyof typeof apis;

    const acked = new Map<string, { id: string; api: Api; startedAfterKill: boolean }>(); // by client_id
    const refused = { plain: new Map<string, number>(), waiting: new Map<string, number>() }; // by status (or network error)
    let stopSending = false;
    let giveUpAt = Infinity;
    let killedAt = 0;
    let firstAckAfterKill = 0;
    let next = 0;
    // Clients as a user's app is one: each message retried with its client_id until a 202.
    // Returns the client_id it stopped retrying, if any.
    const sender = async (user: FixtureUser, api: Api): Promise<string | undefined> => {
      while (!stopSending) {
        const clientId = `${api}-${next++}`;
        for (;;) {
          const startedAfterKill = killedAt > 0;
          const res = await send(apis[api], user, chatId, clientId);
          if (res.status === '202') {
            acked.set(clientId, { id: res.id!, api, startedAfterKill });
            if (startedAfterKill && !firstAckAfterKill) firstAckAfterKill = Date.now();
            break;
          }
          refused[api].set(res.status, (refused[api].get(res.status) ?? 0) + 1);
          // A shard without a replica refuses waiting sends until it has one again (below).
          if (stopSending && (api === 'waiting' || Date.now() > giveUpAt)) return clientId;
          await sleep(100);
        }
      }
      return undefined;
    };
    const sending = Promise.all([sender(users[0], 'plain'), sender(users[1], 'plain'), sender(users[0], 'waiting'), sender(users[1], 'waiting')]);

    // Kill mid-stream: once sends flow through both APIs.
    await eventually(async () => acked.size >= 30 && [...acked.values()].some((a) => a.api === 'waiting'), 30_000);
    const ackedBeforeKill = acked.size;
    cluster.kill(master);
    killedAt = Date.now();
    const promotedAt = await promoted(replicas[0]);
    const deadline = Date.now() + 30_000;
    while (!firstAckAfterKill && Date.now() < deadline) await sleep(50);
    expect(firstAckAfterKill, `no 202 after the failover; refused: ${JSON.stringify(refused.plain)}`).toBeGreaterThan(0);
    await sleep(2000);
    stopSending = true;
    giveUpAt = Date.now() + 20_000;
    const unacked = (await sending).filter((c): c is string => c !== undefined);
    const waitingAckedAfterKill = [...acked.values()].filter((a) => a.api === 'waiting' && a.startedAfterKill).length;

    // The killed master comes back as its successor's replica: the shard is whole again, and the
    // sends refused meanwhile are accepted on retry.
    await cluster.restart(master);
    await cluster.healthy();
    for (const [i, clientId] of unacked.entries()) {
      const res = await send(waiting, users[i % 2], chatId, clientId);
      expect(res.status, clientId).toBe('202');
      acked.set(clientId, { id: res.id!, api: 'waiting', startedAfterKill: true });
    }

    // Jobs the worker held when the master died come back once their lock expires.
    const start = Date.now();
    let stored = await history(chatId);
    while ([...acked.keys()].some((c) => !stored.some((m) => m.client_id === c)) && Date.now() - start < 90_000) {
      await sleep(500);
      stored = await history(chatId);
    }
    const byClient = new Map<string, string[]>();
    for (const m of stored) byClient.set(m.client_id, [...(byClient.get(m.client_id) ?? []), m.id]);
    const missing = [...acked.keys()].filter((c) => !byClient.has(c));
    const doubled = [...byClient].filter(([, ids]) => ids.length > 1);
    const count = (api: Api) => [...acked.values()].filter((a) => a.api === api).length;
    console.info(
      `[cluster-failover] kill -9 of the {bull} master: ${acked.size} sends acked (${ackedBeforeKill} before the kill; ` +
        `${count('plain')} plain, ${count('waiting')} with REDIS_WAIT_REPLICAS=1 of which ${unacked.length} only once a replica was back), ` +
        `${stored.length} stored, ${missing.length} missing, ${doubled.length} doubled; refused: plain ${JSON.stringify(Object.fromEntries(refused.plain))}, ` +
        `waiting ${JSON.stringify(Object.fromEntries(refused.waiting))}; replica promoted ${promotedAt - killedAt} ms after the kill, ` +
        `first 202 of a send started after the kill at ${firstAckAfterKill - killedAt} ms`,
    );
    expect(missing).toEqual([]);
    expect(doubled).toEqual([]);
    for (const m of stored) if (acked.has(m.client_id)) expect(m.id).toBe(acked.get(m.client_id)!.id);
    expect(stored.map((m) => Number(m.seq))).toEqual(stored.map((_, i) => i + 1));
    // An outage is a 503 (retry), never a 500; a master without a replica takes no waiting send.
    expect([...refused.plain.keys(), ...refused.waiting.keys()].filter((s) => s !== '503')).toEqual([]);
    expect(waitingAckedAfterKill).toBe(0);
  }, 240_000);

  it('the replication window: a 202 its replica never got is lost with the master; REDIS_WAIT_REPLICAS=1 refuses it instead (503)', async () => {
    const chatId = await fixtureChat(env.deps, wid, users[0], [users[1]], 'private', 'window');
    const { master, replicas } = await cluster.shardOf(bullSlot);
    const [replica] = replicas;
    // The link from the master to its replica goes (the replica frozen, so it cannot reconnect):
    // from now on, what the master acknowledges exists on the master alone. The worker is frozen
    // too: a job it has stored in Postgres is safe whatever becomes of Redis.
    process.kill(worker.child.pid!, 'SIGSTOP');
    process.kill(replica.pid, 'SIGSTOP');
    let lost: Array<{ clientId: string; id?: string }>, refused: Array<{ clientId: string; status: string }>;
    try {
      const probe = new Redis(master.url, { maxRetriesPerRequest: 1 });
      await probe.client('KILL', 'TYPE', 'replica');
      probe.disconnect();
      const plainSends = await Promise.all(
        ['p-0', 'p-1', 'p-2', 'p-3', 'p-4'].map(async (c) => ({ clientId: c, ...(await send(plain, users[0], chatId, c)) })),
      );
      const waitingSends = await Promise.all(
        ['w-0', 'w-1', 'w-2', 'w-3', 'w-4'].map(async (c) => ({ clientId: c, ...(await send(waiting, users[0], chatId, c)) })),
      );
      expect(plainSends.map((s) => s.status)).toEqual(['202', '202', '202', '202', '202']);
      expect(waitingSends.map((s) => s.status)).toEqual(['503', '503', '503', '503', '503']);
      lost = plainSends;
      refused = waitingSends;
      cluster.kill(master);
    } finally {
      process.kill(replica.pid, 'SIGCONT');
      process.kill(worker.child.pid!, 'SIGCONT');
    }
    const killedAt = Date.now();
    const promotedAt = await promoted(replica);
    await cluster.restart(master);
    await cluster.healthy();

    // The refused sends are retried, as a client does after a 503: same client_id, accepted once
    // the old master is back as the new one's replica.
    for (const { clientId } of refused) {
      let status = '';
      for (let tries = 0; status !== '202' && tries < 100; tries++) {
        status = (await send(waiting, users[0], chatId, clientId)).status;
        if (status !== '202') await sleep(200);
      }
      expect(status, clientId).toBe('202');
    }
    const start = Date.now();
    let stored = await history(chatId);
    // The worker comes back from SIGSTOP onto a failed-over cluster: on a loaded machine its
    // reconnects and BullMQ's drain delay can take a while (seen over 30 s once in CI).
    while (stored.length < refused.length && Date.now() - start < 90_000) {
      await sleep(200);
      stored = await history(chatId);
    }
    // The master's 202s died with it: neither a job on the new master nor a row.
    const jobs = await Promise.all(lost.map((s) => env.deps.queues.persist.getJob(s.id!)));
    console.info(
      `[cluster-failover] replica cut off, master killed: ${lost.length} plain 202s lost, ${refused.length} sends with ` +
        `REDIS_WAIT_REPLICAS=1 refused (503) then stored on retry; replica promoted ${promotedAt - killedAt} ms after the kill`,
    );
    expect(stored.map((m) => m.client_id).sort()).toEqual(refused.map((r) => r.clientId).sort());
    expect(jobs).toEqual(lost.map(() => undefined));
  }, 180_000);
});

describe('REDIS_WAIT_REPLICAS=1 on one Redis server: a 202 only once its replica holds the job', () => {
  let dir: string;
  let primary: EmbeddedService, replica: EmbeddedService | undefined;
  let env: TestEnv;
  let api: Running;
  let ann: FixtureUser;
  let chatId: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-wait-'));
    primary = await startEmbeddedRedis({ dataDir: path.join(dir, 'primary'), persistent: false });
    env = await createTestEnv({ REDIS_URL: primary.url, REDIS_WAIT_REPLICAS: '1' });
    api = await startInProcess(env, 'api');
    ann = await fixtureUser(env.deps, 'Ann');
    chatId = await fixtureChat(env.deps, await fixtureWorkspace(env.deps, ann), ann, []);
  }, 60_000);
  afterAll(async () => {
    await api?.stop();
    await env?.close();
    await replica?.stop();
    await primary?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const send = (clientId: string) =>
    client(api.url)('POST', `/api/v1/chats/${chatId}/messages`, { token: ann.token, body: { content: `message ${clientId}`, client_id: clientId } });

  it('refuses sends (503) while no replica confirms, accepts them once one does, and the replica then has the job', async () => {
    const started = Date.now();
    const refused = await send('c-1');
    expect(refused.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // it waited for a replica first

    replica = await startEmbeddedRedis({ dataDir: path.join(dir, 'replica'), persistent: false });
    const onReplica = new Redis(replica.url);
    try {
      await onReplica.replicaof('127.0.0.1', new URL(primary.url).port);
      await eventually(async () => /master_link_status:up/.test(await onReplica.info('replication')), 10_000);
      // The retry of the refused send, and a new one: both accepted, both on the replica at the 202.
      const [retried, fresh] = [await send('c-1'), await send('c-2')];
      expect([retried.status, fresh.status]).toEqual([202, 202]);
      for (const { body } of [retried, fresh]) expect(await onReplica.exists(`${env.deps.keys.bull}:persist:${body.id}`)).toBe(1);
    } finally {
      onReplica.disconnect();
    }
  });
});
