// Full-text search and its analytics.
//  method  path                               guard  limit
//  GET     /workspaces/:wid/search            user   search
//  GET     /workspaces/:wid/search/analytics  user (admin+)
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { searchAnalytics } from '../../domain/search/analytics.js';
import { MATCH_WINDOW, searchMessages } from '../../domain/search/index.js';
import { id, idParams, route, type RouteSpec } from '../route.js';
import { messageSchema } from './messages.js';

const workspaceParams = idParams('wid');
// A full ISO-8601 timestamp with an offset, or a calendar date (UTC) taken as a whole day:
// `from` starts at its first millisecond, `to` includes its last.
const instant = (edge: 'start' | 'end') =>
  z.union([z.iso.datetime({ offset: true }), z.iso.date()]).transform((v) => new Date(v.length === 10 && edge === 'end' ? `${v}T23:59:59.999Z` : v));
const searchQuery = z
  .object({
    q: z
      .string()
      .min(1)
      .max(200)
      .refine((v) => v.trim().length > 0, 'must contain a non-blank character'),
    chat_id: id.optional(),
    sender_id: id.optional(),
    from: instant('start').optional(),
    to: instant('end').optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    offset: z.coerce.number().int().min(0).max(10_000).default(0),
  })
  .refine((v) => !v.from || !v.to || v.from <= v.to, { message: 'from must not be after to', path: ['from'] });

const counts = z.record(z.string(), z.number().int());
const searchResponse = z.object({
  hits: z.array(z.object({ message: messageSchema, highlight: z.string().describe('The whole content, HTML-escaped, matches wrapped in <mark>') })),
  total: z.number().int().describe('Matches counted; a lower bound when total_exact is false'),
  total_exact: z
    .boolean()
    .describe(
      `False when not every match was counted: Postgres counts the newest ${MATCH_WINDOW} (or offset + limit, if more) and the facets count the same set; Meilisearch may estimate`,
    ),
  facets: z.object({ chat_id: counts, sender_id: counts }),
  took_ms: z.number(),
  engine: z.enum(['postgres', 'meilisearch']),
});
const queryCount = z.object({ query: z.string(), count: z.number().int() });
const analyticsResponse = z.object({
  period: z.object({ from: z.string(), to: z.string() }),
  total_queries: z.number().int(),
  top_queries: z.array(queryCount),
  zero_result_queries: z.array(queryCount),
  latency_ms: z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() }),
});

export function searchRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/workspaces/:wid/search',
      guard: 'user',
      tag: 'search',
      limit: 'search',
      summary: 'Search the messages I can read: words, "phrases", -exclusion; the last word matches as a prefix',
      params: workspaceParams,
      query: searchQuery,
      responses: {
        200: { description: 'Ranked hits with the total and facet counts (capped: see total_exact)', schema: searchResponse },
        404: { description: 'Not a member of the workspace' },
      },
      handler: async ({ user, params, query }) => ({ status: 200, body: await searchMessages(deps, user.id, params.wid, query) }),
    }),
    route({
      method: 'get',
      path: '/workspaces/:wid/search/analytics',
      guard: 'user',
      tag: 'search',
      summary: 'Top queries, zero-result queries and latency percentiles over the last period_days (admin+)',
      params: workspaceParams,
      query: z.object({
        period_days: z.coerce.number().int().min(1).max(365).default(7),
        limit: z.coerce.number().int().min(1).max(100).default(10),
      }),
      responses: {
        200: { description: 'Aggregates', schema: analyticsResponse },
        403: { description: 'Below admin' },
        404: { description: 'Not a member of the workspace' },
      },
      handler: async ({ user, params, query }) => ({ status: 200, body: await searchAnalytics(deps, user.id, params.wid, query.period_days, query.limit) }),
    }),
  ];
}
