// Postgres read replicas (DATABASE_REPLICA_URLS) against a real primary and streaming replica
// (test/helpers/replica.ts). Where a read was served is proven with replay paused on the
// replica: a row written on the primary after the pause is only visible there.
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseEnv } from '../../src/config.js';
import { createReadRouter, isReplicaFailure, parseLsn, type ReadRouter } from '../../src/infra/replicas.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, streamEventsAfter, streamMark, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { startReplicaPair, type ReplicaPair } from '../helpers/replica.js';

let pair: ReplicaPair;
let env: TestEnv;
let api: Running;
let worker: Running;
let request: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser;
let wid: string, chat: string;

const history = async (user: FixtureUser): Promise<string[]> => {
  const res = await request('GET', `/api/v1/chats/${chat}/messages?limit=200`, { token: user.token });
  expect(res.status).toBe(200);
  return res.body.items.map((m: { content: string }) => m.content);
};
const search = async (user: FixtureUser, q: string): Promise<string[]> => {
  const res = await request('GET', `/api/v1/workspaces/${wid}/search?q=${encodeURIComponent(q)}`, { token: user.token });
  expect(res.status).toBe(200);
  expect(res.body.engine).toBe('postgres');
  return res.body.hits.map((h: { message: { content: string } }) => h.message.content);
};
const onPrimary = async (reads: ReadRouter, user: FixtureUser) => (await reads.forUser(user.id)) === env.deps.db;

/** Pauses replay for the duration of `fn`, then resumes and waits for the replica to catch up. */
async function whilePaused(fn: () => Promise<void>): Promise<void> {
  await pair.onReplica('select pg_wal_replay_pause()');
  await eventually(async () => (await pair.onReplica(`select pg_get_wal_replay_pause_state() = 'paused' as p`))[0].p);
  try {
    await fn();
  } finally {
    await pair.onReplica('select pg_wal_replay_resume()');
    await pair.caughtUp();
  }
}

beforeAll(async () => {
  pair = await startReplicaPair();
  // A large lag guard: these tests pause replay for seconds and still expect the replica used.
  env = await createTestEnv({ DATABASE_URL: pair.primaryUrl, DATABASE_REPLICA_URLS: pair.replicaUrl, REPLICA_MAX_LAG_MS: '600000', WORKER_QUEUES: 'persist' });
  api = await startInProcess(env, 'api');
  worker = await startInProcess(env, 'worker');
  request = client(api.url);
  [ann, bob] = await Promise.all(['Ann', 'Bob'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [[bob, 'member']]);
  chat = await fixtureChat(env.deps, wid, ann, [bob]);
  await fixtureMessage(env.deps, chat, ann, 'baseline zebra');
  await pair.caughtUp();
}, 120_000);
afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await env?.close();
  await pair?.stop();
});

describe('configuration', () => {
  it('reads DATABASE_REPLICA_URLS as a list of postgres URLs, empty by default', () => {
    expect(parseEnv({}).DATABASE_REPLICA_URLS).toEqual([]);
    expect(parseEnv({ DATABASE_REPLICA_URLS: 'postgres://r1/db, postgresql://r2/db' }).DATABASE_REPLICA_URLS).toEqual([
      'postgres://r1/db',
      'postgresql://r2/db',
    ]);
    expect(() => parseEnv({ DATABASE_REPLICA_URLS: 'postgres://r1/db,http://r2' })).toThrow(ConfigError);
  });
});

describe('WAL positions', () => {
  it('compares X/Y positions as 64-bit numbers, not as text', () => {
    expect(parseLsn('0/FFFFFFFF') < parseLsn('1/0')).toBe(true);
    expect(parseLsn('A/0') > parseLsn('9/FFFFFFFF')).toBe(true);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(() => parseLsn('nope')).toThrow();
  });
});

