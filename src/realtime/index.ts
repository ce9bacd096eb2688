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
import { StreamReaders } from './readers.js';
import { catchUpFresh, catchUpLive, resume, type ReplayDeps } from './replay.js';
import { startSessionSweeper } from './sessions.js';
import { sseRouter } from './sse.js';
import { startTrimmer } from '../infra/stream-reader.js';
import { shardIndex, type AccessChange } from '../infra/events.js';
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
/** How often readers of shards no connection needs are looked for (they stop after two looks). */
const READER_SWEEP_MS = 30_000;

/** What a connection learns before it registers (several shards only): see `prepare` below. */
export interface Prepared {
  changesFrom: string | null;
  /** The shards of the user's workspaces, read from before the connection registers. */
  shards: number[];
}

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
    joinedShard: (conn, change) => joinedShard(conn, change),
  });
  const joinedShard = (conn: Connection, change: AccessChange) => {
    if (conn.reads(change.shard)) return;
    if (conn.state === 'live') void catchUpLive(replayDeps, conn, change.shard, change.from);
    else if (conn.state === 'starting') lateJoins.set(conn, [...(lateJoins.get(conn) ?? []), change]);
  };
  /** Joins of new shards seen while a connection starts: caught up once it is live. */
  const lateJoins = new WeakMap<Connection, AccessChange[]>();
  const readers = new StreamReaders({
    redisUrl: config.REDIS_URL!,
    streams: deps.stream,
    log,
    onEvent: (envelope) => hub.dispatch(delivery(envelope)),
    onChange: (change) => hub.dispatchChange(change),
  });
  const replayDeps: ReplayDeps = { redis: deps.redis, streams: deps.stream, readers };
  const shardsOf = (workspaceIds: Iterable<string>) => [...new Set([...workspaceIds].map((w) => shardIndex(deps.stream, w)))];
  const presence = trackPresence(deps, () => hub.users());

  const onDelivered = (conn: Connection, d: Delivery) => {
    const transport = conn.transport.kind;
    metrics.eventsDelivered.inc({ transport });
    const acceptedAt = d.envelope.type === 'message.created' ? d.envelope.data.accepted_at : undefined;
    if (typeof acceptedAt === 'number') metrics.deliveryLatency.observe({ transport }, (Date.now() - acceptedAt) / 1000);
  };

  // One start-up at a time per user on this process: with the per-user connection limits this
  // bounds what reconnect storms of one user can cost (a replay may read much of the streams).
  const turns = new Map<string, Promise<void>>();
  const inTurn = (userId: string, work: () => Promise<void>): Promise<void> => {
    const turn = (turns.get(userId) ?? Promise.resolve()).then(work);
    const settled = turn.catch(() => {});
    turns.set(userId, settled);
    void settled.then(() => {
      if (turns.get(userId) === settled) turns.delete(userId);
    });
    return turn;
  };

  /**
   * Before registering (several shards only): the changes position, then the shards of the
   * user's workspaces started reading. A workspace joined after that position is in the user's
   * joins log; one joined before it is in this query, so its shard is read from before the
   * connection registers.
   */
  const prepare = async (userId: string): Promise<Prepared> => {
    if (readers.shardCount === 1) return { changesFrom: null, shards: [] };
    const changesFrom = readers.changesPosition();
    const workspaces: Array<string | number> = await deps.db('workspace_members').where({ user_id: userId }).pluck('workspace_id');
    const shards = shardsOf(workspaces.map(String));
    await Promise.all(shards.map((k) => readers.ensure(k)));
    return { changesFrom, shards };
  };

  /** Steps 2-4 of a connection's start-up (step 1, registration, is done by open()). */
  const start = async (conn: Connection, lastEventId: string | undefined) => {
    try {
      const membership = await loadMembership(deps.db, conn.userId);
      if (conn.state !== 'starting') return;
      conn.setMembership(membership);
      for (const k of shardsOf(membership.workspaces.keys())) conn.needs.add(k);
      if (readers.shardCount === 1) conn.needs.add(0);
      await inTurn(conn.userId, async () => {
        if (conn.state !== 'starting') return;
        if (lastEventId !== undefined) return resume(replayDeps, conn, lastEventId, membership);
        const started = await Promise.all([...conn.needs].map(async (k) => ({ k, since: (await readers.ensure(k)).since })));
        await catchUpFresh(
          replayDeps,
          conn,
          started.filter((r) => r.since > conn.registeredAt).map((r) => r.k),
        );
      });
      conn.goLive((k) => readers.position(k));
      for (const change of lateJoins.get(conn) ?? []) joinedShard(conn, change);
      lateJoins.delete(conn);
    } catch (err) {
      log.warn({ err: (err as Error).message, user_id: conn.userId }, 'starting a real-time connection failed');
      conn.end('error');
    }
  };

  /** Precondition: hub.canAccept(user.id) was checked in this same tick. */
  const open = (user: AuthUser, transport: Transport, lastEventId: string | undefined, prepared: Prepared) => {
    const conn = new Connection(user.id, user.sessionId, transport, hub, config.SEND_BUFFER_BYTES, user.exp, readers.shardCount, onDelivered);
    conn.changesFrom = prepared.changesFrom;
    // Where the connection starts in each shard: every later event reaches it (buffered from here on).
    for (const k of prepared.shards) {
      const position = readers.position(k);
      if (position !== undefined) conn.cursors.set(k, position);
    }
    hub.add(conn);
    void start(conn, lastEventId);
    return conn;
  };

  await readers.start();
  const sweep = setInterval(() => void readers.stopUnused(hub.shardsInUse()).catch(() => {}), READER_SWEEP_MS);
  sweep.unref();
  const stopTrimmer = startTrimmer(
    deps.redis,
    [...deps.stream.shards, deps.stream.changes].map((s) => s.key),
    config.EVENT_STREAM_MAX_AGE_SECONDS,
    log,
  );
  const heartbeat = setInterval(() => hub.heartbeat(), config.HEARTBEAT_SECONDS * 1000);
  heartbeat.unref();
  const stopSessionSweeper = startSessionSweeper(deps, () => hub.connections(), log);

  const canAccept = (userId: string) => hub.canAccept(userId);
  // Connection attempts are limited per user: each one may load membership and replay the stream.
  const spendConnect = (userId: string) => deps.limits.consume('connect', userId);
  const router = sseRouter({ authenticate: (token) => authenticate(deps, token), spendConnect, prepare, canAccept, open });
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
        prepare,
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
      clearInterval(sweep);
      stopSessionSweeper();
      stopTrimmer();
      await readers.stop();
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
