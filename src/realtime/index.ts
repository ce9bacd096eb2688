// The fanout role: WebSocket (/api/v1/ws) and SSE (/api/v1/events) connections fed from the
// event stream. Composition only: the stream reader feeds the hub, the hub routes each event
// to the connections of the chat's members, each connection replays on resume and delivers.
// See ARCHITECTURE.md, "The event path".
import type http from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import type { Context } from 'koa';
import { requestContext } from '../api/middleware.js';
import { bearerToken, mountRoutes } from '../api/route.js';
import { opsRoutes } from '../api/routes/ops.js';
import { koaApp } from '../api/security.js';
import type { Deps } from '../deps.js';
import { NotFoundError } from '../errors.js';
import { authenticate } from '../domain/sessions.js';
import type { AuthUser } from '../domain/tokens.js';
import { startTyping } from '../domain/typing.js';
import type { Check } from '../observability/health.js';
import { metrics } from '../observability/metrics.js';
import { Connection, type Transport } from './connection.js';
import { delivery, type Delivery } from './delivery.js';
import { Hub } from './hub.js';
import { trackPresence } from './presence.js';
import { loadMembership } from './membership.js';
import { replay } from './replay.js';
import { startSessionSweeper } from './sessions.js';
import { sseRouter } from './sse.js';
import { startStreamReader, startTrimmer } from '../infra/stream-reader.js';
import { attachWebSocket, type WsHandle } from './ws.js';

export interface Realtime {
  /** The SSE route, mounted into the API app in `all` mode. */
  router: Router;
  /** A standalone app for the fanout role: SSE plus /health and /metrics. */
  app(checks: Check[]): Koa;
  /** Accepts WebSocket upgrades on the server. */
  attach(server: http.Server): void;
  close(): Promise<void>;
}

/** How long close() lets WebSocket clients answer the 1001 close frame before cutting them off. */
const CLOSE_GRACE_MS = 1000;

