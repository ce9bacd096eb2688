// Cross-cutting Koa middleware: request ids, access logs, request metrics and the one place
// where errors become the API's error shape.
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { AppError, RateLimitedError, UnavailableError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';

/** Errors that mean Postgres or Redis is unreachable, whatever layer raised them. */
export function isDependencyDown(err: unknown): string | undefined {
  const e = err as { code?: string; name?: string; message?: string };
  const message = e?.message ?? '';
  const pgUnavailable = ['ECONNREFUSED', '57P01', '57P02', '57P03', '08006', '08001'].includes(e?.code ?? '');
  if (e?.name === 'KnexTimeoutError' || pgUnavailable || /ECONNREFUSED|ECONNRESET|Connection terminated|terminating connection|the database system is (starting up|shutting down)/.test(message)) {
    return /redis|6379/i.test(message) ? 'redis' : 'postgres';
  }
  if (/enableOfflineQueue|Connection is closed|max retries per request|Command timed out/i.test(message)) return 'redis';
  if (e?.name === 'OpenBreakerError' || /Breaker is open/.test(message)) return 'postgres';
  return undefined;
}

export function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  const down = isDependencyDown(err);
  return down ? new UnavailableError(down) : undefined;
}

export function requestContext(log: Logger): Middleware {
  return async (ctx, next) => {
    const requestId = /^[\w.-]{1,64}$/.test(ctx.get('x-request-id')) ? ctx.get('x-request-id') : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ request_id: requestId });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } catch (err) {
      const known = toAppError(err);
      const status = known?.status ?? 500;
      ctx.status = status;
      if (known instanceof RateLimitedError) ctx.set('Retry-After', String(known.retryAfterSeconds));
      ctx.body = {
        error: known
          ? { code: known.code, message: known.message, details: known.details }
          : { code: 'internal', message: 'Internal server error.', details: [] },
      };
      if (!known) ctx.state.log.error({ err }, 'unhandled error');
      else if (status === 503) ctx.state.log.warn({ err: (err as Error).message }, 'dependency unavailable');
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.httpDuration.observe({ method: ctx.method, route: String(route), status: String(ctx.status) }, seconds);
      ctx.state.log.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request');
    }
  };
}
