// Search, the verbs: `searchMessages` (authorize, pick the engine, log for analytics),
// `enqueueSearchIndex` (keep Meilisearch current after a write commits) and `searchCheck`
// (readiness). Postgres answers unless MEILISEARCH_URL is set; then Meilisearch answers behind a
// circuit breaker, and Postgres again while the breaker is open or a call fails.
import { MeilisearchApiError, type Meilisearch, type Index } from 'meilisearch';
import type { Deps } from '../../deps.js';
import { createBreaker, type Breaker, type BreakerState } from '../../infra/breaker.js';
import type { Check } from '../../observability/health.js';
import { accessWorkspace } from '../access.js';
import { logSearch } from './analytics.js';
import type { EngineName, SearchHit, SearchParams, SearchResult, SearchScope, Facets } from './engine.js';
import { createMeiliClient, ensureIndex, indexUid, MeiliSearchEngine, type MessageDocument } from './meilisearch.js';
import { PostgresSearch } from './postgres.js';
import { withDetails } from '../messages.js';

export type { SearchParams } from './engine.js';
export { enqueueSearchIndex, type SearchIndexOp } from './enqueue.js';
export { MATCH_WINDOW } from './postgres.js';
export { PREFIX_EXPANSIONS } from './prefix.js';

export interface SearchResponse {
  hits: SearchHit[];
  total: number;
  total_exact: boolean;
  facets: Facets;
  took_ms: number;
  engine: EngineName;
}

interface Meili {
  client: Meilisearch;
  engine: MeiliSearchEngine;
  breaker: Breaker;
  index(): Promise<Index<MessageDocument>>;
}

interface Runtime {
  postgres: PostgresSearch;
  meili?: Meili;
}

// One runtime per Deps (per process in production, per test environment in tests).
const runtimes = new WeakMap<Deps, Runtime>();

function runtime(deps: Deps): Runtime {
  let rt = runtimes.get(deps);
  if (!rt) {
    rt = { postgres: new PostgresSearch(deps.db), meili: deps.config.MEILISEARCH_URL ? createMeili(deps) : undefined };
    runtimes.set(deps, rt);
  }
  return rt;
}

/** Meilisearch is failing when it cannot be reached, times out or answers 5xx; a 4xx is our bug, not an outage. */
const meiliIsFailing = (err: unknown) => !(err instanceof MeilisearchApiError) || err.response.status >= 500;

function createMeili(deps: Deps): Meili {
  const client = createMeiliClient(deps.config);
  const uid = indexUid(deps.config);
  // Settings are applied once per process, on first use; a failure is retried on the next use.
  let ready: Promise<Index<MessageDocument>> | undefined;
  const index = () => {
    ready ??= ensureIndex(client, uid).catch((err) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
  const breaker = createBreaker('meilisearch', {
    enabled: deps.config.ENABLE_CIRCUIT_BREAKER,
    isFailure: meiliIsFailing,
    timeoutMs: 2500,
    resetTimeoutMs: 10_000,
  });
  return { client, engine: new MeiliSearchEngine(deps.db, index), breaker, index };
}

/** `disabled` without MEILISEARCH_URL or with ENABLE_CIRCUIT_BREAKER=false. */
export function breakerState(deps: Deps): BreakerState | 'disabled' {
  const meili = runtime(deps).meili;
  if (!meili || !deps.config.ENABLE_CIRCUIT_BREAKER) return 'disabled';
  return meili.breaker.state();
}

/** The Meilisearch index, settings applied (for the worker and reindex). Undefined without MEILISEARCH_URL. */
export function meiliIndex(deps: Deps): Promise<Index<MessageDocument>> | undefined {
  return runtime(deps).meili?.index();
}

async function runEngines(deps: Deps, scope: SearchScope, params: SearchParams): Promise<{ result: SearchResult; engine: EngineName }> {
  const rt = runtime(deps);
  if (rt.meili) {
    try {
      const meili = rt.meili;
      const result = await meili.breaker.run(() => meili.engine.search(scope, params));
      return { result, engine: 'meilisearch' };
    } catch (err) {
      // An open breaker rejects at once; only real failures are worth a log line.
      if (rt.meili.breaker.state() !== 'open') deps.log.warn({ err: (err as Error).message }, 'meilisearch search failed; answering from postgres');
    }
  }
  // The matching may run on a replica that has the searcher's own writes (infra/replicas.ts).
  return { result: await deps.reads.read(scope.user_id, (db) => rt.postgres.search(scope, params, db)), engine: 'postgres' };
}

/**
 * Messages of workspace `workspaceId` matching `params` that `userId` may read. Strangers get
 * NotFoundError. The query is logged for analytics in the background; logging never fails it.
 */
export async function searchMessages(deps: Deps, userId: string, workspaceId: string, params: SearchParams): Promise<SearchResponse> {
  const access = await accessWorkspace(deps, userId, workspaceId);
  const started = performance.now();
  const { result, engine } = await runEngines(deps, { workspace_id: workspaceId, user_id: userId, role: access.role }, params);
  const took_ms = Math.round((performance.now() - started) * 100) / 100;
  logSearch(deps, { workspace_id: workspaceId, user_id: userId, params, hits: result.total, took_ms, engine });
  const messages = await withDetails(
    deps.db,
    result.hits.map((h) => h.message),
  );
  return { ...result, hits: result.hits.map((h, i) => ({ ...h, message: messages[i] })), took_ms, engine };
}

/** Readiness check: which engine answers, and the breaker state. Not required: Postgres covers for it. */
export function searchCheck(deps: Deps): Check {
  return {
    name: 'search',
    required: false,
    run: async () => {
      const meili = runtime(deps).meili;
      if (!meili) return { engine: 'postgres' };
      const breaker = breakerState(deps);
      try {
        await meili.client.health();
      } catch (err) {
        throw new Error(`meilisearch unreachable (${(err as Error).message}); breaker ${breaker}; searches fall back to postgres`, { cause: err });
      }
      return { engine: breaker === 'open' ? 'postgres' : 'meilisearch', breaker };
    },
  };
}
