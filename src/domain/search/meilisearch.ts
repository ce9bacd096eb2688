// Meilisearch: the engine for scale, used when MEILISEARCH_URL is set. Postgres stays the source
// of truth: documents are (re)built from message rows by the `search` queue worker and by
// `fechatter reindex`, and each page of hits is re-read from Postgres so a message deleted after
// it was indexed is never returned. The circuit breaker around search calls lives in index.ts.
import { Meilisearch, type Index } from 'meilisearch';
import type { Config } from '../../config.js';
import type { Db } from '../../infra/db.js';
import { emptyResult, type SearchEngine, type SearchParams, type SearchResult, type SearchScope } from './engine.js';
import { escapeHtml, fromTaggedContent, MEILI_POST, MEILI_PRE } from './highlight.js';
import { messagesByIds, toMessage, type MessageRow } from './message.js';
import { readableChatIds } from './scope.js';

/** One document per live message. Ids are strings (as in the API); created_at is epoch ms so it can be range-filtered. */
export interface MessageDocument {
  id: string;
  chat_id: string;
  workspace_id: string;
  sender_id: string;
  seq: number;
  content: string;
  created_at: number;
}

const MAX_OFFSET = 10_000;
const MAX_LIMIT = 100;

/** `messages`, prefixed per REDIS_PREFIX so deployments (and test files) sharing a server are isolated. */
export function indexUid(config: Pick<Config, 'REDIS_PREFIX'>): string {
  const prefix = config.REDIS_PREFIX.replace(/[^A-Za-z0-9_-]/g, '_');
  return prefix === 'fechatter' ? 'messages' : `${prefix}_messages`;
}

export function createMeiliClient(config: Pick<Config, 'MEILISEARCH_URL' | 'MEILISEARCH_KEY'>, timeoutMs = 2000): Meilisearch {
  if (!config.MEILISEARCH_URL) throw new Error('MEILISEARCH_URL is not set');
  return new Meilisearch({ host: config.MEILISEARCH_URL, apiKey: config.MEILISEARCH_KEY, timeout: timeoutMs });
}

/**
 * Creates the index and applies its settings. Idempotent: run at every start (worker, first
 * search, reindex); unchanged settings are a no-op task in Meilisearch.
 */
export async function ensureIndex(client: Meilisearch, uid: string): Promise<Index<MessageDocument>> {
  const created = await client.createIndex(uid, { primaryKey: 'id' }).waitTask({ timeout: 30_000 });
  if (created.status === 'failed' && created.error?.code !== 'index_already_exists') {
    throw new Error(`creating Meilisearch index ${uid}: ${created.error?.message}`);
  }
  const index = client.index<MessageDocument>(uid);
  const task = await index
    .updateSettings({
      searchableAttributes: ['content'],
      filterableAttributes: ['workspace_id', 'chat_id', 'sender_id', 'created_at'],
      sortableAttributes: ['created_at'],
      // Relevance first, then recency (the Postgres engine mixes the two the same way round).
      rankingRules: ['words', 'typo', 'proximity', 'attribute', 'sort', 'exactness', 'created_at:desc'],
      pagination: { maxTotalHits: MAX_OFFSET + MAX_LIMIT },
      faceting: { maxValuesPerFacet: 1000 },
    })
    .waitTask({ timeout: 60_000 });
  if (task.status === 'failed') throw new Error(`Meilisearch settings for ${uid}: ${task.error?.message}`);
  return index;
}

export function toDocument(row: MessageRow): MessageDocument {
  return {
    id: row.id,
    chat_id: String(row.chat_id),
    workspace_id: String(row.workspace_id),
    sender_id: String(row.sender_id),
    seq: Number(row.seq),
    content: row.content,
    created_at: new Date(row.created_at).getTime(),
  };
}

/**
 * Brings the documents of `messageIds` up to date with Postgres: live messages are upserted,
 * deleted or missing ones removed. Re-reading makes it idempotent and order-insensitive, so a
 * stale or retried job does the right thing. Resolves once Meilisearch has applied both tasks.
 */
export async function syncDocuments(db: Db, index: Index<MessageDocument>, messageIds: string[]): Promise<{ upserted: number; deleted: number }> {
  const ids = [...new Set(messageIds)];
  const rows = await messagesByIds(db, ids);
  const live = rows.filter((r) => r.deleted_at === null);
  const liveIds = new Set(live.map((r) => r.id));
  const gone = ids.filter((id) => !liveIds.has(id));
  const tasks = [];
  if (live.length) tasks.push(index.addDocuments(live.map(toDocument)).waitTask({ timeout: 60_000 }));
  if (gone.length) tasks.push(index.deleteDocuments(gone).waitTask({ timeout: 60_000 }));
  for (const task of await Promise.all(tasks)) {
    if (task.status === 'failed') throw new Error(`Meilisearch task ${task.uid} failed: ${task.error?.message}`);
  }
  return { upserted: live.length, deleted: gone.length };
}

const quoted = (v: string) => JSON.stringify(v);

export class MeiliSearchEngine implements SearchEngine {
  readonly name = 'meilisearch' as const;
  constructor(
    private readonly db: Db,
    private readonly index: () => Promise<Index<MessageDocument>>,
  ) {}

  async search(scope: SearchScope, params: SearchParams): Promise<SearchResult> {
    const readable = await readableChatIds(this.db, scope);
    if (readable.length === 0) return emptyResult();
    // The permission filter is part of the query, like in Postgres: facets only count readable chats.
    const filter = [`workspace_id = ${quoted(scope.workspace_id)}`, `chat_id IN [${readable.map(quoted).join(', ')}]`];
    if (params.chat_id) filter.push(`chat_id = ${quoted(params.chat_id)}`);
    if (params.sender_id) filter.push(`sender_id = ${quoted(params.sender_id)}`);
    if (params.from) filter.push(`created_at >= ${params.from.getTime()}`);
    if (params.to) filter.push(`created_at <= ${params.to.getTime()}`);

    // Page-based pagination gives an exact total; offsets that are not a multiple of the limit
    // fall back to offset/limit and Meilisearch's estimate.
    const paging =
      params.offset % params.limit === 0
        ? { page: params.offset / params.limit + 1, hitsPerPage: params.limit }
        : { offset: params.offset, limit: params.limit };
    const index = await this.index();
    const res = await index.search(params.q, {
      ...paging,
      filter: filter.join(' AND '),
      facets: ['chat_id', 'sender_id'],
      matchingStrategy: 'all',
      attributesToHighlight: ['content'],
      highlightPreTag: MEILI_PRE,
      highlightPostTag: MEILI_POST,
    });
    const exact = (res as { totalHits?: number }).totalHits;
    const total = exact ?? (res as { estimatedTotalHits?: number }).estimatedTotalHits ?? res.hits.length;

    // Postgres is the truth for what the page shows: a message deleted since it was indexed is dropped.
    const rows = new Map(
      (
        await messagesByIds(
          this.db,
          res.hits.map((h) => h.id),
        )
      ).map((r) => [r.id, r]),
    );
    const hits = res.hits.flatMap((hit) => {
      const row = rows.get(hit.id);
      if (!row || row.deleted_at !== null) return [];
      const formatted = hit._formatted?.content;
      return [{ message: toMessage(row), highlight: typeof formatted === 'string' ? fromTaggedContent(row.content, formatted) : escapeHtml(row.content) }];
    });
    const facet = (name: string) => res.facetDistribution?.[name] ?? {};
    return { hits, total, total_exact: exact !== undefined, facets: { chat_id: facet('chat_id'), sender_id: facet('sender_id') } };
  }
}