export async function createRealtime(deps: Deps): Promise<Realtime> {
  const { config, log } = deps;
  const hub: Hub = new Hub(config.CONNECTION_LIMIT, {
    opened: (conn) => {
      metrics.connections.inc({ transport: conn.transport.kind });
      presence.opened(conn.userId, hub.countOf(conn.userId));
    },
    closed: (conn) => {
      metrics.connections.dec({ transport: conn.transport.kind });
      presence.closed(conn.userId, hub.countOf(conn.userId));
    },
  });
  const presence = trackPresence(deps, () => hub.users());

  const onDelivered = (conn: Connection, d: Delivery) => {
    const transport = conn.transport.kind;
    metrics.eventsDelivered.inc({ transport });
    const acceptedAt = d.envelope.type === 'message.created' ? d.envelope.data.accepted_at : undefined;
    if (typeof acceptedAt === 'number') metrics.deliveryLatency.observe({ transport }, (Date.now() - acceptedAt) / 1000);
  };

  // One replay at a time per user on this process: with the per-user connection limits this
  // bounds what reconnect storms of one user can cost (a replay may read much of the stream).
  const replays = new Map<string, Promise<void>>();
  const replayInTurn = (conn: Connection, lastEventId: string): Promise<void> => {
    const turn = (replays.get(conn.userId) ?? Promise.resolve()).then(() =>
      conn.state === 'starting' ? replay(deps.redis, deps.stream, conn, lastEventId) : undefined,
    );
    const settled = turn.catch(() => {});
    replays.set(conn.userId, settled);
    void settled.then(() => {
      if (replays.get(conn.userId) === settled) replays.delete(conn.userId);
    });
    return turn;
  };

  /** Steps 2-4 of a connection's start-up (step 1, registration, is done by open()). */
  const start = async (conn: Connection, lastEventId: string | undefined) => {
    try {
      const membership = await loadMembership(deps.db, conn.userId);
      if (conn.state !== 'starting') return;
      conn.setMembership(membership);
      if (lastEventId !== undefined) await replayInTurn(conn, lastEventId);
      conn.goLive();
    } catch (err) {
      log.warn({ err: (err as Error).message, user_id: conn.userId }, 'starting a real-time connection failed');
      conn.end('error');
    }
  };

  /** Precondition: hub.canAccept(user.id) was checked in this same tick. */
  const open = (user: AuthUser, transport: Transport, lastEventId: string | undefined) => {
    const conn = new Connection(user.id, user.sessionId, transport, hub, config.SEND_BUFFER_BYTES, user.exp, onDelivered);
    hub.add(conn);
    void start(conn, lastEventId);
    return conn;
  };

  const reader = await startStreamReader({
    redisUrl: config.REDIS_URL!,
    streamKey: deps.stream.key,
    log,
    onEvent: (envelope) => hub.dispatch(delivery(envelope)),
  });
  const stopTrimmer = startTrimmer(deps.redis, deps.stream.key, config.EVENT_STREAM_MAX_AGE_SECONDS, log);
  const heartbeat = setInterval(() => hub.heartbeat(), config.HEARTBEAT_SECONDS * 1000);
  heartbeat.unref();
  const stopSessionSweeper = startSessionSweeper(deps, () => hub.connections(), log);

  const canAccept = (userId: string) => hub.canAccept(userId);
  // Connection attempts are limited per user: each one may load membership and replay the stream.
  const spendConnect = (userId: string) => deps.limits.consume('connect', userId);
  const router = sseRouter({ authenticate: (token) => authenticate(deps, token), spendConnect, canAccept, open });
  let ws: WsHandle | undefined;
  let httpServer: http.Server | undefined;
  /** Set when this process serves real-time only (the fanout role), not the API as well. */
  let standalone = false;

  return {
    router,
    app(checks) {
      standalone = true;
      const app = koaApp(config);
      const ops = new Router();
      mountRoutes(ops, opsRoutes(checks, config.METRICS_TOKEN), {
        authenticate: async (ctx) => authenticate(deps, bearerToken(ctx, false)),
        bodyLimit: config.BODY_LIMIT_BYTES,
      });
      app.use(requestContext(log));
      app.use(ops.routes());
      app.use(router.routes());
      app.use(async (ctx) => {
        if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) throw new NotFoundError('route');
      });
      return app;
    },
    attach(server) {
      httpServer = server;
      ws = attachWebSocket(server, {
        maxPayload: config.WS_MAX_PAYLOAD_BYTES,
        sendBufferBytes: config.SEND_BUFFER_BYTES,
        frameRatePerSecond: config.WS_FRAME_RATE_PER_SECOND,
        log,
        authenticate: async (req) => {
          const url = new URL(req.url ?? '/', 'http://localhost');
          const ctx = {
            get: (name: string) => String(req.headers[name.toLowerCase()] ?? ''),
            query: Object.fromEntries(url.searchParams),
          } as unknown as Pick<Context, 'get' | 'query'>;
          return authenticate(deps, bearerToken(ctx, true));
        },
        spendConnect,
        canAccept,
        open,
        // The same per-user limit as POST /chats/:cid/typing.
        onTyping: async (userId, chatId) => {
          await deps.limits.consume('typing', userId);
          return startTyping(deps, userId, chatId);
        },
      });
    },
    async close() {
      clearInterval(heartbeat);
      stopSessionSweeper();
      stopTrimmer();
      await reader.stop();
      ws?.close();
      for (const conn of hub.connections()) conn.end('shutdown');
      await presence.stop();
      const clients = ws ? [...ws.server.clients] : [];
      const deadline = Date.now() + CLOSE_GRACE_MS;
      while (clients.some((c) => c.readyState !== c.CLOSED) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const c of clients) if (c.readyState !== c.CLOSED) c.terminate();
      // A fanout's other sockets are health/metrics keep-alives and connections that never sent
      // a request (HTTP clients pre-connect): nothing in flight worth waiting for. In `all` mode
      // the API's in-flight requests are left to the server's own graceful close.
      if (standalone) httpServer?.closeAllConnections();
      else httpServer?.closeIdleConnections();
    },
  };
}
