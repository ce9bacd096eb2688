// The web role's Koa app: composition only (request context, security, routers).
import Router from '@koa/router';
import type Koa from 'koa';
import type { Deps } from '../deps.js';
import { authenticate } from '../domain/sessions.js';
import type { Check } from '../observability/health.js';
import { version } from '../version.js';
import { adminQueues } from './admin.js';
import { docsPage, docsScript } from './docs-page.js';
import { requestContext } from './middleware.js';
import { buildOpenApi } from './openapi.js';
import { bearerToken, mountRoutes, type MountOptions } from './route.js';
import { apiRoutes } from './routes/index.js';
import { opsRoutes } from './routes/ops.js';
import { koaApp, security } from './security.js';
import { webApp } from './web.js';

export const API_PREFIX = '/api/v1';

export interface AppOptions {
  checks: Check[];
  /** Extra routers (the fanout's SSE endpoint in `all` mode) mounted before the web chat. */
  extra?: Router[];
}

export function createApiApp(deps: Deps, options: AppOptions): Koa {
  const app = koaApp(deps.config);
  const mount: MountOptions = {
    authenticate: async (ctx) => authenticate(deps, bearerToken(ctx, false)),
    bodyLimit: deps.config.BODY_LIMIT_BYTES,
    bodyTimeoutMs: deps.config.REQUEST_TIMEOUT_MS,
    limits: deps.limits,
    readBreaker: deps.readBreaker,
  };
  const ops = opsRoutes(options.checks, deps.config.METRICS_TOKEN);
  const api = apiRoutes(deps);
  const openapi = buildOpenApi(
    [
      { prefix: '', specs: ops },
      { prefix: API_PREFIX, specs: api },
    ],
    version,
  );

  const root = new Router();
  // Health and metrics must answer even while the read breaker is open.
  mountRoutes(root, ops, { ...mount, readBreaker: undefined });
  root.get(`${API_PREFIX}/openapi.json`, (ctx) => {
    ctx.body = openapi;
  });
  root.get('/api/docs', (ctx) => {
    ctx.type = 'html';
    ctx.body = docsPage;
  });
  root.get('/api/docs.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.body = docsScript;
  });
  const v1 = new Router({ prefix: API_PREFIX });
  mountRoutes(v1, api, mount);

  app.use(requestContext(deps.log, deps.redis));
  for (const middleware of security(deps)) app.use(middleware);
  app.use(adminQueues(deps));
  app.use(root.routes()).use(root.allowedMethods());
  app.use(v1.routes()).use(v1.allowedMethods());
  for (const router of options.extra ?? []) app.use(router.routes());
  // What nothing answered is a 404 in the error shape (requestContext).
  app.use(webApp());
  return app;
}
