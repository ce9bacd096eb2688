// Server-Sent Events transport: GET /api/v1/events, token in the Authorization header or
// `access_token`, resume from the standard Last-Event-ID header (or `last_event_id`). Each
// event is `id:` (the envelope id), `event:` (its type) and `data:` (the envelope JSON), so a
// browser EventSource resumes by itself after a drop.
import type { ServerResponse } from 'node:http';
import Router from '@koa/router';
import { bearerToken } from '../api/route.js';
import type { AuthUser } from '../domain/tokens.js';
import type { Connection, EndReason, Transport } from './connection.js';
import { sseOf, type Delivery } from './delivery.js';
import { tooManyConnections } from './hub.js';
import type { Prepared } from './index.js';

export const SSE_PATH = '/api/v1/events';

export interface SseOptions {
  /** The token's user if the token is valid and its session active; throws UnauthenticatedError otherwise. */
  authenticate(token: string): Promise<AuthUser>;
  /** Spends one of the user's connection attempts; throws RateLimitedError (429) when none are left. */
  spendConnect(userId: string): Promise<void>;
  /** What the connection needs to know before it registers (the streams it will read are started). */
  prepare(userId: string): Promise<Prepared>;
  canAccept(userId: string): boolean;
  open(user: AuthUser, transport: Transport, lastEventId: string | undefined, prepared: Prepared): Connection;
}

const errorEvent = (message: string) => `event: error\ndata: ${JSON.stringify({ type: 'error', error: { code: 'unauthenticated', message } })}\n\n`;
const TOKEN_EXPIRED = errorEvent('token expired');
const SESSION_REVOKED = errorEvent('session revoked');

class SseTransport implements Transport {
  readonly kind = 'sse';

  constructor(private readonly res: ServerResponse) {}

  send(d: Delivery, id: string): void {
    this.res.write(sseOf(d, id));
  }

  bufferedBytes(): number {
    return this.res.writableLength;
  }

  heartbeat(): void {
    // A comment line: ignored by EventSource, keeps proxies from timing the stream out.
    this.res.write(': ping\n\n');
  }

  end(reason: EndReason): void {
    if (reason === 'token_expired') this.res.end(TOKEN_EXPIRED);
    else if (reason === 'session_revoked') this.res.end(SESSION_REVOKED);
    else if (reason === 'shutdown') this.res.end();
    else this.res.destroy();
  }
}

export function sseRouter(options: SseOptions): Router {
  const router = new Router();
  router.get(SSE_PATH, async (ctx) => {
    const user = await options.authenticate(bearerToken(ctx, true));
    await options.spendConnect(user.id);
    const prepared = await options.prepare(user.id);
    // From here to open() in one tick, so the connection limit cannot be raced.
    if (!options.canAccept(user.id)) throw tooManyConnections();
    const header = ctx.get('last-event-id');
    const query = typeof ctx.query.last_event_id === 'string' ? ctx.query.last_event_id : '';
    // From here on Koa steps aside: the response is a stream we write ourselves.
    ctx.status = 200;
    ctx.respond = false;
    const { req, res } = ctx;
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      // The socket closes with the stream, so an ended stream does not linger as keep-alive.
      Connection: 'close',
      'X-Accel-Buffering': 'no',
    });
    // Reconnect quickly after a drop; the resume makes it lossless.
    res.write('retry: 1000\n\n');
    const conn = options.open(user, new SseTransport(res), header || query || undefined, prepared);
    res.on('close', () => conn.closed());
  });
  return router;
}
