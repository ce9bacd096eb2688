// Bull Board at /admin/queues: every queue's waiting, active, delayed and failed jobs (with the
// failure reason), behind admin credentials: HTTP Basic with ADMIN_USER/ADMIN_PASSWORD, or the
// bearer token of a user with users.is_admin. Anything else is 401 with WWW-Authenticate, so
// a browser asks for the password.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Context, Middleware } from 'koa';
import type { Deps } from '../deps.js';
import { UnauthenticatedError } from '../domain/errors.js';
import { verifyAccessToken } from '../domain/tokens.js';
import { QUEUE_NAMES } from '../infra/queues.js';

export const ADMIN_QUEUES_PATH = '/admin/queues';

/** Compares digests, so neither the length nor the content of the secret leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

async function isAdmin(deps: Deps, ctx: Pick<Context, 'get'>): Promise<boolean> {
  const header = ctx.get('authorization');
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (basic) {
    const { ADMIN_USER, ADMIN_PASSWORD } = deps.config;
    if (!ADMIN_USER || !ADMIN_PASSWORD) return false;
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    // Both compared, always: no early exit that tells a right user name from a wrong one.
    const userOk = sameSecret(decoded.slice(0, colon), ADMIN_USER);
    const passwordOk = sameSecret(decoded.slice(colon + 1), ADMIN_PASSWORD);
    return userOk && passwordOk;
  }
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) {
    let userId: string;
    try {
      userId = verifyAccessToken(deps.tokens, bearer[1]).id;
    } catch {
      return false;
    }
    const row = await deps.db('users').where({ id: userId }).first('is_admin');
    return row?.is_admin === true;
  }
  return false;
}

/** Koa middleware serving Bull Board under /admin/queues to admins; other paths pass through. */
export function adminQueues(deps: Deps): Middleware {
  const serverAdapter = new KoaAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  // @bull-board/koa pins its own copy of @bull-board/api; the classes match at run time, only
  // their private fields make the two declarations distinct types.
  type ServerAdapter = Parameters<typeof createBullBoard>[0]['serverAdapter'];
  createBullBoard({ queues: QUEUE_NAMES.map((name) => new BullMQAdapter(deps.queues[name])), serverAdapter: serverAdapter as unknown as ServerAdapter });
  const board = serverAdapter.registerPlugin();
  return async (ctx, next) => {
    if (ctx.path !== ADMIN_QUEUES_PATH && !ctx.path.startsWith(`${ADMIN_QUEUES_PATH}/`)) return next();
    if (!(await isAdmin(deps, ctx))) {
      ctx.set('WWW-Authenticate', 'Basic realm="Fechatter admin", charset="UTF-8"');
      throw new UnauthenticatedError('Admin credentials are required.');
    }
    ctx.set('Cache-Control', 'no-store');
    await board(ctx, next);
  };
}
