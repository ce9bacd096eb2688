// Route tables. Every routes file exports a list of RouteSpec: method, path, guard, schemas and a
// thin handler. The same specs mount the Koa router and generate the OpenAPI document, so the
// published contract cannot drift from what is validated.
import type Router from '@koa/router';
// ParameterizedContext, not Context: koa-websocket's types add a required `websocket` to Context.
import type { ParameterizedContext as Context } from 'koa';
import { z } from 'zod';
import { NotFoundError, UnauthenticatedError, ValidationError } from '../errors.js';
import type { AuthUser } from '../domain/tokens.js';
import { readJsonBody } from './body.js';
import type { LimitName, Limits } from '../infra/rate-limit.js';
import type { Breaker } from '../infra/breaker.js';

export type Guard = 'public' | 'user';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteInput<B, Q, P, G extends Guard> {
  body: B;
  query: Q;
  params: P;
  user: G extends 'user' ? AuthUser : AuthUser | undefined;
  ctx: Context;
}

export interface RouteSpec<B = unknown, Q = unknown, P = unknown, G extends Guard = Guard> {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Koa-router path below the mount prefix, e.g. `/chats/:cid/messages`. */
  path: string;
  guard: G;
  summary: string;
  tag: string;
  params?: z.ZodType<P>;
  body?: z.ZodType<B>;
  /** A route that reads the request stream itself (uploads): what the bytes are, for the OpenAPI document. */
  rawBody?: string;
  query?: z.ZodType<Q>;
  /** Rate limit spent before the handler runs: `auth` per client IP, the others per user. */
  limit?: Extract<LimitName, 'auth' | 'write' | 'typing' | 'search'>;
  /** Status -> description and (optionally) response schema, for the OpenAPI document. */
  responses: Record<number, { description: string; schema?: z.ZodType; binary?: boolean }>;
  handler: (input: RouteInput<B, Q, P, G>) => Promise<Reply>;
}

/** Keeps each spec's generic types while collecting them in one array. */
export function route<B = undefined, Q = undefined, P = Record<string, never>, G extends Guard = 'user'>(spec: RouteSpec<B, Q, P, G>): RouteSpec {
  return spec as unknown as RouteSpec;
}

/** Path ids are digit strings; anything else cannot exist, so it is a 404, not a 400. */
export const id = z.string().regex(/^[1-9]\d{0,17}$/, 'must be an id');
export const idParams = <K extends string>(...keys: K[]) => z.object(Object.fromEntries(keys.map((k) => [k, id])) as Record<K, typeof id>);
/** Message ids are UUIDs (assigned by the API at accept time). */
export const messageIdParams = z.object({ mid: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i) });

export function zodDetails(error: z.ZodError) {
  return error.issues.map((issue) => ({
    field: issue.path.join('.') || undefined,
    code: issue.code,
    message: issue.message,
  }));
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(`Invalid ${where}.`, zodDetails(result.error));
  return result.data;
}

export interface MountOptions {
  authenticate: (ctx: Context) => Promise<AuthUser>;
  bodyLimit: number;
  /** How long a JSON body may take to arrive (REQUEST_TIMEOUT_MS; routes without bodies need none). */
  bodyTimeoutMs?: number;
  limits?: Limits;
  /** GET handlers (Postgres reads) run inside this breaker. */
  readBreaker?: Breaker;
}

export function mountRoutes(router: Router, specs: RouteSpec[], options: MountOptions): void {
  for (const spec of specs) {
    router[spec.method](spec.path, async (ctx) => {
      const user = spec.guard === 'user' ? await options.authenticate(ctx) : undefined;
      if (spec.limit && options.limits) await options.limits.consume(spec.limit, spec.limit === 'auth' || !user ? ctx.ip : user.id);
      const parsed = spec.params?.safeParse(ctx.params);
      if (parsed && !parsed.success) throw new NotFoundError();
      const params = parsed ? parsed.data : ctx.params;
      const query = parse(spec.query, ctx.query, 'query string');
      const raw = spec.body ? await readJsonBody(ctx, options.bodyLimit, options.bodyTimeoutMs ?? 15_000) : undefined;
      const body = parse(spec.body, raw, 'request body');
      const input = { body, query, params, user, ctx } as RouteInput<unknown, unknown, unknown, Guard>;
      const reply = spec.method === 'get' && options.readBreaker ? await options.readBreaker.run(() => spec.handler(input)) : await spec.handler(input);
      ctx.status = reply.status;
      if (reply.headers) ctx.set(reply.headers);
      if (reply.body !== undefined) ctx.body = reply.body;
    });
  }
}

/** Bearer token from the Authorization header, or (for browsers' WebSocket/EventSource) `access_token`. */
export function bearerToken(ctx: Pick<Context, 'get' | 'query'>, allowQuery: boolean): string {
  const header = ctx.get('authorization');
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new UnauthenticatedError('The Authorization header must be "Bearer <token>".');
    return match[1];
  }
  const query = allowQuery ? ctx.query.access_token : undefined;
  if (typeof query === 'string' && query) return query;
  throw new UnauthenticatedError();
}
