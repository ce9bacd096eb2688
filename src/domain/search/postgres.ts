// Postgres full-text search: the default engine, always available. Matching uses the generated
// `messages.tsv` column (GIN-indexed, so a message is searchable the moment it is committed and
// edits/deletes apply at once). The caller's readable chats are read first and passed as values,
// so the planner knows how much of the table they cover, and the word being typed is expanded
// into the whole lexemes of the workspace it starts (prefix.ts); then one statement takes the newest
// matches (at most MATCH_WINDOW of them), ranks them for the page and counts them for the total
// and both facets. Highlighting asks Postgres for the lexemes of the page's words, which each
// process caches.
import type { Db } from '../../infra/db.js';
import { emptyResult, type SearchEngine, type SearchParams, type SearchResult, type SearchScope } from './engine.js';
import { distinctWords, lexemesMatch, markWords, parseTsquery } from './highlight.js';
import { toMessage, type MessageRow } from './message.js';
import { expandPrefix, NO_LEXEME } from './prefix.js';
import { splitQuery } from './query.js';
import { readableChatIds } from './scope.js';

// Relevance dominates; recency breaks near-ties (a week-old message weighs half a new one).
// ts_rank normalization 32 maps rank into [0, 1) so the two terms are comparable.
const SCORE = `0.8 * ts_rank(m.tsv, ?, 32) + 0.2 / (1 + extract(epoch from (now() - m.created_at)) / 604800.0)`;

/**
 * Only the newest MATCH_WINDOW matches (or offset + limit, if more) are ranked, counted and
 * faceted, the way search engines cap their totals (Elasticsearch's track_total_hits). Beyond
 * it `total` is that window and `total_exact` false. Shaped as `order by created_at desc limit`,
 * the query lets the planner walk (workspace_id, created_at) or (chat_id, created_at) newest
 * first and stop at the window for a common word, or read a rare word's few GIN matches; it never
 * visits every match of a word found in half of all messages. The walk assumes matches spread
 * over time: a word common long ago but absent lately reads back to its matches. The walk grows
 * with the window; 1000 (GitHub's and Meilisearch's default cap too) meets the bench's target on
 * 1M messages (bench/search.ts).
 */
export const MATCH_WINDOW = 1000;

/** Words whose lexemes a process keeps for highlighting (a few MB at most). */
const LEXEME_CACHE_WORDS = 20_000;

interface Row {
  matched: number;
  chat_facets: Record<string, number>;
  sender_facets: Record<string, number>;
  tsq: string | null;
  hits: Array<MessageRow & { created_ms: number; edited_ms: number | null; last_reply_ms: number | null }>;
}

export class PostgresSearch implements SearchEngine {
  readonly name = 'postgres' as const;
  private readonly lexemes = new Map<string, string[]>();
  constructor(private readonly db: Db) {}

