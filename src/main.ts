#!/usr/bin/env node
// `fechatter <role>`: api | worker | fanout | migrate | all. See ARCHITECTURE.md for what each does.
import 'dotenv/config';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from './config.js';
import { closeDeps, createDeps, type Deps } from './deps.js';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from './infra/embedded.js';
import { createDb } from './infra/db.js';
import { migrateLatest } from './infra/migrate.js';
import { createLogger, type Logger } from './observability/logger.js';
import { ROLES, startRole, type Role } from './roles.js';
import { reindexCommand } from './domain/search/reindex.js';

async function main(): Promise<void> {
  const role = process.argv[2] as Role;
  // Not a role: a one-off maintenance command (see src/domain/search/reindex.ts). Its
  // statements may rightly run longer than any request's, so no statement timeout.
  if (process.argv[2] === 'reindex') {
    process.env.DB_STATEMENT_TIMEOUT_MS = '0';
    process.exit(await reindexCommand(process.argv.slice(3)));
  }
  if (!ROLES.includes(role)) {
    console.error(`usage: fechatter <${ROLES.join('|')}> | fechatter reindex [--workspace ID]`);
    process.exit(2);
  }
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const log: Logger = createLogger(config.LOG_LEVEL, { role });

  // Embedded services only for `all` (the development one-command start); other roles are
  // production processes and must be told where Postgres and Redis are.
  const embedded: EmbeddedService[] = [];
  const stopEmbedded = async () => {
    for (const service of embedded.reverse()) await service.stop().catch((err) => log.error({ err }, 'stopping embedded service'));
  };
  let deps: Deps | undefined;
  // Until the role serves, any failure, thrown or emitted later, ends the start: what was
  // started is stopped (private services last) and the operator reads one line; the error
  // itself is logged at debug level.
  let failed = false;
  const failStart = async (err: unknown) => {
    if (failed) return;
    failed = true;
    log.debug({ err }, 'start-up failed');
    if (deps) await closeDeps(deps).catch(() => {});
    await stopEmbedded();
    console.error(`fechatter: ${startFailure(err, config)}`);
    process.exit(1);
  };
  process.on('uncaughtException', failStart);
  process.on('unhandledRejection', failStart);
  try {
    if (!config.DATABASE_URL || !config.REDIS_URL) {
      if (role !== 'all') {
        console.error(`fechatter ${role}: DATABASE_URL and REDIS_URL must be set (only \`fechatter all\` / \`npm start\` starts private ones).`);
        process.exit(2);
      }
      const dataDir = path.resolve(config.DATA_DIR);
      if (!config.REDIS_URL) {
        const redis = await startEmbeddedRedis({ dataDir: path.join(dataDir, 'redis') });
        embedded.push(redis);
        config.REDIS_URL = redis.url;
        log.info({ url: redis.url, dir: path.join(dataDir, 'redis') }, 'started private redis-server');
      }
      if (!config.DATABASE_URL) {
        const pg = await startEmbeddedPostgres({
          dataDir: path.join(dataDir, 'postgres'),
          database: 'fechatter',
          log: (line) => log.debug({ postgres: line }),
        });
        embedded.push(pg);
        config.DATABASE_URL = pg.url;
        log.info({ port: new URL(pg.url).port, dir: path.join(dataDir, 'postgres') }, 'started private PostgreSQL');
      }
    }

    if (role === 'migrate' || role === 'all') {
      // No statement timeout: a migration may rightly run long (an index on a big table).
      const db = createDb(config.DATABASE_URL!, 1);
      const applied = await migrateLatest(db).finally(() => db.destroy());
      log.info({ applied }, applied.length ? 'migrations applied' : 'schema is up to date');
      if (role === 'migrate') return;
    }

    deps = await createDeps(config, log);
    const running = await startRole(role, deps);
    process.off('uncaughtException', failStart);
    process.off('unhandledRejection', failStart);
    if (role === 'all') console.log(`\n  Fechatter is running at ${running.url}\n`);

    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      // Not unref()d: it also keeps the event loop alive while awaiting handle-less promises.
      setTimeout(() => {
        log.error('shutdown timed out; exiting');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS);
      try {
        await running.stop();
        log.debug('roles stopped');
        await closeDeps(deps!);
        log.debug('connections closed');
        await stopEmbedded();
      } catch (err) {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      }
      log.info('stopped');
      process.exit(0);
    };
    process.on('SIGINT', () => void shutdown('SIGINT'));
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
  } catch (err) {
    await failStart(err);
  }
}

/** One line for the operator: what failed and, where we know, what to change. */
function startFailure(err: unknown, config: Pick<Config, 'HOST' | 'PORT'>): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  if (e?.syscall === 'getaddrinfo' && e.hostname === config.HOST) return `cannot listen on ${config.HOST}:${config.PORT}: no such host (set HOST)`;
  if (e?.syscall === 'listen') {
    const reason: Record<string, string> = {
      EADDRINUSE: 'the port is already in use (set PORT)',
      EACCES: 'permission denied: ports below 1024 need privileges (set PORT)',
      EADDRNOTAVAIL: 'this machine has no such address (set HOST)',
    };
    return `cannot listen on ${e.address}:${e.port}: ${reason[e.code ?? ''] ?? e.message}`;
  }
  return `cannot start: ${firstLine(err)}`;
}

/** An error's message without what follows its first line (a log tail, a stack). */
function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].replace(/:$/, '');
}

main().catch((err) => {
  console.error(`fechatter: ${firstLine(err)}`);
  process.exit(1);
});
