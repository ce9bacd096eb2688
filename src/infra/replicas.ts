// Read routing to Postgres streaming replicas (DATABASE_REPLICA_URLS), for the reads that can
// take a replica: history pages and search. Everything else uses the primary.
//
// Read-your-writes by LSN stickiness: after a worker commits a user's write it stores the
// primary's WAL insert position in Redis under the user (noteWrite); that user's reads go to a
// replica only once it has replayed past that position, else to the primary. A replica further
// behind than maxLagMs is skipped for everyone (the lag guard), and one that fails is skipped for
// a few seconds (a simple circuit). Replay positions are probed at most every PROBE_EVERY_MS per
// process, not per read. See ARCHITECTURE.md ("Read replicas").
import knex from 'knex';
import pg from 'pg';
import type { Check } from '../observability/health.js';
import { createDb, isConnectionLost, type Db, type DbLog } from './db.js';
import type { Redis } from './redis.js';
import { runScript } from './scripts.js';

/** How long a replica's replay position (and the primary's) is trusted before probing again. */
export const PROBE_EVERY_MS = 100;
/** A probe slower than this counts as a failure. */
const PROBE_TIMEOUT_MS = 1000;
/** How long a failing replica is left alone before it is probed again. */
export const REPLICA_RETRY_MS = 5000;
/** Lifetime of a user's "wrote at LSN" mark; longer than any lag a replica is used at. */
const MIN_MARK_TTL_SECONDS = 60;

export interface ReadRouterOptions {
  primary: Db;
  replicaUrls: string[];
  poolMax: number;
  statementTimeoutMs?: number;
  log: DbLog;
  /** One GET per routed read, one script per noted user; single-key, so fine on a cluster. */
  redis: Pick<Redis, 'get' | 'eval' | 'evalsha'>;
  /** Redis key of a user's last-write mark. */
  markKey: (userId: string) => string;
  /** A replica that has not replayed what the primary had this long ago is not used. Default 5000. */
  maxLagMs?: number;
  /** How long probed positions are trusted. Default PROBE_EVERY_MS. */
  probeEveryMs?: number;
}

export interface ReadRouter {
  /** Whether any replica is configured (without, every method is a no-op or the primary). */
  readonly enabled: boolean;
  /** The pool to read `userId`'s history and search from: a caught-up replica, or the primary. */
  forUser(userId: string): Promise<Db>;
  /**
   * Runs the read-only `fn` on forUser's pool; if a replica fails underneath it (connection lost,
   * refused, cancelled by recovery), the replica is skipped and `fn` runs again on the primary.
   */
  read<T>(userId: string, fn: (db: Db) => Promise<T>): Promise<T>;
  /**
   * Call after a commit by `userIds`, before its events go out: their reads stay on the primary
   * until a replica replays past `lsn` (default: the primary's WAL insert position now). Never
   * throws: a failure is logged (and only costs those users read-your-writes on replicas).
   */
  noteWrite(userIds: string | string[], lsn?: string): Promise<void>;
  /** Readiness: each replica's replay position and state. Not required (the primary covers). */
  check(): Check;
  close(): Promise<void>;
}

/** `X/Y` (two hex numbers of up to 32 bits) as one 64-bit number. */
export function parseLsn(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!match) throw new Error(`not a WAL position: ${lsn}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Fixed width, so that Redis can compare two positions as strings (see markWrite-1.lua). */
function formatLsn(lsn: bigint): string {
  const hex = (n: bigint) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(lsn >> 32n)}/${hex(lsn & 0xffffffffn)}`;
}

// Keeps the highest mark: two workers may note one user's writes out of order. KEYS[1] the
// user's mark; ARGV[1] the fixed-width LSN, ARGV[2] the TTL in seconds.
// The mark keeps the higher of two positions: src/infra/lua/markWrite-1.lua.

/** A replica failed (rather than the statement): connection trouble or a recovery conflict. */
export function isReplicaFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof knex.KnexTimeoutError || isConnectionLost(err)) return true;
  const code = (err as { code?: string }).code ?? '';
  // 08: connection exceptions; 57P0x: shutting down / cannot connect now; 40001: canceled by a
  // recovery conflict (a hot standby cancels queries that block replay); socket errors.
  if (err instanceof pg.DatabaseError) return code.startsWith('08') || code.startsWith('57P') || code === '40001';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE'].includes(code);
}

interface Replica {
  /** host:port/db, no credentials: for logs and the readiness check. */
  name: string;
  db: Db;
  /** Replayed WAL position at the last good probe; null before one, or when not a standby. */
  replayed: bigint | null;
  /** Skipped until then (ms epoch) after a failure. */
  downUntil: number;
  lastError?: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
}

