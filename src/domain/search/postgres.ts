// Postgres full-text search: the default engine, always available. Matching uses the generated
// `messages.tsv` column (GIN-indexed, so a message is searchable the moment it is committed and
// edits/deletes apply at once). One statement computes the matches once (materialized CTE) and
// derives the page, the total and both facet counts from them.
import type { Db } from '../../infra/db.js';
import { emptyResult, type SearchEngine, type SearchParams, type SearchResult, type SearchScope } from './engine.js';
import { distinctWords, lexemesMatch, markWords, parseTsquery } from './highlight.js';
import { toMessage, type MessageRow } from './message.js';
import { splitQuery } from './query.js';
import { readableChats } from './scope.js';

// Relevance dominates; recency breaks near-ties (a week-old message weighs half a new one).
// ts_rank normalization 32 maps rank into [0, 1) so the two terms are comparable.
const SCORE = `0.8 * ts_rank(m.tsv, q.tsq, 32) + 0.2 / (1 + extract(epoch from (now() - m.created_at)) / 604800.0)`;

/**
 * Only the newest RANK_WINDOW matches (or offset + limit, if more) are scored. ts_rank reads
 * every candidate's tsvector and was ~40% of a common word's cost; a query with fewer matches
 * (almost every specific one) is ranked in full, and total and facets always count every match.
 */
export const RANK_WINDOW = 2000;

interface Row {
  total: number;
  chat_facets: Record<string, number>;
  sender_facets: Record<string, number>;
  tsq: string | null;
  hits: Array<MessageRow & { created_ms: number; edited_ms: number | null }>;
}

export class PostgresSearch implements SearchEngine {
  readonly name = 'postgres' as const;
  constructor(private readonly db: Db) {}

  async search(scope: SearchScope, params: SearchParams): Promise<SearchResult> {
    const { websearch, prefix } = splitQuery(params.q);
    const tsq = prefix === null
      ? this.db.raw(`websearch_to_tsquery('english', ?)`, [websearch])
      : this.db.raw(`websearch_to_tsquery('english', ?) && to_tsquery('english', ? || ':*')`, [websearch, prefix]);

    const filters = this.db.queryBuilder()
      .from({ m: 'messages' })
      .crossJoin(this.db.raw('q'))
      .select('m.id', 'm.chat_id', 'm.sender_id', 'm.created_at')
      .where('m.workspace_id', scope.workspace_id)
      .whereNull('m.deleted_at')
      .whereRaw('m.tsv @@ q.tsq')
      .whereIn('m.chat_id', readableChats(this.db, scope));
    if (params.chat_id) filters.where('m.chat_id', params.chat_id);
    if (params.sender_id) filters.where('m.sender_id', params.sender_id);
    if (params.from) filters.where('m.created_at', '>=', params.from);
    if (params.to) filters.where('m.created_at', '<=', params.to);

    const { rows } = await this.db.raw<{ rows: Row[] }>(
      `with q as (select ? as tsq),
        matches as materialized (?),
        candidates as (select id from matches order by created_at desc, id desc limit ?),
        page as (
          select m.id, m.created_at, ${SCORE} as score from candidates c join messages m on m.id = c.id cross join q
          order by score desc, m.created_at desc, m.id desc limit ? offset ?)
      select
        (select count(*)::int from matches) as total,
        (select coalesce(jsonb_object_agg(chat_id::text, n), '{}') from (select chat_id, count(*)::int as n from matches group by chat_id) f) as chat_facets,
        (select coalesce(jsonb_object_agg(sender_id::text, n), '{}') from (select sender_id, count(*)::int as n from matches group by sender_id) f) as sender_facets,
        (select tsq::text from q) as tsq,
        (select coalesce(json_agg(json_build_object(
            'id', m.id, 'chat_id', m.chat_id::text, 'workspace_id', m.workspace_id::text, 'seq', m.seq,
            'sender_id', m.sender_id::text, 'content', m.content, 'client_id', m.client_id, 'reply_to', m.reply_to,
            'created_ms', extract(epoch from m.created_at) * 1000, 'edited_ms', extract(epoch from m.edited_at) * 1000
          ) order by p.score desc, p.created_at desc, p.id desc), '[]')
          from page p join messages m on m.id = p.id) as hits`,
      [tsq, filters, Math.max(RANK_WINDOW, params.offset + params.limit), params.limit, params.offset],
    );
    const row = rows[0];
    if (!row || row.total === 0) return emptyResult();

    const contents = row.hits.map((h) => h.content);
    const matches = await this.wordMatcher(row.tsq ?? '', contents);
    return {
      total: row.total,
      facets: { chat_id: row.chat_facets, sender_id: row.sender_facets },
      hits: row.hits.map((h) => ({
        message: toMessage({ ...h, created_at: new Date(h.created_ms), edited_at: h.edited_ms === null ? null : new Date(h.edited_ms), deleted_at: null }),
        highlight: markWords(h.content, matches),
      })),
    };
  }

  /**
   * Which content words match the query, decided by Postgres' own stemmer: the distinct words
   * of the page are turned into lexemes in one round trip and compared with the query's lexemes.
   */
  private async wordMatcher(tsqText: string, contents: string[]): Promise<(word: string) => boolean> {
    const terms = parseTsquery(tsqText);
    const words = distinctWords(contents);
    if (words.length === 0 || (terms.exact.size === 0 && terms.prefixes.length === 0)) return () => false;
    const { rows } = await this.db.raw<{ rows: Array<{ w: string; lexemes: string[] }> }>(
      `select w, tsvector_to_array(to_tsvector('english', w)) as lexemes from unnest(?::text[]) as w`,
      [words],
    );
    const matched = new Set(rows.filter((r) => lexemesMatch(r.lexemes, terms)).map((r) => r.w));
    return (word) => matched.has(word);
  }
}
