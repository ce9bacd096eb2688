// Presence: a user is online while at least one of their connections is open on any fanout
// process. State is shared in Redis with expiry, so a crashed process cannot leave its users
// online for ever:
//   <prefix>:presence:<user>   sorted set: fanout process id -> lease expiry (ms)
//   <prefix>:presence:users    sorted set: user -> latest lease expiry (ms), for the sweeper
// (`<prefix>:{presence}:…` on a Redis Cluster: the scripts and pipelines below use a user's set
// with the index, so they all share one hash slot.)
// Each process renews the leases of its connected users every heartbeat; the sweeper publishes
// `presence.updated` offline for users whose every lease has run out.
import type { Deps } from '../deps.js';
import { publishEvents, type ChatEvent } from '../infra/events.js';
import { runScript } from '../infra/scripts.js';

export type PresenceStatus = 'online' | 'offline';
type PresenceDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'stream' | 'config'>;

/** How long a process's lease on a user lasts without renewal (PRESENCE_LEASE_SECONDS). */
export const leaseMs = (deps: Pick<Deps, 'config'>) => deps.config.PRESENCE_LEASE_SECONDS * 1000;

// The lease scripts: src/infra/lua/presenceAcquire-2.lua and presenceRelease-2.lua.
const usersIndex = (deps: PresenceDeps) => deps.keys.presence('users');

async function announce(deps: PresenceDeps, userId: string, status: PresenceStatus): Promise<void> {
  const workspaces = await deps.db('workspace_members').where({ user_id: userId }).pluck('workspace_id');
  const events: ChatEvent[] = workspaces.map((wid: string) => ({
    type: 'presence.updated',
    workspace_id: String(wid),
    chat_id: null,
    data: { user_id: userId, status },
  }));
  await publishEvents(deps.redis, deps.stream, events);
}

/** The first connection of a user on this process: take a lease; announce if they came online. */
export async function userConnected(deps: PresenceDeps, processId: string, userId: string): Promise<void> {
  const now = Date.now();
  const cameOnline = await runScript(
    deps.redis,
    'presenceAcquire',
    [deps.keys.presence(userId), usersIndex(deps)],
    [processId, now, now + leaseMs(deps), userId, leaseMs(deps)],
  );
  if (cameOnline === 1) await announce(deps, userId, 'online');
}

/** The last connection of a user on this process closed: drop the lease; announce if offline. */
export async function userDisconnected(deps: PresenceDeps, processId: string, userId: string): Promise<void> {
  const wentOffline = await runScript(deps.redis, 'presenceRelease', [deps.keys.presence(userId), usersIndex(deps)], [processId, Date.now(), userId]);
  if (wentOffline === 1) await announce(deps, userId, 'offline');
}

/** Renews this process's leases on its connected users (call every few seconds). */
export async function renewLeases(deps: PresenceDeps, processId: string, userIds: Iterable<string>): Promise<void> {
  const expiry = Date.now() + leaseMs(deps);
  const pipeline = deps.redis.pipeline();
  for (const userId of userIds) {
    pipeline.zadd(deps.keys.presence(userId), expiry, processId);
    pipeline.pexpire(deps.keys.presence(userId), leaseMs(deps));
    pipeline.zadd(usersIndex(deps), 'GT', expiry, userId);
  }
  await pipeline.exec();
}

/**
 * Announces offline the users whose every lease expired (their process died). Any process may
 * run it; the Lua release makes sure only one of them announces a given user.
 */
export async function sweepExpired(deps: PresenceDeps): Promise<number> {
  const now = Date.now();
  const stale = await deps.redis.zrangebyscore(usersIndex(deps), '-inf', now, 'LIMIT', 0, 500);
  let offline = 0;
  for (const userId of stale) {
    const wentOffline = await runScript(deps.redis, 'presenceRelease', [deps.keys.presence(userId), usersIndex(deps)], ['', now, userId]);
    if (wentOffline === 1) {
      offline++;
      await announce(deps, userId, 'offline');
    }
  }
  return offline;
}

/** Current status of each user (one round trip). */
export async function presenceOf(deps: Pick<Deps, 'redis' | 'keys'>, userIds: string[]): Promise<Map<string, PresenceStatus>> {
  const now = Date.now();
  const pipeline = deps.redis.pipeline();
  for (const userId of userIds) pipeline.zcount(deps.keys.presence(userId), now, '+inf');
  const results = (await pipeline.exec()) ?? [];
  return new Map(userIds.map((id, i) => [id, Number(results[i]?.[1] ?? 0) > 0 ? 'online' : 'offline']));
}
