// Starts one private PostgreSQL and one redis-server for the whole run (unless TEST_DATABASE_URL /
// TEST_REDIS_URL point at servers), and migrates a template database that each test file clones.
// TEST_REDIS_CLUSTER=1 (`npm run test:cluster`): a local 3-master Redis Cluster instead of one server.
// TEST_PG_REPLICA=1 (`npm run test:replica`): the PostgreSQL gets a streaming replica, which every
// test environment reads through (DATABASE_REPLICA_URLS, test/helpers/env.ts). With
// TEST_DATABASE_URL, TEST_DATABASE_REPLICA_URL may name a replica of it instead.
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from '../../src/infra/embedded.js';
import { migrateLatest } from '../../src/infra/migrate.js';
import { startRedisCluster } from './redis-cluster.js';
import { startStreamingPair } from './replica.js';

export const TEMPLATE_DB = 'fechatter_template';

export default async function setup() {
  const services: EmbeddedService[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-test-'));
  chmodSync(dir, 0o755); // the postgres user (when we run as root) must reach its data folder
  if (!process.env.TEST_REDIS_URL && process.env.TEST_REDIS_CLUSTER === '1') {
    const cluster = await startRedisCluster(path.join(dir, 'redis-cluster'));
    services.push(cluster);
    process.env.TEST_REDIS_URL = cluster.url;
  } else if (!process.env.TEST_REDIS_URL) {
    const redis = await startEmbeddedRedis({ dataDir: path.join(dir, 'redis'), persistent: true });
    services.push(redis);
    process.env.TEST_REDIS_URL = redis.url;
  }
  let adminUrl = process.env.TEST_DATABASE_URL;
  const ownReplica = !adminUrl && process.env.TEST_PG_REPLICA === '1';
  if (ownReplica) {
    const pair = await startStreamingPair(path.join(dir, 'postgres'), 'postgres', { ephemeral: true });
    services.push(pair.primary, pair.replica);
    adminUrl = pair.primary.url;
    process.env.TEST_DATABASE_URL = adminUrl;
    process.env.TEST_DATABASE_REPLICA_URL = pair.replica.url;
  } else if (!adminUrl) {
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), database: 'postgres', ephemeral: true });
    services.push(pg);
    adminUrl = pg.url;
    process.env.TEST_DATABASE_URL = adminUrl;
  }
  const admin = knexFactory({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
  // The replica may confirm commits (each test database asks it to: env.ts), so that what a test
  // writes straight into the primary is readable on the replica at once.
  if (ownReplica) await admin.raw(`alter system set synchronous_standby_names = 'replica'`).then(() => admin.raw('select pg_reload_conf()'));
  await admin.raw(`drop database if exists ${TEMPLATE_DB}`);
  await admin.raw(`create database ${TEMPLATE_DB}`);
  await admin.destroy();
  const template = knexFactory({ client: 'pg', connection: withDatabase(adminUrl, TEMPLATE_DB), pool: { min: 0, max: 1 } });
  await migrateLatest(template);
  await template.destroy();

  return async () => {
    for (const service of services.reverse()) await service.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
