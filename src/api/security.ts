// Security middleware for every HTTP response: the client IP (TRUST_PROXY), headers (helmet),
// CORS from an allow-list, and the per-IP request limit that applies to everything (routes add
// their own, stricter ones).
import cors from '@koa/cors';
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';
import Koa, { type Middleware } from 'koa';
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
  const headers = helmetHeaders(HELMET);
  const secure: Middleware = (ctx, next) => {
    ctx.set(headers);
    return next();
  };
  const perIp: Middleware = async (ctx, next) => {
    // Health probes and metrics scrapes are never limited: they must keep answering under load.
    if (!ctx.path.startsWith('/health/') && ctx.path !== '/metrics') await deps.limits.consume('ip', ctx.ip);
    await next();
  };
  // Without allowed origins no answer depends on Origin: no CORS middleware, not even its Vary.
  return deps.config.CORS_ORIGINS.length ? [secure, corsFor(deps.config.CORS_ORIGINS), perIp] : [secure, perIp];
}

function corsFor(origins: string[]): Middleware {
  const allowed = new Set(origins);
  return cors({
    // An origin not on the list gets no CORS headers, so browsers keep it same-origin.
    origin: (ctx) => (allowed.has(ctx.get('origin')) ? ctx.get('origin') : ''),
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'X-Request-Id'],
    exposeHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600,
  });
}

/** helmet's options; the web chat and the docs page need nothing beyond 'self'. */
export const HELMET: HelmetOptions = {
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
};

/**
 * The headers helmet sets, computed once: with no per-request directives (nonces) they are the
 * same on every response, and building them per request (CSP's string, a dozen setHeader calls
 * through a promisified Express middleware) cost more than a send's own validation.
 */
function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => (headers[name] = String(value)),
    removeHeader: () => {},
  };
  let done = false;
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
    done = true;
  });
  if (!done) throw new Error('helmet did not finish synchronously');
  return headers;
}
