// Which dependency an error says is down: Postgres or Redis. Workers hold a batch while one is
// (queue-worker.ts), the API answers 503 (middleware.ts), breakers count only these failures.
import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js';
import knex from 'knex';
import pg from 'pg';
import { isConnectionLost } from './db.js';
import { ReplicaAckError } from './queues.js';

export type Dependency = 'postgres' | 'redis';

/** What the classifier needs of a Redis client: whether it is connected right now. */
export interface RedisState {
  readonly status: string;
}

/** SQLSTATEs that mean the server is going away, refusing us, or cancelled a statement (statement_timeout). */
const PG_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300', '57014']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * Which dependency an error says is unreachable, judged by the error's class and codes, never
 * its message. `redis` is the client the caller used: ioredis rejects commands with plain
 * Errors while disconnected ("Connection is closed.", offline queue disabled), so for those
 * the client's state decides.
 */
export function isDependencyDown(err: unknown, redis?: RedisState): Dependency | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err instanceof MaxRetriesPerRequestError || err instanceof ReplicaAckError) return 'redis';
  // A cluster stays `ready` while one of its masters fails over: ioredis retries that slot's
  // commands (CLUSTERDOWN, connection closed), then gives up with a plain Error of no class or code.
  if (Object.getPrototypeOf(err) === Error.prototype && err.message.startsWith('Too many Cluster redirections')) return 'redis';
  if (err instanceof knex.KnexTimeoutError || isConnectionLost(err)) return 'postgres';
  if (err instanceof pg.DatabaseError) return err.code?.startsWith('08') || PG_UNAVAILABLE.has(err.code ?? '') ? 'postgres' : undefined;
  const code = (err as NodeJS.ErrnoException).code;
  // opossum's read breaker is open (EOPENBREAKER) or gave up waiting (ETIMEDOUT, below).
  if (code === 'EOPENBREAKER') return 'postgres';
  // Socket errors reach callers from pg only: ioredis reports them as events and fails its
  // commands with the errors handled below.
  if (code && NETWORK_CODES.has(code)) return 'postgres';
  if (redis && redis.status !== 'ready' && Object.getPrototypeOf(err) === Error.prototype && code === undefined) return 'redis';
  return undefined;
}
