// Starting a role inside a process: which servers, workers and connections it runs.
// Used by src/main.ts and by tests that run roles in-process.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import Router from '@koa/router';
import type Koa from 'koa';
import { createApiApp } from './api/app.js';
import { errorBody, requestContext } from './api/middleware.js';
import { mountRoutes } from './api/route.js';
import { opsRoutes } from './api/routes/ops.js';
import { koaApp } from './api/security.js';
import type { Config } from './config.js';
import { coreChecks, type Deps } from './deps.js';
import { startAccessInvalidation } from './domain/access-cache.js';
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

/** Status for a request Node's parser refused (these never reach Koa). */
function clientErrorStatus(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): number {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // maxHeaderSize covers the request line and the headers together: blame the URI when the
    // request line is most of it.
    const end = err.rawPacket?.indexOf('\r\n') ?? -1;
    const lineLength = end >= 0 ? end : (err.rawPacket?.length ?? 0);
    return lineLength > http.maxHeaderSize / 2 ? 414 : 431;
  }
  if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

/** Answers what Node's parser refused in the API's error shape, then closes, as Node itself would. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const response = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && !response?.headersSent) {
    const status = clientErrorStatus(err);
    const body = JSON.stringify(errorBody(status));
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

async function listen(app: Koa, config: Config, log: Deps['log'], realtime?: Realtime): Promise<Listening> {
  const handle = app.callback();
  let draining = false;
  // While draining, every response asks the client to close its connection, so keep-alive
  // clients move to another process instead of holding this one open.
  const server = http.createServer((req, res) => {
    if (draining) res.setHeader('Connection', 'close');
    void handle(req, res);
  });
  // Long enough for an upload on a slow link; JSON bodies have their own, shorter limit (body.ts)
  // and headers Node's headersTimeout.
  server.requestTimeout = Math.max(config.REQUEST_TIMEOUT_MS, config.UPLOAD_TIMEOUT_MS);
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);
  realtime?.attach(server);
  // A failure to listen (EADDRINUSE...) rejects, with Node's error (code, address, port);
  // src/main.ts turns it into one line. Later server errors (e.g. EMFILE on accept) are logged.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'http server error'));
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
  const app = koaApp(deps.config);
  const router = new Router();
  mountRoutes(router, opsRoutes(checks, deps.config.METRICS_TOKEN), {
    authenticate: async () => {
      throw new Error('no authenticated routes here');
    },
    bodyLimit: deps.config.BODY_LIMIT_BYTES,
  });
  app.use(requestContext(deps.log, deps.redis));
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
  // Before serving: the access cache (the API's, and typing over WebSocket) is exact only while this tail runs.
  const access = withApi || withFanout ? await startAccessInvalidation(deps) : undefined;
  const checks = [...coreChecks(deps), searchCheck(deps)];
  const app = withApi ? createApiApp(deps, { checks, extra: realtime ? [realtime.router] : [] }) : realtime ? realtime.app(checks) : opsApp(deps, checks);
  // Stop what was started if the port cannot be had, so the caller can close deps and exit.
  // Workers start only once the port is ours: stopping a BullMQ worker that is still starting
  // rejects its pending commands, which would bury the real reason.
  const listening = await listen(app, config, log, realtime).catch(async (err: unknown) => {
    await realtime?.close();
    await access?.stop();
    throw err;
  });
  const workers = withWorkers ? await startWorkers(deps) : undefined;
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
      await access?.stop();
    },
  };
}
