// Redis Cluster refuses a script, MULTI or pipeline whose keys hash to different slots (CROSSSLOT).
// For every call site that uses several keys at once, this computes the slot of each key it
// uses, with cluster key names and realistic ids, and requires one slot. Where the code builds
// its keys itself (publishing, presence), a recording client captures exactly what it sends.
import { createRequire } from 'node:module';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { announcedKey, eventStreams, joinsLogKey, membershipLogKey, publishedKey, publishEvents, shardOf, type ChatEvent } from '../../src/infra/events.js';
import { QUEUE_NAMES } from '../../src/infra/queues.js';
import { redisKeys, redisTarget, type Redis } from '../../src/infra/redis.js';
import { presenceOf, renewLeases, userConnected, userDisconnected } from '../../src/domain/presence.js';
import { parseEnv } from '../../src/config.js';

// ioredis's own slot function (its dependency cluster-key-slot, which ships no types).
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

const prefix = 'fechatter';
const keys = redisKeys(prefix, { cluster: true });
const streams = eventStreams(keys, { shards: 4, maxLen: 1000, maxAgeSeconds: 60 });
const users = Array.from({ length: 20 }, () => uuidv7());
const chats = Array.from({ length: 5 }, () => uuidv7());

function expectOneSlot(used: string[]) {
  expect(used.length).toBeGreaterThan(1);
  const slots = new Set(used.map(calculateSlot));
  expect(slots, `keys in different slots: ${used.join(', ')}`).toHaveProperty('size', 1);
}

interface Call {
  command: string;
  keys: string[];
}

/** An ioredis stand-in that records the keys of eval and pipelined calls and answers `reply`. */
function recordingRedis(reply: (command: string) => unknown): { redis: Redis; calls: Call[]; pipelines: Call[][] } {
  const calls: Call[] = [];
  const pipelines: Call[][] = [];
  const client = {
    isCluster: true,
    async evalsha(_sha: string, numKeys: number, ...rest: unknown[]) {
      calls.push({ command: 'evalsha', keys: rest.slice(0, numKeys).map(String) });
      return reply('eval');
    },
    async xrevrange() {
      return [];
    },
    async eval(_script: string, numKeys: number, ...rest: unknown[]) {
      calls.push({ command: 'eval', keys: rest.slice(0, numKeys).map(String) });
      return reply('eval');
    },
    pipeline() {
      const batch: Call[] = [];
      pipelines.push(batch);
      const pipe: Record<string, unknown> = {
        exec: async () => batch.map(() => [null, 0]),
      };
      // Every command these call sites pipeline takes its one key first.
      for (const command of ['zadd', 'pexpire', 'zcount']) {
        pipe[command] = (key: string) => {
          batch.push({ command, keys: [key] });
          return pipe;
        };
      }
      return pipe;
    },
  };
  return { redis: client as unknown as Redis, calls, pipelines };
}

const event = (type: ChatEvent['type'], data: Record<string, unknown>, chat: string | null = chats[0]): ChatEvent => ({
  type,
  workspace_id: uuidv7(),
  chat_id: chat,
  data,
});

