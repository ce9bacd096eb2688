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

export function createDb(connectionString: string, poolMax = 10, log?: DbLog): Db {
  const report = (level: keyof DbLog) => (message: unknown) => log?.[level]({ knex: String(message) });
  return knexFactory({
    log: { warn: report('warn'), error: report('warn'), debug: report('debug'), deprecate: report('debug') },
    client: 'pg',
    connection: { connectionString, application_name: 'fechatter' },
    pool: { min: 0, max: poolMax, acquireTimeoutMillis: 10_000 },
    acquireConnectionTimeout: 10_000,
  });
}

export async function pingDb(db: Db): Promise<void> {
  await db.raw('select 1');
}
