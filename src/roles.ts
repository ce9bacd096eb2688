// Starting a role inside a process: which servers, workers and connections it runs.
// Used by src/main.ts and by tests that run roles in-process.
import http from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { createApiApp } from './api/app.js';
import { requestContext } from './api/middleware.js';
import { mountRoutes } from './api/route.js';
import { opsRoutes } from './api/routes/ops.js';
import type { Config } from './config.js';
import { coreChecks, type Deps } from './deps.js';
import { searchCheck } from './domain/search/index.js';
import type { Check } from './observability/health.js';
import { observe } from './observability/metrics.js';
import { createRealtime, type Realtime } from './realtime/index.js';
import { startWorkers } from '../workers/index.js';

export const ROLES = ['api', 'worker', 'fanout', 'migrate', 'all'] as const;
export type Role = (typeof ROLES)[number];

export interface Running {
  url: string;
  /** Stop accepting, finish in-flight work (requests, jobs), close client connections. */
  stop(): Promise<void>;
}

interface Listening {
  server: http.Server;
  /** Stops accepting, lets in-flight requests finish, and closes keep-alive connections. */
  close(): Promise<void>;
}

async function listen(app: Koa, config: Config, realtime?: Realtime): Promise<Listening> {
  const handle = app.callback();
  let draining = false;
  // While draining, every response asks the client to close its connection, so keep-alive
  // clients move to another process instead of holding this one open.
  const server = http.createServer((req, res) => {
    if (draining) res.setHeader('Connection', 'close');
    void handle(req, res);
  });
  server.requestTimeout = config.REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 65_000;
  realtime?.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, resolve);
  });
  return {
    server,
    close: () =>
      new Promise((resolve) => {
        draining = true;
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** A process without an API or fanout (a worker) still serves /health/* and /metrics on PORT. */
function opsApp(deps: Deps, checks: Check[]): Koa {
  const app = new Koa();
  const router = new Router();
  mountRoutes(router, opsRoutes(checks, deps.config.METRICS_TOKEN), {
    authenticate: async () => {
      throw new Error('no authenticated routes here');
    },
    bodyLimit: deps.config.BODY_LIMIT_BYTES,
  });
  app.use(requestContext(deps.log));
  app.use(router.routes());
  return app;
}

export async function startRole(role: Exclude<Role, 'migrate'>, deps: Deps): Promise<Running> {
  const { config, log } = deps;
  const withApi = role === 'api' || role === 'all';
  const withFanout = role === 'fanout' || role === 'all';
  const withWorkers = role === 'worker' || role === 'all';

  const pool = () => (deps.db.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
  observe({
    queues: deps.queues,
    pool: () => ({ used: pool()?.numUsed() ?? 0, free: pool()?.numFree() ?? 0, pending: pool()?.numPendingAcquires() ?? 0 }),
    redisReady: () => deps.redis.status === 'ready',
  });
  const realtime = withFanout ? await createRealtime(deps) : undefined;
  const workers = withWorkers ? await startWorkers(deps) : undefined;
  const checks = [...coreChecks(deps), searchCheck(deps)];
  const app = withApi
    ? createApiApp(deps, { checks, extra: realtime ? [realtime.router] : [] })
    : realtime
      ? realtime.app(checks)
      : opsApp(deps, checks);
  const listening = await listen(app, config, realtime);
  const { port } = listening.server.address() as { port: number };
  const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}`;
  log.info({ url }, `fechatter ${role} listening on ${url}`);

  return {
    url,
    async stop() {
      const closing = listening.close();
      await realtime?.close();
      await workers?.close();
      await closing;
    },
  };
}
