// Postgres through knex. One pool per process, sized by DB_POOL_MAX.
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// bigint ids and counts arrive as strings (ids are opaque strings in the API anyway);
// COUNT(*) and seq are cast with ::int where a number is wanted.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => v);

export type Db = Knex;

/** knex reports pool errors through this instead of console.log (they are also thrown to callers). */
export interface DbLog {
  warn(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
}

// pg rejects a query whose connection broke with a plain Error ("Connection terminated
// unexpectedly") that it also emits as the connection's own 'error', synchronously, before
// the query's rejection is delivered (next tick). Remembering those errors lets
// isConnectionLost() tell a lost server from a failed statement without reading messages.
const lostConnectionErrors = new WeakSet<object>();

/** Whether `err` is the error a pooled connection raised when its server went away. */
export function isConnectionLost(err: unknown): boolean {
  return typeof err === 'object' && err !== null && lostConnectionErrors.has(err);
}

/**
 * `statementTimeoutMs`: Postgres cancels any statement running longer (SQLSTATE 57014), so no
 * query outlives its caller's patience. 0 (the default, for migrations and maintenance
 * commands, whose statements may rightly run long) means no limit.
 */
export function createDb(connectionString: string, poolMax = 10, log?: DbLog, statementTimeoutMs = 0): Db {
  const report = (level: keyof DbLog) => (message: unknown) => log?.[level]({ knex: String(message) });
  return knexFactory({
    log: { warn: report('warn'), error: report('warn'), debug: report('debug'), deprecate: report('debug') },
    client: 'pg',
    // statement_timeout goes in the startup packet: set on every pooled connection, no round trip.
    connection: { connectionString, application_name: 'fechatter', statement_timeout: statementTimeoutMs },
    pool: {
      min: 0,
      max: poolMax,
      acquireTimeoutMillis: 10_000,
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
        conn.on('error', (err) => lostConnectionErrors.add(err));
        done(null, conn);
      },
    },
    acquireConnectionTimeout: 10_000,
  });
}

export async function pingDb(db: Db): Promise<void> {
  await db.raw('select 1');
}
