// The stream readers of one fanout process: one per event shard some connection here needs,
// started on demand and stopped once unused for a while, plus (with several shards) one of the
// changes stream, which tells connections about workspaces their users join on other shards.
// With one shard its reader runs from start-up, as before sharding.
import { parseChange, parseStreamEntry, type AccessChange, type EventEnvelope, type EventStreams } from '../infra/events.js';
import { startStreamReader, type StreamReader } from '../infra/stream-reader.js';
import type { Logger } from '../observability/logger.js';

export interface ReadersOptions {
  redisUrl: string;
  streams: EventStreams;
  log: Logger;
  onEvent(envelope: EventEnvelope): void;
  onChange(change: AccessChange): void;
}

interface Running {
  reader: StreamReader;
  /** Date.now() when its start position was fixed: connections registered after it miss nothing. */
  since: number;
}

export class StreamReaders {
  private readonly running = new Map<number, Running>();
  private readonly starting = new Map<number, Promise<Running>>();
  private changes?: StreamReader;
  private stopped = false;

  constructor(private readonly options: ReadersOptions) {}

  get shardCount(): number {
    return this.options.streams.shards.length;
  }

  async start(): Promise<void> {
    if (this.shardCount === 1) {
      await this.ensure(0);
      return;
    }
    const { streams, log, redisUrl } = this.options;
    this.changes = await startStreamReader({
      redisUrl,
      streamKey: streams.changes.key,
      name: `fechatter:fanout-changes:${process.pid}`,
      log,
      parse: parseChange,
      onEntry: (change) => this.options.onChange(change),
    });
  }

  /** The changes stream position: every change after it still reaches onChange. */
  changesPosition(): string | null {
    return this.changes?.position() ?? null;
  }

  /** Starts reading shard k unless it is read already; resolves once its position is fixed. */
  async ensure(k: number): Promise<Running> {
    const running = this.running.get(k);
    if (running) return running;
    let starting = this.starting.get(k);
    if (!starting) {
      const { streams, log, redisUrl, onEvent } = this.options;
      starting = startStreamReader({
        redisUrl,
        streamKey: streams.shards[k].key,
        name: `fechatter:fanout-reader:${process.pid}:${k}`,
        log,
        parse: (id, fields) => {
          const envelope = parseStreamEntry(id, fields);
          if (envelope) envelope.shard = k;
          return envelope;
        },
        onEntry: onEvent,
      }).then(async (reader) => {
        const run = { reader, since: Date.now() };
        this.starting.delete(k);
        if (this.stopped) await reader.stop();
        else this.running.set(k, run);
        return run;
      });
      starting.catch(() => this.starting.delete(k));
      this.starting.set(k, starting);
    }
    return starting;
  }

  /** Where shard k's reader is, if it runs. */
  position(k: number): string | undefined {
    return this.running.get(k)?.reader.position();
  }

  /** Stops the readers of shards no connection needs (never the only shard). */
  async stopUnused(inUse: Set<number>): Promise<void> {
    if (this.shardCount === 1) return;
    const unused = [...this.running].filter(([k]) => !inUse.has(k));
    for (const [k] of unused) this.running.delete(k);
    await Promise.all(unused.map(([, run]) => run.reader.stop()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.running.values()].map((r) => r.reader);
    this.running.clear();
    await Promise.all([...all.map((r) => r.stop()), this.changes?.stop()]);
  }
}
