// WebSocket transport: GET /api/v1/ws?access_token=...&last_event_id=... on the same
// http.Server as the app (koa-websocket's server, fed our ws options). The handshake is
// refused with 401 for a missing/bad token or an ended session, 429 past the per-user connection-attempt limit and
// 429 past the per-user connection limit, inside verifyClient; the connection limit is checked in
// the same tick as the hub registration that follows, so the two cannot race.
//
// Client frames have limits too: a per-connection frame budget, the REST twin's rate limit for
// typing, and replies (pong, error frames) that obey the send buffer like events do.
import type http from 'node:http';
import { createRequire } from 'node:module';
import Koa from 'koa';
import type { ServerOptions, WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { zodDetails, id } from '../api/route.js';
import { errorReply } from '../api/middleware.js';
import { AppError, RateLimitedError, UnavailableError, ValidationError } from '../errors.js';
import type { AuthUser } from '../domain/tokens.js';
import type { Logger } from '../observability/logger.js';
import type { Connection, EndReason, Transport } from './connection.js';
import { jsonOf, type Delivery } from './delivery.js';
import { tooManyConnections } from './hub.js';
import type { Prepared } from './index.js';

export const WS_PATH = '/api/v1/ws';

// koa-websocket through require and a narrow local type: its @types package augments every
// Koa Context with a required `websocket` field, which would break the API's route typings.
interface WsContext {
  websocket: WebSocket;
  req: http.IncomingMessage;
  query: Record<string, string | string[] | undefined>;
  get(field: string): string;
}
interface KoaWebSocketApp {
  ws: { use(middleware: (ctx: WsContext) => unknown): void; listen(options: ServerOptions): void; server?: WebSocketServer };
}
const websockify = createRequire(import.meta.url)('koa-websocket') as (app: Koa) => KoaWebSocketApp;

export interface WsOptions {
  maxPayload: number;
  /** SEND_BUFFER_BYTES: a reply due while more than this is buffered ends the connection. */
  sendBufferBytes: number;
  /** WS_FRAME_RATE_PER_SECOND: the client frames each connection may send (bursts of twice that). */
  frameRatePerSecond: number;
  log: Logger;
  /** Verifies the token from `access_token` or the Authorization header, and its session; rejects when bad. */
  authenticate(req: http.IncomingMessage): Promise<AuthUser>;
  /** Spends one of the user's connection attempts; throws RateLimitedError when none are left. */
  spendConnect(userId: string): Promise<void>;
  /** What the connection needs to know before it registers (the streams it will read are started). */
  prepare(userId: string): Promise<Prepared>;
  canAccept(userId: string): boolean;
  open(user: AuthUser, transport: Transport, lastEventId: string | undefined, prepared: Prepared): Connection;
  /** What a `{"type":"typing"}` frame does; its AppErrors (not_found, rate_limited) are sent back as error frames. */
  onTyping: (userId: string, chatId: string) => Promise<unknown>;
}

const frameSchema = z.discriminatedUnion('type', [z.strictObject({ type: z.literal('ping') }), z.strictObject({ type: z.literal('typing'), chat_id: id })]);

const PONG = JSON.stringify({ type: 'pong' });

class WsTransport implements Transport {
  readonly kind = 'ws';
  private alive = true;

  constructor(private readonly ws: WebSocket) {
    ws.on('pong', () => {
      this.alive = true;
    });
  }

  send(d: Delivery, id: string): void {
    this.ws.send(jsonOf(d, id));
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  heartbeat(): void {
    // A peer that did not answer the previous ping is gone (or its path is): free the slot.
    if (!this.alive) return void this.ws.terminate();
    this.alive = false;
    this.ws.ping();
  }

  end(reason: EndReason): void {
    if (reason === 'shutdown') this.ws.close(1001, 'server shutting down');
    else if (reason === 'token_expired') this.ws.close(4001, 'token expired');
    // 4001 too: either way the client needs a new token (and a revoked session cannot get one).
    else if (reason === 'session_revoked') this.ws.close(4001, 'session revoked');
    // A slow consumer cannot take a close frame either; it resumes from its last event id.
    else this.ws.terminate();
  }
}

/** Refused frames beyond this debt (seconds of refill, i.e. five bursts) are a flood: close 1008. */
const FLOOD_DEBT_SECONDS = 10;

/**
 * A token bucket of `rate` frames a second holding up to two seconds' worth. Refused frames
 * spend too (they cost a reply), so a client that keeps sending runs into debt instead of
 * getting a frame through now and then. Returns 0 when the frame may pass, else the seconds
 * until one would.
 */
function frameBudget(rate: number): () => number {
  const burst = 2 * rate;
  let tokens = burst;
  let at = Date.now();
  return () => {
    const now = Date.now();
    tokens = Math.min(burst, tokens + ((now - at) / 1000) * rate) - 1;
    at = now;
    return tokens >= 0 ? 0 : (1 - tokens) / rate;
  };
}

interface Client {
  ws: WebSocket;
  conn: Connection;
  spend: () => number;
}

/**
 * Replies obey the send buffer like events do: over SEND_BUFFER_BYTES the client is not reading,
 * so it is ended as a slow consumer (connection.ts) rather than the reply dropped, which would
 * leave the buffer held until the next event ends it anyway. It resumes from its last event id.
 */
function reply(options: WsOptions, client: Client, text: string): void {
  if (client.ws.bufferedAmount > options.sendBufferBytes) return client.conn.end('slow_consumer');
  client.ws.send(text);
}

function sendError(options: WsOptions, client: Client, err: AppError): void {
  const error = { code: err.code, message: err.message, details: err.details };
  const retryAfter = err instanceof RateLimitedError ? { retry_after: err.retryAfterSeconds } : {};
  reply(options, client, JSON.stringify({ type: 'error', error: { ...error, ...retryAfter } }));
}

/** Client frames: ping and typing. Anything else gets an error frame; the connection stays. */
function onFrame(options: WsOptions, client: Client, raw: Buffer, isBinary: boolean): void {
  const { ws, conn } = client;
  if (ws.readyState !== ws.OPEN) return;
  // Every frame spends, valid or not, before any parsing.
  const wait = client.spend();
  if (wait > FLOOD_DEBT_SECONDS) return ws.close(1008, 'too many frames');
  if (wait > 0) return sendError(options, client, new RateLimitedError(Math.ceil(wait)));
  if (isBinary) return sendError(options, client, new ValidationError('Frames must be JSON text.'));
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return sendError(options, client, new ValidationError('The frame is not valid JSON.'));
  }
  const frame = frameSchema.safeParse(value);
  if (!frame.success) return sendError(options, client, new ValidationError('Unknown or malformed frame.', zodDetails(frame.error)));
  if (frame.data.type === 'ping') return reply(options, client, PONG);
  options.onTyping(conn.userId, frame.data.chat_id).catch((err: unknown) => {
    if (err instanceof AppError) sendError(options, client, err);
    else options.log.warn({ err }, 'typing frame failed');
  });
}

export interface WsHandle {
  server: WebSocketServer;
  close(): void;
}

export function attachWebSocket(httpServer: http.Server, options: WsOptions): WsHandle {
  const app = websockify(new Koa());
  const verified = new WeakMap<http.IncomingMessage, { user: AuthUser; prepared: Prepared }>();
  type Done = (ok: boolean, code?: number, message?: string, headers?: http.OutgoingHttpHeaders) => void;

  /**
   * Refuses the handshake with the API's error shape (ws writes the status line, these headers
   * and the body). An error that is not ours means a look-up failed: not the client's fault, 503.
   */
  const refuse = (done: Done, err: unknown) => {
    if (!(err instanceof AppError)) options.log.warn({ err }, 'checking a WebSocket handshake failed');
    const { status, body } = errorReply(err instanceof AppError ? err : new UnavailableError('session or rate-limit store'));
    const retryAfter = err instanceof RateLimitedError ? { 'Retry-After': String(err.retryAfterSeconds) } : {};
    done(false, status, JSON.stringify(body), { 'Content-Type': 'application/json; charset=utf-8', ...retryAfter });
  };

  /** After authentication: spend a connection attempt, then check the connection limit and register in one tick. */
  const admit = async (req: http.IncomingMessage, user: AuthUser, done: Done) => {
    let prepared: Prepared;
    try {
      await options.spendConnect(user.id);
      prepared = await options.prepare(user.id);
    } catch (err) {
      return refuse(done, err);
    }
    if (!options.canAccept(user.id)) return refuse(done, tooManyConnections());
    verified.set(req, { user, prepared });
    done(true);
  };

  app.ws.use((ctx) => {
    const ws = ctx.websocket;
    const admitted = verified.get(ctx.req);
    if (!admitted) return void ws.close(1011, 'not verified');
    const { user, prepared } = admitted;
    const transport = new WsTransport(ws);
    const lastEventId = (typeof ctx.query.last_event_id === 'string' && ctx.query.last_event_id) || ctx.get('last-event-id') || undefined;
    const conn = options.open(user, transport, lastEventId, prepared);
    const client: Client = { ws, conn, spend: frameBudget(options.frameRatePerSecond) };
    ws.on('close', () => conn.closed());
    ws.on('error', () => conn.closed());
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      try {
        onFrame(options, client, raw, isBinary);
      } catch (err) {
        options.log.warn({ err }, 'handling a client frame failed');
      }
    });
  });

  // koa-websocket's listen() stores the server on app.ws.server (its typings claim a return value).
  app.ws.listen({
    server: httpServer,
    path: WS_PATH,
    // Larger frames close the connection with 1009 (ws reads a frame whole before we see it).
    maxPayload: options.maxPayload,
    verifyClient: (info: { req: http.IncomingMessage }, done: Done) => {
      options.authenticate(info.req).then(
        (user) => admit(info.req, user, done),
        (err: unknown) => refuse(done, err),
      );
    },
  });
  const server = app.ws.server!;
  // ws re-emits the http.Server's errors (EADDRINUSE...) here; listen() in src/roles.ts reports
  // them. Unhandled, this event would crash the process before that.
  server.on('error', () => {});
  return {
    server,
    close: () => server.close(),
  };
}