  /**
   * `db`: where the matching runs (the prefix expansion and the one statement), e.g. a replica
   * (infra/replicas.ts); the readable chats are always read from the primary.
   */
  async search(scope: SearchScope, params: SearchParams, db: Db = this.db): Promise<SearchResult> {
    const chats = await this.searchableChats(scope, params.chat_id);
    if (chats.length === 0) return emptyResult();
    const { websearch, prefix } = splitQuery(params.q);
    const expansion = prefix === null ? null : await expandPrefix(db, scope.workspace_id, prefix);
    if (expansion === NO_LEXEME) return emptyResult();
    const tsq =
      prefix === null
        ? db.raw(`websearch_to_tsquery('english', ?)`, [websearch])
        : expansion === null
          ? db.raw(`(websearch_to_tsquery('english', ?) && to_tsquery('english', ? || ':*'))`, [websearch, prefix])
          : db.raw(`(websearch_to_tsquery('english', ?) && ?::tsquery)`, [websearch, expansion]);
    const window = Math.max(MATCH_WINDOW, params.offset + params.limit);

    // One more than the window tells whether the count is exact. tsv is carried along so that
    // ts_rank runs on the window only, not on every match a bitmap scan sorts.
    const matches = db
      .queryBuilder()
      .from({ m: 'messages' })
      .select('m.id', 'm.chat_id', 'm.sender_id', 'm.created_at', 'm.tsv')
      .where('m.workspace_id', scope.workspace_id)
      .whereNull('m.deleted_at')
      .whereRaw('m.tsv @@ ?', [tsq])
      .orderBy([
        { column: 'm.created_at', order: 'desc' },
        { column: 'm.id', order: 'desc' },
      ])
      .limit(window + 1);
    // One chat as an equality, so the planner can walk (chat_id, created_at); = any() does not.
    if (chats.length === 1) matches.where('m.chat_id', chats[0]);
    else matches.whereRaw('m.chat_id = any(?::bigint[])', [chats]);
    if (params.sender_id) matches.where('m.sender_id', params.sender_id);
    if (params.from) matches.where('m.created_at', '>=', params.from);
    if (params.to) matches.where('m.created_at', '<=', params.to);

    const { rows } = await db.raw<{ rows: Row[] }>(
      `with matches as materialized (?),
        counted as (select m.id, m.chat_id, m.sender_id, m.created_at, ${SCORE} as score from matches m order by created_at desc, id desc limit ?),
        page as (select id, score, created_at from counted order by score desc, created_at desc, id desc limit ? offset ?)
      select
        (select count(*)::int from matches) as matched,
        (select coalesce(jsonb_object_agg(chat_id::text, n), '{}') from (select chat_id, count(*)::int as n from counted group by chat_id) f) as chat_facets,
        (select coalesce(jsonb_object_agg(sender_id::text, n), '{}') from (select sender_id, count(*)::int as n from counted group by sender_id) f) as sender_facets,
        ?::text as tsq,
        (select coalesce(json_agg(json_build_object(
            'id', m.id, 'chat_id', m.chat_id::text, 'workspace_id', m.workspace_id::text, 'seq', m.seq,
            'sender_id', m.sender_id::text, 'content', m.content, 'client_id', m.client_id, 'reply_to', m.reply_to, 'mentions', m.mentions,
            'thread_root_id', m.thread_root_id, 'reply_count', m.reply_count, 'rendered', m.rendered, 'link_previews', m.link_previews,
            'last_reply_ms', extract(epoch from m.last_reply_at) * 1000,
            'created_ms', extract(epoch from m.created_at) * 1000, 'edited_ms', extract(epoch from m.edited_at) * 1000
          ) order by p.score desc, p.created_at desc, p.id desc), '[]')
          from page p join messages m on m.id = p.id) as hits`,
      [matches, tsq, window, params.limit, params.offset, tsq],
    );
    const row = rows[0];
    if (!row || row.matched === 0) return emptyResult();

    const contents = row.hits.map((h) => h.content);
    const words = await this.wordMatcher(row.tsq ?? '', contents);
    return {
      total: Math.min(row.matched, window),
      total_exact: row.matched <= window,
      facets: { chat_id: row.chat_facets, sender_id: row.sender_facets },
      hits: row.hits.map((h) => ({
        message: toMessage({
          ...h,
          created_at: new Date(h.created_ms),
          edited_at: h.edited_ms === null ? null : new Date(h.edited_ms),
          last_reply_at: h.last_reply_ms === null ? null : new Date(h.last_reply_ms),
          deleted_at: null,
        }),
        highlight: markWords(h.content, words),
      })),
    };
  }

  /** The readable chats, narrowed to `chatId` when one is asked for (none if it is not readable). */
  private async searchableChats(scope: SearchScope, chatId?: string): Promise<string[]> {
    const readable = await readableChatIds(this.db, scope);
    return chatId === undefined ? readable : readable.filter((id) => id === chatId);
  }

  /**
   * Which content words match the query, decided by Postgres' own stemmer: the distinct words
   * of the page are turned into lexemes and compared with the query's lexemes.
   */
  private async wordMatcher(tsqText: string, contents: string[]): Promise<(word: string) => boolean> {
    const terms = parseTsquery(tsqText);
    const words = distinctWords(contents);
    if (words.length === 0 || (terms.exact.size === 0 && terms.prefixes.length === 0)) return () => false;
    await this.loadLexemes(words);
    const matched = new Set(words.filter((w) => lexemesMatch(this.lexemes.get(w) ?? [], terms)));
    return (word) => matched.has(word);
  }

  /**
   * Looks up, in one round trip, the lexemes of the words not in the cache. A word's lexemes
   * never change and pages repeat most words, so most searches need no look-up at all.
   */
  private async loadLexemes(words: string[]): Promise<void> {
    const missing = words.filter((w) => !this.lexemes.has(w));
    if (missing.length === 0) return;
    const { rows } = await this.db.raw<{ rows: Array<{ w: string; lexemes: string[] }> }>(
      `select w, tsvector_to_array(to_tsvector('english', w)) as lexemes from unnest(?::text[]) as w`,
      [missing],
    );
    for (const r of rows) this.lexemes.set(r.w, r.lexemes);
    // Oldest out first (a Map iterates in insertion order); a page's words are far fewer than the cap.
    for (const w of this.lexemes.keys()) {
      if (this.lexemes.size <= LEXEME_CACHE_WORDS) break;
      this.lexemes.delete(w);
    }
  }
}