describe('history and search on a replica', () => {
  it('are served by the replica when the reader has no write pending', async () => {
    await whilePaused(async () => {
      // Written straight to the primary (no noteWrite): the paused replica cannot have it.
      await fixtureMessage(env.deps, chat, ann, 'marker zebra');
      expect(await onPrimary(env.deps.reads, bob)).toBe(false);
      for (const user of [ann, bob]) {
        expect(await history(user)).toEqual(['baseline zebra']);
        expect(await search(user, 'zebra')).toEqual(['baseline zebra']);
      }
      // The primary does have it: the reads above did not come from there.
      expect((await env.deps.db('messages').where({ chat_id: chat }).pluck('content')).sort()).toEqual(['baseline zebra', 'marker zebra']);
    });
    await eventually(async () => (await history(bob)).includes('marker zebra'));
    expect((await search(bob, 'zebra')).sort()).toEqual(['baseline zebra', 'marker zebra']);
    const status = await env.deps.reads.check().run();
    expect(Object.values((status as { states: Record<string, { state: string }> }).states).map((s) => s.state)).toEqual(['ok']);
  });

  it('give a sender their own message at once, from the primary, while others still read the replica', async () => {
    await whilePaused(async () => {
      const mark = await streamMark(env);
      const sent = await request('POST', `/api/v1/chats/${chat}/messages`, { token: ann.token, body: { content: 'fresh giraffe', client_id: uuidv7() } });
      expect(sent.status).toBe(202);
      // Once the event is out (the earliest a client can know of the write), Ann reads it back.
      await eventually(async () => (await streamEventsAfter(env, mark)).some((e) => e.type === 'message.created' && e.data.id === sent.body.id));
      expect(await onPrimary(env.deps.reads, ann)).toBe(true);
      expect(await history(ann)).toContain('fresh giraffe');
      expect(await search(ann, 'giraffe')).toEqual(['fresh giraffe']);
      // Bob wrote nothing: the paused replica still serves him, without the message.
      expect(await onPrimary(env.deps.reads, bob)).toBe(false);
      expect(await history(bob)).not.toContain('fresh giraffe');
      expect(await search(bob, 'giraffe')).toEqual([]);

      // An edit is the actor's write too.
      const mark2 = await streamMark(env);
      expect((await request('PATCH', `/api/v1/messages/${sent.body.id}`, { token: ann.token, body: { content: 'fresh giraffe, edited' } })).status).toBe(202);
      await eventually(async () => (await streamEventsAfter(env, mark2)).some((e) => e.type === 'message.updated'));
      expect(await history(ann)).toContain('fresh giraffe, edited');
    });
    // Caught up past Ann's write: her reads go back to the replica.
    await eventually(async () => !(await onPrimary(env.deps.reads, ann)));
    expect(await history(ann)).toContain('fresh giraffe, edited');
    expect(await history(bob)).toContain('fresh giraffe, edited');
  });

  it('keep everyone off a replica that lags more than REPLICA_MAX_LAG_MS', async () => {
    const reads = createReadRouter({
      primary: env.deps.db,
      replicaUrls: [pair.replicaUrl],
      poolMax: 2,
      maxLagMs: 300,
      log: env.deps.log,
      redis: env.deps.redis,
      markKey: (id) => `${env.vars.REDIS_PREFIX}:lag-test:${id}`,
    });
    try {
      await eventually(async () => !(await onPrimary(reads, bob)));
      await whilePaused(async () => {
        await fixtureMessage(env.deps, chat, ann, 'lagging okapi');
        // Bob has no write pending, but the replica is now behind what the primary had 300 ms ago.
        await eventually(() => onPrimary(reads, bob), 5000);
      });
      await eventually(async () => !(await onPrimary(reads, bob)), 5000);
    } finally {
      await reads.close();
    }
  });

  it('skip a replica that is down, and use it again once it is back', async () => {
    // Trusting its last probe for an hour, this router only learns of the outage from the read itself.
    const trusting = createReadRouter({
      primary: env.deps.db,
      replicaUrls: [pair.replicaUrl],
      poolMax: 2,
      probeEveryMs: 3_600_000,
      log: env.deps.log,
      redis: env.deps.redis,
      markKey: (id) => `${env.vars.REDIS_PREFIX}:down-test:${id}`,
    });
    expect(await onPrimary(trusting, bob)).toBe(false);
    await pair.stopReplica();
    try {
      const contents = await trusting.read(bob.id, async (db) => db('messages').where({ chat_id: chat }).pluck('content'));
      expect(contents).toContain('lagging okapi');
      expect(await onPrimary(trusting, bob)).toBe(true);

      // The shared router over HTTP: its next probe finds the replica down, or its read fails over.
      expect(await history(bob)).toContain('lagging okapi');
      expect(await search(bob, 'okapi')).toEqual(['lagging okapi']);
      expect(await onPrimary(env.deps.reads, bob)).toBe(true);
      const status = (await env.deps.reads.check().run()) as { states: Record<string, { state: string }> };
      expect(Object.values(status.states)[0].state).toBe('skipped');
    } finally {
      await trusting.close();
      await pair.startReplica();
    }
    await eventually(async () => !(await onPrimary(env.deps.reads, bob)), 20_000, 200);
    expect(await history(bob)).toContain('lagging okapi');
  });

  it('tell a replica failure from a failed statement', async () => {
    const replica = createReadRouter({
      primary: env.deps.db,
      replicaUrls: [pair.replicaUrl],
      poolMax: 1,
      log: env.deps.log,
      redis: env.deps.redis,
      markKey: (id) => id,
    });
    try {
      const db = await eventually(async () => {
        const chosen = await replica.forUser('nobody');
        return chosen === env.deps.db ? undefined : chosen;
      });
      // A write on a standby is our bug, not an outage: not retried elsewhere.
      const err = await db.raw('create table nope (id int)').catch((e: unknown) => e);
      expect(isReplicaFailure(err)).toBe(false);
    } finally {
      await replica.close();
    }
  });
});
