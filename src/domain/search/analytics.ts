// Search analytics: every query is recorded in search_queries, and admins read aggregates
// (top queries, zero-result queries, latency percentiles) computed in SQL.
import type { Deps } from '../../deps.js';
import { accessWorkspace } from '../access.js';
import type { EngineName, SearchParams } from './engine.js';

export interface SearchLogEntry {
  workspace_id: string;
  user_id: string;
  params: SearchParams;
  hits: number;
  took_ms: number;
  engine: EngineName;
}

/**
 * Records a search in the background: the caller never waits for it and a failure is only
 * logged, so analytics can never slow down or fail a search.
 */
export function logSearch(deps: Pick<Deps, 'db' | 'log'>, entry: SearchLogEntry): void {
  const { q, chat_id, sender_id, from, to } = entry.params;
  const filters = Object.fromEntries(
    Object.entries({ chat_id, sender_id, from: from?.toISOString(), to: to?.toISOString() }).filter(([, v]) => v !== undefined),
  );
  void deps
    .db('search_queries')
    .insert({ workspace_id: entry.workspace_id, user_id: entry.user_id, query: q, filters, hits: entry.hits, took_ms: entry.took_ms, engine: entry.engine })
    .catch((err) => deps.log.warn({ err }, 'could not record search query for analytics'));
}

export interface QueryCount {
  query: string;
  count: number;
}

export interface SearchAnalytics {
  period: { from: string; to: string };
  total_queries: number;
  top_queries: QueryCount[];
  zero_result_queries: QueryCount[];
  /** Null when there were no queries in the period. */
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
}

/**
 * Aggregates of the last `periodDays` days (admin+). Queries are grouped case- and
 * space-insensitively, shown in lower case.
 */
export async function searchAnalytics(deps: Deps, userId: string, workspaceId: string, periodDays: number, top = 10): Promise<SearchAnalytics> {
  await accessWorkspace(deps, userId, workspaceId, 'admin');
  const to = new Date();
  const from = new Date(to.getTime() - periodDays * 86_400_000);
  const { rows } = await deps.db.raw(
    `with period as (
        select lower(btrim(regexp_replace(query, '\\s+', ' ', 'g'))) as query, hits, took_ms
        from search_queries where workspace_id = ? and created_at >= ? and created_at <= ?
      )
      select
        (select count(*)::int from period) as total_queries,
        (select coalesce(json_agg(t), '[]') from
          (select query, count(*)::int as count from period group by query order by count(*) desc, query limit ?) t) as top_queries,
        (select coalesce(json_agg(t), '[]') from
          (select query, count(*)::int as count from period where hits = 0 group by query order by count(*) desc, query limit ?) t) as zero_result_queries,
        (select json_build_object(
            'p50', percentile_cont(0.5) within group (order by took_ms),
            'p95', percentile_cont(0.95) within group (order by took_ms),
            'p99', percentile_cont(0.99) within group (order by took_ms)) from period) as latency_ms`,
    [workspaceId, from, to, top, top],
  );
  const row = rows[0];
  const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  return {
    period: { from: from.toISOString(), to: to.toISOString() },
    total_queries: row.total_queries,
    top_queries: row.top_queries,
    zero_result_queries: row.zero_result_queries,
    latency_ms: { p50: round(row.latency_ms.p50), p95: round(row.latency_ms.p95), p99: round(row.latency_ms.p99) },
  };
}
