// Presence of this process's users (see src/domain/presence.ts for the shared state): a user's
// first connection here takes a lease, their last one releases it, leases are renewed every
// few seconds, and expired leases of crashed processes are swept and announced offline.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Deps } from '../deps.js';
import { leaseMs, renewLeases, sweepExpired, userConnected, userDisconnected } from '../domain/presence.js';

export interface PresenceTracker {
  /** Call after a connection was registered; `count` is the user's connections here now. */
  opened(userId: string, count: number): void;
  /** Call after a connection was removed; `count` is the user's connections here now. */
  closed(userId: string, count: number): void;
  /** Stops renewing and waits for announcements in flight. */
  stop(): Promise<void>;
}

/**
 * How long a user's lease outlives their last connection here. A reconnect (a reload, or a move
 * to another fanout process) within it neither flaps the user offline and online nor races the
 * other process's lease.
 */
export const RELEASE_GRACE_MS = 2000;

export function trackPresence(deps: Deps, connectedUsers: () => Iterable<string>): PresenceTracker {
  const processId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  // One chain per user, so a quick connect/disconnect reaches Redis in the order it happened.
  const chains = new Map<string, Promise<void>>();
  const enqueue = (userId: string, step: () => Promise<void>) => {
    const next = (chains.get(userId) ?? Promise.resolve())
      .then(step)
      .catch((err: unknown) => deps.log.warn({ err: (err as Error).message, user_id: userId }, 'presence update failed'))
      .finally(() => {
        if (chains.get(userId) === next) chains.delete(userId);
      });
    chains.set(userId, next);
  };

  const tick = async () => {
    await renewLeases(deps, processId, [...connectedUsers(), ...releasing.keys()]);
    await sweepExpired(deps);
  };
  const timer = setInterval(
    () => {
      tick().catch((err: unknown) => deps.log.warn({ err: (err as Error).message }, 'presence renewal failed'));
    },
    leaseMs(deps) / 3,
  );
  timer.unref();

  const releasing = new Map<string, NodeJS.Timeout>();
  const release = (userId: string) => {
    releasing.delete(userId);
    enqueue(userId, () => userDisconnected(deps, processId, userId));
  };

  return {
    opened(userId, count) {
      if (count !== 1) return;
      const pending = releasing.get(userId);
      if (pending) {
        // Back within the grace period: the lease was never released, nothing to announce.
        clearTimeout(pending);
        releasing.delete(userId);
        return;
      }
      enqueue(userId, () => userConnected(deps, processId, userId));
    },
    closed(userId, count) {
      if (count !== 0 || releasing.has(userId)) return;
      releasing.set(
        userId,
        setTimeout(() => release(userId), RELEASE_GRACE_MS),
      );
    },
    async stop() {
      clearInterval(timer);
      for (const [userId, pending] of releasing) {
        clearTimeout(pending);
        release(userId);
      }
      await Promise.all(chains.values());
    },
  };
}
