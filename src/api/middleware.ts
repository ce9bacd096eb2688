// Cross-cutting Koa middleware: request ids, access logs, request metrics and the one place
// where errors become the API's error shape: our typed errors, dependency outages (503), and
// the HTTP errors of Koa, the router and libraries (thrown with `status`/`expose`, or a bare
// status such as the router's 405 with its Allow header).
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { AppError, RateLimitedError, UnavailableError, type ErrorCode } from '../errors.js';
import { isDependencyDown, type RedisState } from '../infra/failures.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';

const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: 'validation_failed',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
  500: 'internal',
  501: 'not_implemented',
  503: 'unavailable',
};

/** What a client is told when the error's own message is not for it (expose=false) or there is none. */
const GENERIC_MESSAGE: Record<ErrorCode, string> = {
  validation_failed: 'The request is not valid.',
  unauthenticated: 'Authentication is required.',
  forbidden: 'This is not allowed.',
  not_found: 'Not found.',
  method_not_allowed: 'This method is not allowed here; the Allow header lists those that are.',
  request_timeout: 'The request took too long to arrive.',
  conflict: 'The request conflicts with the current state.',
  payload_too_large: 'The request body is too large.',
  uri_too_long: 'The request URI is too long.',
  unsupported_media_type: 'The request body must be JSON (Content-Type: application/json).',
  rate_limited: 'Too many requests.',
  headers_too_large: 'The request headers are too large.',
  bad_request: 'The request cannot be served.',
  internal: 'Internal server error.',
  not_implemented: 'This method is not implemented.',
  unavailable: 'A dependency is unavailable. Try again shortly.',
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: unknown[] };
}

/** The error shape for a bare HTTP status (no error object to take a message from). */
export function errorBody(status: number): ErrorBody {
  const code = CODE_OF_STATUS[status] ?? (status < 500 ? 'bad_request' : 'internal');
  return { error: { code, message: GENERIC_MESSAGE[code], details: [] } };
}

interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
  /** Not one of ours and not a client error: a bug or a library failure, logged as such. */
  unexpected: boolean;
}

/** An http-errors style error (Koa's ctx.throw, koa-static, raw-body, bull-board...): its 4xx/5xx status. */
function httpStatusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; statusCode?: unknown };
  const status = typeof e?.status === 'number' ? e.status : e?.statusCode;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : undefined;
}

export function errorReply(err: unknown, redis?: RedisState): ErrorReply {
  const down = err instanceof AppError ? undefined : isDependencyDown(err, redis);
  const known = err instanceof AppError ? err : down ? new UnavailableError(down) : undefined;
  if (known) {
    const message = known.expose ? known.message : GENERIC_MESSAGE[known.code];
    return { status: known.status, body: { error: { code: known.code, message, details: known.details } }, unexpected: false };
  }
  const status = httpStatusOf(err) ?? 500;
  const body = errorBody(status);
  const e = err as { expose?: unknown; message?: unknown; headers?: unknown };
  // http-errors' rule: messages of 4xx are for the client, of 5xx are not, unless `expose` says otherwise.
  const expose = typeof e?.expose === 'boolean' ? e.expose : status < 500;
  if (expose && typeof e?.message === 'string' && e.message) body.error.message = e.message;
  const headers = typeof e?.headers === 'object' && e.headers !== null ? (e.headers as Record<string, string>) : undefined;
  return { status, body, headers, unexpected: status >= 500 };
}

/** `redis`: the client request handlers use, so an outage of it is told from a bug (see isDependencyDown). */
export function requestContext(log: Logger, redis?: RedisState): Middleware {
  return async (ctx, next) => {
    const requestId = /^[\w.-]{1,64}$/.test(ctx.get('x-request-id')) ? ctx.get('x-request-id') : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
      // A status without a body: nothing matched (404) or the router's 405/501 (Allow is kept).
      if (ctx.status >= 400 && ctx.body == null && ctx.respond !== false) {
        const status = ctx.status;
        ctx.body = errorBody(status);
        ctx.status = status;
      }
    } catch (err) {
      const reply = errorReply(err, redis);
      ctx.status = reply.status;
      if (reply.headers) ctx.set(reply.headers);
      if (err instanceof RateLimitedError) ctx.set('Retry-After', String(err.retryAfterSeconds));
      ctx.body = reply.body;
      // No per-request child logger: a child costs more than the request's own work on the send path.
      if (reply.unexpected) log.error({ request_id: requestId, err }, 'unhandled error');
      else if (reply.status === 503) log.warn({ request_id: requestId, err: (err as Error).message }, 'dependency unavailable');
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.httpDuration.observe({ method: ctx.method, route: String(route), status: String(ctx.status) }, seconds);
      if (log.isLevelEnabled('debug'))
        log.debug({ request_id: requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request');
    }
  };
}
