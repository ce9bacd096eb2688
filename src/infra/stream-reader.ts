// A blocking reader of one stream (an event shard, or the changes stream): one XREAD loop on its
// own connection (a blocked connection cannot serve anything else), starting at the stream's end
// and continuing from the last id it saw after a Redis hiccup, so nothing is skipped. Also trims
// streams by age (XADD already caps them by length).
import { createRedis, type Redis } from './redis.js';
import type { Logger } from '../observability/logger.js';

export interface StreamReaderOptions<T> {
  redisUrl: string;
  streamKey: string;
  /** Names the connection (CLIENT LIST shows which streams a process reads). */
  name: string;
  log: Logger;
  /** An entry as the caller wants it; null skips a malformed one. */
  parse(id: string, fields: string[]): T | null;
  onEntry(entry: T): void;
}

export interface StreamReader {
  /** The id of the last entry handed to onEntry (or the start position): everything after it is still to come. */
  position(): string;
  stop(): Promise<void>;
}

const BLOCK_MS = 5000;
const COUNT = 1000;

/** Resolves once the start position is fixed: every entry XADDed after that reaches onEntry. */
export async function startStreamReader<T>(options: StreamReaderOptions<T>): Promise<StreamReader> {
  const { streamKey, log } = options;
  const redis = createRedis(options.redisUrl, 'blocking', options.name);
  // A concrete id rather than '$': '$' re-evaluated on every call would skip what arrives
  // between two XREADs.
  const last = await redis.xrevrange(streamKey, '+', '-', 'COUNT', 1);
  let lastId = last[0]?.[0] ?? '0-0';
  let stopped = false;

  const loop = (async () => {
    while (!stopped) {
      try {
        const result = (await redis.xread('COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', streamKey, lastId)) as [string, [string, string[]][]][] | null;
        if (!result) continue;
        for (const [, entries] of result) {
          for (const [id, fields] of entries) {
            lastId = id;
            const entry = options.parse(id, fields);
            if (!entry) {
              log.warn({ id, stream: streamKey }, 'skipping malformed stream entry');
              continue;
            }
            try {
              options.onEntry(entry);
            } catch (err) {
              log.error({ err, id }, 'dispatching an event failed');
            }
          }
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err: (err as Error).message, stream: streamKey }, 'event stream read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();

  return {
    position: () => lastId,
    async stop() {
      stopped = true;
      redis.disconnect(); // rejects the pending XREAD BLOCK at once
      await loop;
    },
  };
}

/**
 * Age cap: every fanout trims entries older than EVENT_STREAM_MAX_AGE_SECONDS from every stream
 * (all shards, read or not: XTRIM is cheap). Several processes doing it is harmless (XTRIM is
 * idempotent); resume detects what was trimmed.
 */
export function startTrimmer(redis: Redis, streamKeys: string[], maxAgeSeconds: number, log: Logger): () => void {
  const trim = () => {
    const minId = `${Date.now() - maxAgeSeconds * 1000}-0`;
    for (const key of streamKeys)
      redis.xtrim(key, 'MINID', '~', minId).catch((err: Error) => log.warn({ err: err.message, stream: key }, 'trimming an event stream failed'));
  };
  trim();
  const timer = setInterval(trim, Math.min(60_000, (maxAgeSeconds * 1000) / 10));
  timer.unref();
  return () => clearInterval(timer);
}
