// Serves the built web chat (web/dist, see web/) at `/`, with a fallback to index.html for
// any other page path so deep links work. API, ops and admin paths are never answered here:
// mounted after the routers, it only sees requests they left unanswered.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Middleware } from 'koa';
import serve from 'koa-static';
import { packageRoot } from '../version.js';

export const WEB_ROOT = path.join(packageRoot, 'web', 'dist');

const NOT_PAGES = /^\/(api|health|metrics|admin)(\/|$)/;

export function webApp(root = WEB_ROOT): Middleware {
  if (!existsSync(path.join(root, 'index.html'))) {
    // No build (e.g. a fresh clone before `npm run build`): the API still works.
    return async (_ctx, next) => next();
  }
  // Hashed assets can be cached for good; index.html must always be revalidated.
  const files = serve(root, {
    index: 'index.html',
    maxage: 0,
    setHeaders: (res, file) => {
      if (file.includes(`${path.sep}assets${path.sep}`)) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      else res.setHeader('Cache-Control', 'no-cache');
    },
  });
  const fallback = serve(root, { index: 'index.html', maxage: 0, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') });
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || NOT_PAGES.test(ctx.path) || ctx.body !== undefined || ctx.status !== 404) return next();
    await files(ctx, async () => {});
    if (ctx.body !== undefined || ctx.status !== 404) return;
    // A page path (no file extension) that the SPA routes itself.
    if (!path.extname(ctx.path) && ctx.accepts('html')) {
      const original = ctx.path;
      ctx.path = '/';
      await fallback(ctx, async () => {});
      ctx.path = original;
      if (ctx.body !== undefined) return;
    }
    return next();
  };
}
