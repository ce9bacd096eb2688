// knex migrations from the static list in migrations/index.ts.
import type { Knex } from 'knex';
import { migrations } from '../../migrations/index.js';
import type { Db } from './db.js';

type Migration = Knex.Migration;

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => (migrations as Record<string, Migration>)[name],
};

/** Applies pending migrations; safe to run from many processes at once (knex takes a lock). */
export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

export async function migrateRollbackAll(db: Db): Promise<void> {
  await db.migrate.rollback({ migrationSource }, true);
}
