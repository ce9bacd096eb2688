// The search engine contract shared by the Postgres (default) and Meilisearch implementations.
// Both answer the same question the same way: which readable, non-deleted messages match, the
// requested page ranked by relevance and recency, the total and the facet counts over the result
// set (or as much of it as the engine counts, said by `total_exact`), and each hit's content
// HTML-escaped with the matches wrapped in <mark>.
// See ARCHITECTURE.md ("Search") for how the engine is chosen and how indexing stays current.
import type { Role } from '../access.js';
import type { Message } from '../messages.js';

export type { Message };

export type EngineName = 'postgres' | 'meilisearch';

/** Who is searching where. The engine turns it into the permission filter itself. */
export interface SearchScope {
  workspace_id: string;
  user_id: string;
  /** Guests read only chats they belong to; everyone else also reads the public chats. */
  role: Role;
}

/** Validated search parameters (see the route's query schema). */
export interface SearchParams {
  q: string;
  chat_id?: string;
  sender_id?: string;
  /** Inclusive lower bound on created_at. */
  from?: Date;
  /** Inclusive upper bound on created_at. */
  to?: Date;
  limit: number;
  offset: number;
}

export interface SearchHit {
  message: Message;
  /** The whole content, HTML-escaped, with the matched words wrapped in <mark>…</mark>. */
  highlight: string;
}

export interface Facets {
  chat_id: Record<string, number>;
  sender_id: Record<string, number>;
}

export interface SearchResult {
  hits: SearchHit[];
  total: number;
  /**
   * False when `total` is not a full count: Postgres counts (and facets) only the newest
   * matches, so `total` is a lower bound; Meilisearch may answer with an estimate.
   */
  total_exact: boolean;
  facets: Facets;
}

export interface SearchEngine {
  readonly name: EngineName;
  search(scope: SearchScope, params: SearchParams): Promise<SearchResult>;
}

export const emptyResult = (): SearchResult => ({ hits: [], total: 0, total_exact: true, facets: { chat_id: {}, sender_id: {} } });
