// `fechatter reindex [--workspace ID]`: rebuilds the Meilisearch index from Postgres. Messages
// are walked in id order (not time order, which does not matter here) in batches; after each batch
// the last id is stored in Redis, so an interrupted run resumes where it stopped. Deleted messages
// in the range are removed from the index, which also cleans up deletes the queue may have missed.
import type { Deps } from '../../deps.js';
import { loadConfig } from '../../config.js';
import { closeDeps, createDeps } from '../../deps.js';
import { createLogger } from '../../observability/logger.js';
import { meiliIndex } from './index.js';
import { syncDocuments } from './meilisearch.js';

export interface ReindexProgress {
  done: number;
  total: number;
  percent: number;
  rate_per_s: number;
}

export interface ReindexOptions {
  workspaceId?: string;
  batchSize?: number;
  onProgress?: (progress: ReindexProgress) => void;
}

export interface ReindexResult {
  /** The id the run resumed after, if an earlier run was interrupted. */
  resumed_after: string | null;
  upserted: number;
  deleted: number;
  took_ms: number;
}

export async function reindex(deps: Deps, options: ReindexOptions = {}): Promise<ReindexResult> {
  const ready = meiliIndex(deps);
  if (!ready) throw new Error('MEILISEARCH_URL is not set: Postgres needs no reindex');
  const index = await ready;
  const batchSize = options.batchSize ?? 1000;
  const cursorKey = deps.keys.reindexCursor(options.workspaceId ?? 'all');
  const resumedAfter = await deps.redis.get(cursorKey);
  const scoped = () => {
    const q = deps.db('messages');
    if (options.workspaceId) q.where('workspace_id', options.workspaceId);
    if (resumedAfter) q.where('id', '>', resumedAfter);
    return q;
  };
  const [{ n: total }] = await scoped().count<Array<{ n: number }>>({ n: '*' });
  const started = performance.now();
  let cursor = resumedAfter;
  let done = 0;
  let upserted = 0;
  let deleted = 0;
  for (;;) {
    const q = deps.db('messages').select('id').orderBy('id').limit(batchSize);
    if (options.workspaceId) q.where('workspace_id', options.workspaceId);
    if (cursor) q.where('id', '>', cursor);
    const ids = (await q).map((r: { id: string }) => r.id);
    if (ids.length === 0) break;
    const result = await syncDocuments(deps.db, index, ids);
    upserted += result.upserted;
    deleted += result.deleted;
    cursor = ids[ids.length - 1];
    await deps.redis.set(cursorKey, cursor);
    done += ids.length;
    const seconds = (performance.now() - started) / 1000;
    options.onProgress?.({
      done,
      total: Number(total),
      percent: Number(total) ? Math.min(100, (done / Number(total)) * 100) : 100,
      rate_per_s: seconds ? done / seconds : 0,
    });
  }
  await deps.redis.del(cursorKey);
  return { resumed_after: resumedAfter, upserted, deleted, took_ms: Math.round(performance.now() - started) };
}

/** The CLI (src/main.ts hands `fechatter reindex ...` here). Exits 0 on success, 2 on bad usage. */
export async function reindexCommand(argv: string[]): Promise<number> {
  const at = argv.indexOf('--workspace');
  const workspaceId = at >= 0 ? argv[at + 1] : undefined;
  if ((at >= 0 && !/^[1-9]\d{0,17}$/.test(workspaceId ?? '')) || argv.some((a, i) => a !== '--workspace' && i !== at + 1)) {
    console.error('usage: fechatter reindex [--workspace ID]');
    return 2;
  }
  const config = loadConfig(process.env);
  if (!config.MEILISEARCH_URL) {
    console.log('MEILISEARCH_URL is not set: search uses Postgres, which indexes every message as it is written. Nothing to reindex.');
    return 0;
  }
  if (!config.DATABASE_URL || !config.REDIS_URL) {
    console.error('fechatter reindex: DATABASE_URL and REDIS_URL must be set.');
    return 2;
  }
  const deps = await createDeps(config, createLogger(config.LOG_LEVEL, { role: 'reindex' }));
  try {
    let lastPrint = 0;
    const result = await reindex(deps, {
      workspaceId,
      onProgress: (p) => {
        if (Date.now() - lastPrint < 1000 && p.done < p.total) return;
        lastPrint = Date.now();
        console.log(`reindex: ${p.percent.toFixed(1)}% (${p.done}/${p.total} messages) ${Math.round(p.rate_per_s)} msg/s`);
      },
    });
    console.log(
      `reindex: done in ${(result.took_ms / 1000).toFixed(1)} s: ${result.upserted} indexed, ${result.deleted} removed` +
        (result.resumed_after ? ` (resumed after ${result.resumed_after})` : ''),
    );
    return 0;
  } finally {
    await closeDeps(deps);
  }
}
