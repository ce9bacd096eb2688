// WebSocket transport: GET /api/v1/ws?access_token=...&last_event_id=... on the same
// http.Server as the app (koa-websocket's server, fed our ws options). The handshake is
// refused with 401 for a missing/bad token and 429 past the per-user connection limit, inside
// verifyClient, synchronously, so the hub registration that follows cannot race the check.
import type http from 'node:http';
import { createRequire } from 'node:module';
import Koa from 'koa';
import type { ServerOptions, WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { zodDetails, id } from '../api/route.js';
import { AppError } from '../domain/errors.js';
import type { AuthUser } from '../domain/tokens.js';
import type { Logger } from '../observability/logger.js';
import type { Connection, EndReason, Transport } from './connection.js';
import { jsonOf, type Delivery } from './delivery.js';

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
  log: Logger;
  /** Verifies the token from `access_token` or the Authorization header; throws when bad. */
  authenticate(req: http.IncomingMessage): AuthUser;
  canAccept(userId: string): boolean;
  open(user: AuthUser, transport: Transport, lastEventId: string | undefined): Connection;
  /** What a `{"type":"typing"}` frame does; throws NotFoundError for non-members (sent back as an error frame). */
  onTyping: (userId: string, chatId: string) => Promise<unknown>;
}

const frameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ping') }),
  z.strictObject({ type: z.literal('typing'), chat_id: id }),
]);

const PONG = JSON.stringify({ type: 'pong' });

class WsTransport implements Transport {
  readonly kind = 'ws';
  private alive = true;

  constructor(private readonly ws: WebSocket) {
    ws.on('pong', () => {
      this.alive = true;
    });
  }

  send(d: Delivery): void {
    this.ws.send(jsonOf(d));
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
    // A slow consumer cannot take a close frame either; it resumes from its last event id.
    else this.ws.terminate();
  }
}

function sendError(ws: WebSocket, code: string, message: string, details: unknown[] = []): void {
  ws.send(JSON.stringify({ type: 'error', error: { code, message, details } }));
}

/** Client frames: ping and typing. Anything else gets an error frame; the connection stays. */
function onFrame(options: WsOptions, ws: WebSocket, conn: Connection, raw: Buffer, isBinary: boolean): void {
  if (isBinary) return sendError(ws, 'validation_failed', 'Frames must be JSON text.');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return sendError(ws, 'validation_failed', 'The frame is not valid JSON.');
  }
  const frame = frameSchema.safeParse(value);
  if (!frame.success) return sendError(ws, 'validation_failed', 'Unknown or malformed frame.', zodDetails(frame.error));
  if (frame.data.type === 'ping') return void ws.send(PONG);
  options.onTyping(conn.userId, frame.data.chat_id).catch((err: unknown) => {
    if (err instanceof AppError) sendError(ws, err.code, err.message);
    else options.log.warn({ err }, 'typing frame failed');
  });
}

export interface WsHandle {
  server: WebSocketServer;
  close(): void;
}

export function attachWebSocket(httpServer: http.Server, options: WsOptions): WsHandle {
  const app = websockify(new Koa());
  const verified = new WeakMap<http.IncomingMessage, AuthUser>();

  app.ws.use((ctx) => {
    const ws = ctx.websocket;
    const user = verified.get(ctx.req);
    if (!user) return void ws.close(1011, 'not verified');
    const transport = new WsTransport(ws);
    const lastEventId = (typeof ctx.query.last_event_id === 'string' && ctx.query.last_event_id) || ctx.get('last-event-id') || undefined;
    const conn = options.open(user, transport, lastEventId);
    ws.on('close', () => conn.closed());
    ws.on('error', () => conn.closed());
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      try {
        onFrame(options, ws, conn, raw, isBinary);
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
    verifyClient: (info: { req: http.IncomingMessage }, done: (ok: boolean, code?: number, message?: string, headers?: http.OutgoingHttpHeaders) => void) => {
      let user: AuthUser;
      try {
        user = options.authenticate(info.req);
      } catch {
        return done(false, 401, 'Unauthorized');
      }
      if (!options.canAccept(user.id)) return done(false, 429, 'Too Many Connections', { 'Retry-After': '5' });
      verified.set(info.req, user);
      done(true);
    },
  });
  const server = app.ws.server!;
  return {
    server,
    close: () => server.close(),
  };
}