export function createReadRouter(options: ReadRouterOptions): ReadRouter {
  const { primary, redis, log, markKey } = options;
  const maxLagMs = options.maxLagMs ?? 5000;
  const probeEveryMs = options.probeEveryMs ?? PROBE_EVERY_MS;
  const markTtl = Math.max(MIN_MARK_TTL_SECONDS, Math.ceil((maxLagMs * 2) / 1000));
  const replicas: Replica[] = options.replicaUrls.map((url) => ({
    name: describeUrl(url),
    db: createDb(url, options.poolMax, log, options.statementTimeoutMs ?? 0),
    replayed: null,
    downUntil: 0,
  }));
  // The primary's insert position over time, oldest first: the lag guard's yardstick.
  const samples: Array<{ at: number; lsn: bigint }> = [];
  let probedAt = 0;
  let probing: Promise<void> | undefined;
  let turn = 0;

  const markDown = (replica: Replica, err: unknown) => {
    if (replica.downUntil <= Date.now()) log.warn({ replica: replica.name, err: (err as Error).message }, `replica skipped for ${REPLICA_RETRY_MS} ms`);
    replica.downUntil = Date.now() + REPLICA_RETRY_MS;
    replica.lastError = (err as Error).message;
  };

  async function probeAll(): Promise<void> {
    const now = Date.now();
    const sample = withTimeout(primary.raw<{ rows: Array<{ lsn: string }> }>('select pg_current_wal_insert_lsn()::text as lsn'), PROBE_TIMEOUT_MS)
      .then(({ rows }) => {
        // One sample per 1% of maxLagMs is precise enough, and keeps the window ~100 samples.
        const last = samples.at(-1);
        if (!last || now - last.at >= maxLagMs / 100) samples.push({ at: now, lsn: parseLsn(rows[0].lsn) });
      })
      .catch((err) => log.debug({ err: (err as Error).message }, 'replicas: primary position unknown'));
    const probes = replicas.map(async (replica) => {
      if (replica.downUntil > now) return;
      try {
        const { rows } = await withTimeout(
          replica.db.raw<{ rows: Array<{ lsn: string | null }> }>('select pg_last_wal_replay_lsn()::text as lsn'),
          PROBE_TIMEOUT_MS,
        );
        // Null: not a standby (promoted, or misconfigured): its data is not the primary's.
        if (rows[0].lsn === null) throw new Error('not a standby (pg_last_wal_replay_lsn() is null)');
        replica.replayed = parseLsn(rows[0].lsn);
        replica.lastError = undefined;
      } catch (err) {
        markDown(replica, err);
      }
    });
    await Promise.all([sample, ...probes]);
    probedAt = Date.now();
  }

  /** Fresh positions (at most probeEveryMs old); concurrent readers share one probe. */
  function probe(): Promise<void> {
    if (Date.now() - probedAt < probeEveryMs) return Promise.resolve();
    probing ??= probeAll().finally(() => {
      probing = undefined;
    });
    return probing;
  }

  /** The newest primary position at least maxLagMs old: every usable replica has replayed it. */
  function lagFloor(now: number): bigint {
    let floor = 0n;
    let keepFrom = 0;
    samples.forEach((s, i) => {
      if (s.at <= now - maxLagMs) {
        floor = s.lsn;
        keepFrom = i;
      }
    });
    samples.splice(0, keepFrom); // older ones can never be the floor again
    return floor;
  }

  async function markOf(userId: string): Promise<bigint | 'unknown'> {
    try {
      const mark = await redis.get(markKey(userId));
      return mark === null ? 0n : parseLsn(mark);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'replicas: last-write mark unreadable; reading from the primary');
      return 'unknown';
    }
  }

  async function forUser(userId: string): Promise<Db> {
    if (replicas.length === 0) return primary;
    const [mark] = await Promise.all([markOf(userId), probe()]);
    if (mark === 'unknown') return primary;
    const now = Date.now();
    const floor = lagFloor(now);
    const need = mark > floor ? mark : floor;
    const usable = replicas.filter((r) => r.downUntil <= now && r.replayed !== null && r.replayed >= need);
    if (usable.length === 0) return primary;
    turn = (turn + 1) % usable.length;
    return usable[turn].db;
  }

  async function noteWrite(userIds: string | string[], lsn?: string): Promise<void> {
    if (replicas.length === 0) return;
    const users = [...new Set(Array.isArray(userIds) ? userIds : [userIds])];
    if (users.length === 0) return;
    try {
      const position = lsn ?? (await primary.raw<{ rows: Array<{ lsn: string }> }>('select pg_current_wal_insert_lsn()::text as lsn')).rows[0].lsn;
      const value = formatLsn(parseLsn(position));
      // One key per call: users hash to different cluster slots.
      await Promise.all(users.map((u) => runScript(redis, 'markWrite', [markKey(u)], [value, markTtl])));
    } catch (err) {
      log.warn({ err: (err as Error).message, users: users.length }, 'replicas: could not note a write; those users may read stale history briefly');
    }
  }

  return {
    enabled: replicas.length > 0,
    forUser,
    async read(userId, fn) {
      const db = await forUser(userId);
      if (db === primary) return fn(db);
      try {
        return await fn(db);
      } catch (err) {
        if (!isReplicaFailure(err)) throw err;
        const replica = replicas.find((r) => r.db === db);
        if (replica) markDown(replica, err);
        return fn(primary);
      }
    },
    noteWrite,
    check: () => ({
      name: 'replicas',
      required: false,
      run: async () => {
        if (replicas.length === 0) return { replicas: 0 };
        probedAt = 0; // a readiness probe asks now
        await probe();
        const now = Date.now();
        const floor = lagFloor(now);
        const states = Object.fromEntries(
          replicas.map((r) => [
            r.name,
            {
              state: r.downUntil > now ? 'skipped' : r.replayed === null ? 'unknown' : r.replayed >= floor ? 'ok' : 'lagging',
              replay_lsn: r.replayed === null ? null : formatLsn(r.replayed),
              ...(r.lastError ? { error: r.lastError } : {}),
            },
          ]),
        );
        return { replicas: replicas.length, states };
      },
    }),
    async close() {
      await probing?.catch(() => {});
      await Promise.all(replicas.map((r) => r.db.destroy()));
    },
  };
}
