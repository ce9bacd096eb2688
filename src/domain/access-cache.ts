// The access cache (access.ts): chat records, workspace roles and chat memberships, held in this
// process's memory so a send checks access without a round trip. It is kept exact by events, not
// by its TTL (CACHE_TTL_SECONDS, only a safety net):
//   - the process that makes a change drops its entries right after COMMIT (access.ts's
//     invalidate* functions), before it publishes the change's events;
//   - every other process learns of the change from the changes stream (every access change is
//     copied there before its event reaches its shard: src/infra/events.ts), which it tails
//     (startAccessInvalidation), and drops the same entries when the change arrives.
// A look-up that started before a drop must not store what it read after it (it may have read
// the old row): every drop bumps a generation, and a load stores its answer only if the
// generation is still the one it started with.
// The cache exists only while a tail runs for the process's database: a process without one
// (a worker) reads Postgres each time rather than risk a stale answer.
import { LRUCache } from 'lru-cache';
import type { Deps } from '../deps.js';
import type { Db } from '../infra/db.js';
import { membershipChanges, parseChange, type ChatEvent } from '../infra/events.js';
import { startStreamReader } from '../infra/stream-reader.js';

/** Entries kept at most (three kinds share them); each is a few hundred bytes. */
const MAX_ENTRIES = 100_000;

export const chatKey = (chatId: string) => `c:${chatId}`;
export const roleKey = (workspaceId: string, userId: string) => `r:${workspaceId}:${userId}`;
export const memberKey = (chatId: string, userId: string) => `m:${chatId}:${userId}`;

export class AccessCache {
  /** Boxed, so that "no such chat / not a member" (null, false) can be cached too. */
  private readonly entries: LRUCache<string, { value: unknown }>;
  /** Bumped by every drop (see the top of this file). */
  generation = 0;
  /** How many tails keep this cache exact; it is used only while there is one. */
  tails = 0;

  constructor(ttlSeconds: number) {
    this.entries = new LRUCache({ max: MAX_ENTRIES, ttl: ttlSeconds * 1000 });
  }

  get<T>(key: string): { value: T } | undefined {
    return this.entries.get(key) as { value: T } | undefined;
  }

  /** Stores answers loaded since `generation` was read, unless something was dropped meanwhile. */
  fill(generation: number, values: Array<[string, unknown]>): void {
    if (generation !== this.generation) return;
    for (const [key, value] of values) this.entries.set(key, { value });
  }

  drop(keys: string[]): void {
    if (keys.length === 0) return;
    this.generation++;
    for (const key of keys) this.entries.delete(key);
  }
}

/** Per database, so two apps in one process (tests) keep apart, as they would in two processes. */
const caches = new WeakMap<Db, AccessCache>();

/** The cache of `db`'s access look-ups, or undefined where no tail keeps one exact. */
export function accessCache(db: Db): AccessCache | undefined {
  const cache = caches.get(db);
  return cache && cache.tails > 0 ? cache : undefined;
}

/** The entries an event makes stale: the chat, or the role or chat membership of the users it names. */
export function staleKeys(event: ChatEvent): string[] {
  const keys = membershipChanges(event).map((c) => (c.chat_id === null ? roleKey(c.workspace_id, c.user_id) : memberKey(c.chat_id, c.user_id)));
  // chat.created: the id may have been probed (and cached as missing) before it existed.
  if ((event.type === 'chat.created' || event.type === 'chat.updated') && event.chat_id) keys.push(chatKey(event.chat_id));
  if (event.type === 'workspace.member_updated') keys.push(roleKey(event.workspace_id, String(event.data.user_id)));
  return keys;
}

export interface AccessInvalidation {
  stop(): Promise<void>;
}

/**
 * Starts this process's access cache and the tail that keeps it exact: call once per process
 * that serves the API (or WebSocket typing), before it serves. The cache is used only once the
 * tail's start position is fixed: every change whose event comes later reaches the tail, and
 * every earlier one was committed before the cache held anything.
 */
export async function startAccessInvalidation(deps: Pick<Deps, 'db' | 'config' | 'stream' | 'log'>): Promise<AccessInvalidation> {
  const ttl = deps.config.CACHE_TTL_SECONDS;
  if (ttl === 0 || !deps.config.REDIS_URL) return { stop: async () => {} };
  let cache = caches.get(deps.db);
  if (!cache) caches.set(deps.db, (cache = new AccessCache(ttl)));
  const reader = await startStreamReader({
    redisUrl: deps.config.REDIS_URL,
    streamKey: deps.stream.changes.key,
    name: `fechatter:access-changes:${process.pid}`,
    log: deps.log,
    parse: parseChange,
    onEntry: (change) => cache.drop(staleKeys(change.event)),
  });
  cache.tails++;
  return {
    async stop() {
      // From now on this process reads Postgres: nothing would drop what it cached.
      if (--cache.tails === 0) caches.delete(deps.db);
      await reader.stop();
    },
  };
}
