// A blocking reader of one event stream: one XREAD loop on its own connection (a
// blocked connection cannot serve anything else), starting at the stream's end when the
// process starts and continuing from the last id it saw after a Redis hiccup, so nothing
// is skipped. Also trims the stream by age (XADD already caps it by length).
import { parseStreamEntry, type EventEnvelope } from './events.js';
import { createRedis, type Redis } from './redis.js';
import type { Logger } from '../observability/logger.js';

export interface StreamReaderOptions {
  redisUrl: string;
  streamKey: string;
  log: Logger;
  onEvent(envelope: EventEnvelope): void;
}

export interface StreamReader {
  stop(): Promise<void>;
}

const BLOCK_MS = 5000;
const COUNT = 1000;

/** Resolves once the start position is fixed: every event XADDed after that reaches onEvent. */
export async function startStreamReader(options: StreamReaderOptions): Promise<StreamReader> {
  const { streamKey, log } = options;
  const redis = createRedis(options.redisUrl, 'blocking', `fechatter:fanout-reader:${process.pid}`);
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
            const envelope = parseStreamEntry(id, fields);
            if (!envelope) {
              log.warn({ id }, 'skipping malformed stream entry');
              continue;
            }
            try {
              options.onEvent(envelope);
            } catch (err) {
              log.error({ err, id }, 'dispatching an event failed');
            }
          }
        }
      } catch (err) {
        if (stopped) break;
        log.warn({ err: (err as Error).message }, 'event stream read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      redis.disconnect(); // rejects the pending XREAD BLOCK at once
      await loop;
    },
  };
}

/**
 * Age cap: every fanout trims entries older than EVENT_STREAM_MAX_AGE_SECONDS. Several
 * processes doing it is harmless (XTRIM is idempotent); resume detects what was trimmed.
 */
export function startTrimmer(redis: Redis, streamKey: string, maxAgeSeconds: number, log: Logger): () => void {
  const trim = () => {
    const minId = `${Date.now() - maxAgeSeconds * 1000}-0`;
    redis.xtrim(streamKey, 'MINID', '~', minId).catch((err: Error) => log.warn({ err: err.message }, 'trimming the event stream failed'));
  };
  trim();
  const timer = setInterval(trim, Math.min(60_000, (maxAgeSeconds * 1000) / 10));
  timer.unref();
  return () => clearInterval(timer);
}
