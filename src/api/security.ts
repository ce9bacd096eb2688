// Security middleware for every HTTP response: headers (helmet), CORS from an allow-list, and
// the per-IP request limit that applies to everything (routes add their own, stricter ones).
import cors from '@koa/cors';
import type { Middleware } from 'koa';
import helmet from 'koa-helmet';
import type { Deps } from '../deps.js';

export function security(deps: Pick<Deps, 'config' | 'limits'>): Middleware[] {
  const allowed = new Set(deps.config.CORS_ORIGINS);
  return [
    helmet({
      contentSecurityPolicy: {
        // No upgrade-insecure-requests: a self-hosted server is often reached over plain HTTP on a LAN.
        directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", 'data:'], connectSrc: ["'self'", 'ws:', 'wss:'], upgradeInsecureRequests: null },
      },
      crossOriginEmbedderPolicy: false,
    }) as Middleware,
    cors({
      // An origin not on the list gets no CORS headers, so browsers keep it same-origin.
      origin: (ctx) => (allowed.has(ctx.get('origin')) ? ctx.get('origin') : ''),
      allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'X-Request-Id'],
      exposeHeaders: ['Retry-After', 'X-Request-Id'],
      maxAge: 600,
    }),
    async (ctx, next) => {
      // Health probes and metrics scrapes are never limited: they must keep answering under load.
      if (!ctx.path.startsWith('/health/') && ctx.path !== '/metrics') await deps.limits.consume('ip', ctx.ip);
      await next();
    },
  ];
}
