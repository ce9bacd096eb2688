// knex CLI configuration (`npx knex --knexfile knexfile.ts migrate:latest` under tsx).
// The supported way is `fechatter migrate`, which uses the same migration source.
import 'dotenv/config';
import type { Knex } from 'knex';
import { migrationSource } from './src/infra/migrate.js';

const config: Knex.Config = {
  client: 'pg',
  connection: process.env.DATABASE_URL,
  migrations: { migrationSource },
};

export default config;
