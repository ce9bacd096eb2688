// Bull Board at /admin/queues: every queue's waiting, active, delayed and failed jobs (with the
// failure reason), behind admin credentials: HTTP Basic with ADMIN_USER/ADMIN_PASSWORD, or the
// bearer token of a user with users.is_admin. Anything else is 401 with WWW-Authenticate, so
// a browser asks for the password.
//
// Browsers replay Basic credentials on any request to this origin, a forged form's too, and a
// job added here is a message sent as anyone. So the board is read-only (no add, retry, promote,
// clean, pause) unless ADMIN_QUEUES_WRITABLE, and even then only same-origin requests may act.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Context, Middleware } from 'koa';
import type { Deps } from '../deps.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import { authenticate } from '../domain/sessions.js';
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
      userId = (await authenticate(deps, bearer[1])).id;
    } catch (err) {
      if (err instanceof UnauthenticatedError) return false;
      throw err;
    }
    const row = await deps.db('users').where({ id: userId }).first('is_admin');
    return row?.is_admin === true;
  }
  return false;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Whether the request's Origin (or, failing that, Referer) names this very host. */
function sameOrigin(ctx: Pick<Context, 'get' | 'host'>): boolean {
  const source = ctx.get('origin') || ctx.get('referer');
  try {
    return new URL(source).host === ctx.host;
  } catch {
    return false;
  }
}

/** Koa middleware serving Bull Board under /admin/queues to admins; other paths pass through. */
export function adminQueues(deps: Deps): Middleware {
  const writable = deps.config.ADMIN_QUEUES_WRITABLE;
  const serverAdapter = new KoaAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  // @bull-board/koa pins its own copy of @bull-board/api; the classes match at run time, only
  // their private fields make the two declarations distinct types.
  type ServerAdapter = Parameters<typeof createBullBoard>[0]['serverAdapter'];
  // readOnlyMode hides the actions and makes bull-board refuse them server-side (405).
  const queues = QUEUE_NAMES.map((name) => new BullMQAdapter(deps.queues[name], { readOnlyMode: !writable }));
  createBullBoard({ queues, serverAdapter: serverAdapter as unknown as ServerAdapter });
  const board = serverAdapter.registerPlugin();
  return async (ctx, next) => {
    if (ctx.path !== ADMIN_QUEUES_PATH && !ctx.path.startsWith(`${ADMIN_QUEUES_PATH}/`)) return next();
    if (!(await isAdmin(deps, ctx))) {
      ctx.set('WWW-Authenticate', 'Basic realm="Fechatter admin", charset="UTF-8"');
      throw new UnauthenticatedError('Admin credentials are required.');
    }
    // Our own gate too, so no board route (present or future) can change anything.
    if (!SAFE_METHODS.has(ctx.method)) {
      if (!writable) throw new ForbiddenError('The queue board is read-only (ADMIN_QUEUES_WRITABLE is off).');
      if (!sameOrigin(ctx)) throw new ForbiddenError('Queue board actions must come from the board itself (same origin).');
    }
    ctx.set('Cache-Control', 'no-store');
    await board(ctx, next);
  };
}