describe('Redis Cluster: every multi-key call stays in one slot', () => {
  it('publishing events: per shard, the stream, the published ids and every membership log it appends to; access changes with the joins logs', async () => {
    const { redis, calls } = recordingRedis(() => []);
    const workspace = uuidv7();
    const shard = shardOf(streams, workspace);
    await publishEvents(
      redis,
      streams,
      [
        event('chat.created', { member_ids: users.slice(0, 10) }),
        event('workspace.member_joined', { user_id: users[11] }, null),
        event('chat.member_left', { user_id: users[12] }),
        event('message.created', { seq: 1 }),
      ].map((e) => ({ ...e, workspace_id: workspace })),
    );
    // The access changes (to the changes stream), then the shard's events.
    expect(calls).toHaveLength(2);
    expect(calls[0].keys).toEqual([streams.changes.key, joinsLogKey(streams, users[11])]);
    expect(calls[1].keys).toHaveLength(2 + 12);
    for (const call of calls) expectOneSlot(call.keys);
    expect(calls[1].keys).toContain(membershipLogKey(shard, users[3]));
    expect(calls[1].keys[0]).toBe(shard.key);
  });

  it('events of several workspaces: one call per shard, each in its own slot', async () => {
    const { redis, calls } = recordingRedis(() => []);
    const events = Array.from({ length: 40 }, () => ({ ...event('message.created', { seq: 1 }), workspace_id: uuidv7() }));
    await publishEvents(redis, streams, events);
    expect(new Set(calls.map((c) => c.keys[0]))).toEqual(new Set(events.map((e) => shardOf(streams, e.workspace_id).key)));
    for (const call of calls) expectOneSlot(call.keys);
    // Shards spread over the cluster: different tags, (here) different slots.
    expect(new Set(streams.shards.map((s) => calculateSlot(s.key))).size).toBe(streams.shards.length);
  });

  it('announcing messages (announceCreated-2.lua): each shard and its announced marks', () => {
    for (const shard of streams.shards) expectOneSlot([shard.key, announcedKey(shard)]);
  });

  it("the published ids and every user's membership log live in their shard's slot; joins logs in the changes stream's", () => {
    // The replay's MULTIs (XRANGE + XINFO) use one key each, so they are single-slot anyway; the
    // publish scripts above are what need every log in their stream's slot, for any user id.
    for (const shard of streams.shards) expectOneSlot([shard.key, publishedKey(shard), ...users.map((u) => membershipLogKey(shard, u))]);
    expectOneSlot([streams.changes.key, ...users.map((u) => joinsLogKey(streams, u))]);
  });

  it('presence: lease scripts and renewal/lookup pipelines use the user sets and the index together', async () => {
    const { redis, calls, pipelines } = recordingRedis(() => 0);
    const deps = { redis, keys, stream: streams, config: { PRESENCE_LEASE_SECONDS: 30 }, db: undefined } as unknown as Parameters<typeof userConnected>[0];
    for (const user of users.slice(0, 5)) {
      await userConnected(deps, 'fanout-1', user);
      await userDisconnected(deps, 'fanout-1', user);
    }
    await renewLeases(deps, 'fanout-1', users);
    await presenceOf(deps, users);
    expect(calls).toHaveLength(10);
    for (const call of calls) expectOneSlot(call.keys);
    expect(pipelines).toHaveLength(2);
    expectOneSlot([...calls.flatMap((c) => c.keys), ...pipelines.flat().flatMap((c) => c.keys)]);
  });

  it("BullMQ: each queue's keys (and its jobs') share a slot under the tagged prefix", () => {
    for (const queue of QUEUE_NAMES) {
      const base = `${keys.bull}:${queue}`;
      expectOneSlot(
        [
          'wait',
          'active',
          'paused',
          'meta',
          'id',
          'delayed',
          'prioritized',
          'completed',
          'failed',
          'stalled',
          'events',
          'marker',
          'pc',
          'limiter',
          `n:${uuidv7()}:${uuidv7()}`,
          `${uuidv7()}:lock`,
        ].map((s) => `${base}:${s}`),
      );
    }
  });

  it('single-server names are those of before cluster support (an upgrade keeps its stream and queues)', () => {
    const single = redisKeys(prefix);
    expect(single.events).toBe('fechatter:events');
    expect(single.bull).toBe('fechatter:bull');
    expect(single.presence('u1')).toBe('fechatter:presence:u1');
    expect(single.wrote('u1')).toBe('fechatter:wrote:u1');
    expect(single.digestFlag('u1')).toBe('fechatter:notify:digest:u1');
    // On a cluster every key still starts with `<prefix>:`, so per-prefix SCANs find them all.
    for (const key of [keys.events, keys.bull, keys.presence('u1'), keys.cache('x')]) expect(key.startsWith(`${prefix}:`)).toBe(true);
  });

  it('reads a cluster from REDIS_URL=redis+cluster://… or REDIS_CLUSTER_NODES', () => {
    expect(redisTarget('redis://127.0.0.1:6379').cluster).toBeUndefined();
    expect(redisTarget('redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001').cluster).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ]);
    expect(parseEnv({ REDIS_URL: 'redis+cluster://a:7000,b:7001' }).REDIS_URL).toBe('redis+cluster://a:7000,b:7001');
    expect(parseEnv({ REDIS_CLUSTER_NODES: 'a:7000, b:7001' }).REDIS_URL).toBe('redis+cluster://a:7000,b:7001');
    expect(() => parseEnv({ REDIS_CLUSTER_NODES: 'a' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => parseEnv({ REDIS_URL: 'redis+cluster://a' })).toThrow(/REDIS_URL/);
    expect(() => parseEnv({ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: 'a:7000' })).toThrow(/set one or the other/);
  });
});
