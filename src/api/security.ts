// Security middleware for every HTTP response: the client IP (TRUST_PROXY), headers (helmet),
// CORS from an allow-list, and the per-IP request limit that applies to everything (routes add
// their own, stricter ones).
import cors from '@koa/cors';
import Koa, { type Middleware } from 'koa';
import helmet from 'koa-helmet';
import proxyaddr from 'proxy-addr';
import type { Config } from '../config.js';
import type { Deps } from '../deps.js';

/**
 * The Koa app of every server role. Koa's own proxy mode stays off: it believes any client's
 * X-Forwarded-For (and X-Forwarded-Host/-Proto). ctx.ip, which every per-IP limit uses, is set
 * here once per request, reading X-Forwarded-For only as far as TRUST_PROXY trusts its hops.
 */
export function koaApp(config: Pick<Config, 'TRUST_PROXY'>): Koa {
  const app = new Koa();
  app.use(clientIp(config.TRUST_PROXY));
  return app;
}

function clientIp(trust: Config['TRUST_PROXY']): Middleware {
  // Untrusting, Koa's ctx.ip is the socket's peer address.
  if (trust === false) return (_ctx, next) => next();
  // A hop count trusts the socket's peer and the entries it (and each trusted hop) appended.
  const trusted = typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : proxyaddr.compile(trust);
  return (ctx, next) => {
    ctx.request.ip = proxyaddr(ctx.req, trusted);
    return next();
  };
}

export function security(deps: Pick<Deps, 'config' | 'limits'>): Middleware[] {
  const allowed = new Set(deps.config.CORS_ORIGINS);
  return [
    helmet({
      contentSecurityPolicy: {
        // No upgrade-insecure-requests: a self-hosted server is often reached over plain HTTP on a LAN.
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'", 'ws:', 'wss:'],
          upgradeInsecureRequests: null,
        },
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
