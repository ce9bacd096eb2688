// The outbox of every event that is not a message's (messages have their own, published_at:
// src/domain/message-persist.ts). Zulip's send_event_on_commit, made durable:
//   1. recordEvents writes a change's events to event_outbox inside the change's transaction,
//      so the change and its events commit (or roll back) together;
//   2. after COMMIT (and after dropping the caches the change made stale, so a client that
//      reacts to the event reads fresh state) the caller publishes them with publishOutbox;
//   3. the relay (every worker process, workers/outbox.ts) publishes whatever a crash between
//      COMMIT and XADD, or a Redis outage, left behind, oldest first.
// Publishing claims rows (FOR UPDATE SKIP LOCKED), XADDs them, deletes them and commits. A crash
// after the XADD leaves the row to be published again, and the publish script remembers outbox
// ids it has XADDed (src/infra/events.ts), so every event reaches the stream exactly once.
import type { Knex } from 'knex';
import type { Deps } from '../deps.js';
import { forgetPublished, publishOutboxEntries, type ChatEvent } from '../infra/events.js';
import { metrics } from '../observability/metrics.js';

export type OutboxDeps = Pick<Deps, 'db' | 'redis' | 'stream' | 'log'>;

/** Outbox row ids of events recorded by a transaction, to publish once it has committed. */
export type Recorded = string[];

/** Call inside the transaction that makes the change. */
export async function recordEvents(trx: Knex.Transaction, events: ChatEvent[]): Promise<Recorded> {
  if (events.length === 0) return [];
  const rows = await trx('event_outbox')
    .insert(events.map((event) => ({ event: JSON.stringify(event) })))
    .returning('id');
  return rows.map((r: { id: string }) => String(r.id));
}

/** Rows older than this are the relay's: their own publisher had time enough to do it. */
export const RELAY_DELAY_MS = 2000;
const RELAY_BATCH = 500;

/** Claims, publishes and deletes the rows `pick` selects, in one transaction. Returns how many. */
async function publishRows(deps: OutboxDeps, pick: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<number> {
  const published = await deps.db.transaction(async (trx) => {
    const rows: Array<{ id: string; event: ChatEvent }> = await pick(trx('event_outbox').select('id', 'event').orderBy('id').forUpdate().skipLocked());
    if (rows.length === 0) return [];
    const entries = rows.map((r) => ({ event: r.event, outbox_id: String(r.id) }));
    await publishOutboxEntries(deps.redis, deps.stream, entries);
    await trx('event_outbox')
      .whereIn(
        'id',
        entries.map((e) => e.outbox_id),
      )
      .del();
    return entries;
  });
  await forgetPublished(deps.redis, deps.stream, published).catch(() => {});
  return published.length;
}

/**
 * Call after COMMIT. The change already happened, so a failed publish must not turn it into an
 * error response: it is logged, and the relay publishes the events shortly.
 */
export async function publishOutbox(deps: OutboxDeps, recorded: Recorded): Promise<void> {
  if (recorded.length === 0) return;
  try {
    await publishRows(deps, (q) => q.whereIn('id', recorded));
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, outbox_ids: recorded }, 'could not publish events after commit; the relay will');
  }
}

/** One pass of the relay: publishes up to a batch of rows older than RELAY_DELAY_MS. */
export async function relayOutbox(deps: OutboxDeps): Promise<number> {
  const relayed = await publishRows(deps, (q) => q.where('created_at', '<', new Date(Date.now() - RELAY_DELAY_MS)).limit(RELAY_BATCH));
  if (relayed) {
    metrics.outboxRelayed.inc(relayed);
    deps.log.info({ relayed }, 'published outbox events left behind');
  }
  return relayed;
}
