// The persisting half of the write path, called by workers/persist.ts: assign gapless `seq`,
// store messages, apply edits/deletes, and publish their events in seq order per chat.
//
// Ordering across any number of worker processes: every writer of a chat holds a Postgres
// session advisory lock on the chat id (keyspace: chat ids, taken in ascending order so two
// batches never deadlock) from before it writes until after its XADD. Inside the lock,
// `chats.last_seq` gives the next seqs and nobody else can publish for the chat, so the
// stream carries each chat's events in seq order.
//
// Outbox: `messages.published_at` is set after the XADD, still under the lock. Every batch also
// re-publishes rows of its chats left unpublished by a worker that died between COMMIT and
// XADD, before its own, so those events still come out in seq order and exactly once.
//
// A batch of creates is stored by one statement (PERSIST_SQL): few round trips, one commit.
//
// Authorization is re-checked here, in the persisting statement: the API checked it at the 202,
// but the sender may have left the chat (or the chat been archived) since, and a job can reach
// the queue without the API (a forged one). Jobs that fail are rejected: not stored, not announced.
import type pg from 'pg';
import type { Deps } from '../deps.js';
import { announceCreated, publishEvents, type ChatEvent } from '../infra/events.js';
import type { CreateMessageJob, DeleteMessageJob, EditMessageJob } from '../infra/queues.js';
import { roleAtLeast, type ChatType, type Role } from './access.js';
import { removeBlobs, toAttachment, ATTACHMENT_COLUMNS } from './attachments/index.js';
import { resolveMentions, type OnlineCheck, type ResolvedMentions } from './mentions.js';
import { renderMarkdown } from './markdown.js';
import { MESSAGE_COLUMNS, toMessage, withDetails, type Message, type MessageRow } from './messages.js';
import { iso } from './users.js';
import { presenceOf } from './presence.js';
import { enqueueNotifications } from './notifications/enqueue.js';
import { enqueueSearchIndex } from './search/enqueue.js';
import { enqueueUnfurl } from './unfurl/attach.js';

export type PersistDeps = Pick<Deps, 'db' | 'reads' | 'redis' | 'keys' | 'stream' | 'log' | 'config' | 'queues' | 'files'>;

export type PersistStatus =
  /** Stored now with this seq. */
  | 'stored'
  /** The id was stored by an earlier attempt (its event is re-published if it was lost). */
  | 'already_stored'
  /** Another message of the chat by the same sender already has this client_id (one stored before ids were derived from it). */
  | 'duplicate_client_id'
  /** The chat no longer exists. */
  | 'chat_gone'
  /** Not stored: the sender may not post there (any more); `reason` says why. */
  | 'rejected';

export type RejectReason =
  /** The sender is not (or no longer) a member of the chat. */
  | 'not_member'
  /** The chat was archived after the message was accepted. */
  | 'chat_archived'
  /** The job's workspace_id is not the chat's (a job the API did not write). */
  | 'wrong_workspace'
  /** thread_root_id is not a top-level message of the chat (a job the API did not write). */
  | 'bad_thread_root';

export interface PersistOutcome {
  id: string;
  status: PersistStatus;
  seq: number | null;
  reason?: RejectReason;
}

/** Thrown while the message an edit or delete refers to is not stored and announced yet; BullMQ retries. */
export class MessageNotReadyError extends Error {
  constructor(id: string) {
    super(`message ${id} is not persisted and published yet`);
    this.name = 'MessageNotReadyError';
  }
}

const COLUMNS = MESSAGE_COLUMNS.join(', ');
const compareIds = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/**
 * Runs `fn` on one dedicated connection while holding the advisory locks of `chatIds`, after
 * `prepare` (work on the same connection that needs no lock, so the locks are held for less time).
 * The locks are session locks (they must outlive the transaction until the XADD), so they are
 * released explicitly; a connection whose unlock fails is discarded rather than pooled.
 */
async function withChatLocks<T, P = void>(
  deps: PersistDeps,
  chatIds: string[],
  fn: (conn: pg.ClientBase, prepared: P) => Promise<T>,
  prepare: (conn: pg.ClientBase) => Promise<P> = async () => undefined as P,
): Promise<T> {
  const conn = (await deps.db.client.acquireConnection()) as pg.ClientBase & { __knex__disposed?: unknown };
  try {
    const prepared = await prepare(conn);
    // unnest yields the array in order, so the locks are taken in ascending chat id order.
    await conn.query('select pg_advisory_lock(id) from unnest($1::bigint[]) as t(id)', [[...new Set(chatIds)].sort(compareIds)]);
    return await fn(conn, prepared);
  } finally {
    try {
      await conn.query('select pg_advisory_unlock_all()');
    } catch (err) {
      conn.__knex__disposed = err;
    }
    await deps.db.client.releaseConnection(conn);
  }
}

async function inTransaction<T>(conn: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await conn.query('begin');
  try {
    const result = await fn();
    await conn.query('commit');
    return result;
  } catch (err) {
    await conn.query('rollback').catch(() => {});
    throw err;
  }
}

/**
 * Read-your-writes on replicas (infra/replicas.ts): call after COMMIT and before the events go
 * out, so a client that hears of its write reads it back. The WAL position comes from `conn`
 * (no second pooled connection under the chat locks). Never throws.
 */
async function noteWriters(deps: PersistDeps, conn: pg.ClientBase, userIds: string[]): Promise<void> {
  if (!deps.reads.enabled || userIds.length === 0) return;
  const lsn = await conn.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn').then(
    ({ rows }) => rows[0].lsn,
    () => undefined,
  );
  await deps.reads.noteWrite(userIds, lsn);
}

/** Presence for @here, from the fanout's leases (presence.ts). */
const onlineCheck =
  (deps: PersistDeps): OnlineCheck =>
  async (userIds) => {
    const status = await presenceOf(deps, userIds);
    return new Set(userIds.filter((id) => status.get(id) === 'online'));
  };

/** Who the messages' mentions reached (mention_count and the mentions feed count these rows). */
async function insertMentionRecipients(
  conn: pg.ClientBase,
  messages: Array<{ id: string; chat_id: string; workspace_id: string; seq: number }>,
  mentions: Map<string, ResolvedMentions>,
): Promise<void> {
  const rows = messages.flatMap((m) => mentions.get(m.id)!.recipients.map((r) => ({ ...r, m })));
  if (rows.length === 0) return;
  await conn.query(
    // created_at is the message's (the feed's order), also when an edit re-resolves its mentions.
    `insert into mention_recipients (user_id, message_id, chat_id, workspace_id, seq, kind, created_at)
     select t.*, m.created_at from unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
       as t(user_id, message_id, chat_id, workspace_id, seq, kind) join messages m on m.id = t.message_id`,
    [
      rows.map((r) => r.user_id),
      rows.map((r) => r.m.id),
      rows.map((r) => r.m.chat_id),
      rows.map((r) => r.m.workspace_id),
      rows.map((r) => r.m.seq),
      rows.map((r) => r.kind),
    ],
  );
}

/** A row to announce: stored now, or left unpublished by a worker that died between COMMIT and XADD. */
type PendingRow = MessageRow & {
  /** A reply's event also carries its root's thread counts as they are now, so clients update the root without a refetch. */
  root_reply_count: number | null;
  root_last_reply_at: Date | null;
  /** Stored now: its attachments, as the statement attached them (null for none). */
  files: Array<Record<string, unknown>> | null;
  recovered: boolean;
};

function createdEvent(message: Message, row: PendingRow, acceptedAt: number | undefined): ChatEvent {
  const thread = message.thread_root_id
    ? { thread: { root_id: message.thread_root_id, reply_count: Number(row.root_reply_count), last_reply_at: iso(row.root_last_reply_at) } }
    : {};
  return {
    type: 'message.created',
    workspace_id: message.workspace_id,
    chat_id: message.chat_id,
    data: { ...message, ...thread, accepted_at: acceptedAt ?? new Date(row.created_at).getTime() },
  };
}

/**
 * Publishes message.created for `rows` (in (chat, seq) order), then marks them published.
 * Precondition: the caller holds the chats' advisory locks.
 */
async function publishPending(deps: PersistDeps, conn: pg.ClientBase, rows: PendingRow[], acceptedAt: Map<string, number>): Promise<void> {
  if (rows.length === 0) return;
  // Stored now: attachments came back from the statement, and no reaction can exist yet. Left
  // over by a dead worker (rare): read like any other message.
  const recovered = rows.filter((r) => r.recovered);
  const read = new Map((recovered.length ? await withDetails(deps.db, recovered.map(toMessage)) : []).map((m) => [m.id, m]));
  await announceCreated(
    deps.redis,
    deps.stream,
    rows.map((row) => createdEvent(read.get(row.id) ?? { ...toMessage(row), attachments: (row.files ?? []).map(toAttachment) }, row, acceptedAt.get(row.id))),
  );
  // The mark need not be durable (if lost, the Redis high-water mark stops a second announcement),
  // so its commit skips the WAL flush: one fsync per batch instead of two. set_config(..., true)
  // lasts for the statement's own (implicit) transaction, so it is in force at that commit.
  await conn.query(`update messages set published_at = now() from (select set_config('synchronous_commit', 'off', true)) as s where id = any($1::uuid[])`, [
    rows.map((r) => r.id),
  ]);
}

const PENDING_COLUMNS = MESSAGE_COLUMNS.map((c) => `m.${c}`).join(', ');
// A leftover row may be a root the batch replies to: its counts as the statement leaves them.
const THREAD_COUNTS = new Set(['reply_count', 'last_reply_at']);
const RECOVERED_COLUMNS = MESSAGE_COLUMNS.map((c) => (THREAD_COUNTS.has(c) ? `coalesce(own.${c}, m.${c}) as ${c}` : `m.${c}`)).join(', ');

/**
 * Stores a batch in one statement: one implicit transaction and one round trip, run under the
 * chats' locks. Per job ($1..$10, in batch order) its problem: its id is stored already (an
 * earlier attempt), its (chat_id, sender_id, client_id) is taken by another row or an earlier
 * job of the batch, or the sender may not post there now (still a member of the chat, which is in the
 * job's workspace and not archived; a thread root that is a top-level message of the chat).
 * The jobs that pass get their chat's next seqs (one row-locked UPDATE per chat reserves a
 * contiguous range, handed out in batch order) and are inserted with what comes with them: the
 * mention_recipients rows of whom their mentions reached ($11..$13, resolved beforehand), their
 * root's reply_count, last_reply_at and follows, their attachments ($14, $15; owner, chat and
 * "not taken" re-checked) and the sender's read watermark. No ON CONFLICT on purpose: a
 * surprise conflict fails the statement, seq bump included, rather than leaving a gap.
 *
 * Rows: one per job (i, problem, outcome_seq), joined with its row to announce if it has one;
 * and the rows of the batch's chats ($16) left unpublished by a worker that died between COMMIT
 * and XADD. The rows to announce come first, in (chat, seq) order. Exported for a plan test.
 */
export const PERSIST_SQL = `with job as (
    select * from unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::uuid[], $8::jsonb[], $9::uuid[], $10::text[])
      with ordinality as t(id, chat_id, workspace_id, sender_id, client_id, content, reply_to, mentions, thread_root_id, rendered, i)
  ), checked as (
    select job.*, stored.seq as stored_seq,
      case when stored.id is not null then 'already_stored'
           when row_number() over (partition by job.chat_id, job.sender_id, job.client_id order by job.i) > 1
             or exists (select 1 from messages taken
                         where taken.chat_id = job.chat_id and taken.sender_id = job.sender_id and taken.client_id = job.client_id) then 'duplicate_client_id'
           when c.id is null then 'chat_gone'
           when c.workspace_id <> job.workspace_id then 'wrong_workspace'
           when c.archived_at is not null then 'chat_archived'
           when cm.user_id is null then 'not_member'
           when job.thread_root_id is not null and (root.id is null or root.chat_id <> job.chat_id or root.thread_root_id is not null) then 'bad_thread_root' end as problem
    from job
    left join messages stored on stored.id = job.id
    left join chats c on c.id = job.chat_id
    left join chat_members cm on cm.chat_id = job.chat_id and cm.user_id = job.sender_id
    left join messages root on root.id = job.thread_root_id
  ), reserved as (
    update chats c set last_seq = c.last_seq + v.n
      from (select chat_id, count(*)::int as n from checked where problem is null group by chat_id) v
     where c.id = v.chat_id
    returning c.id, c.last_seq, v.n
  ), numbered as (
    select checked.*, reserved.last_seq - reserved.n + row_number() over (partition by checked.chat_id order by checked.i) as seq
      from checked join reserved on reserved.id = checked.chat_id
     where checked.problem is null
  ), inserted as (
    insert into messages (id, chat_id, workspace_id, seq, sender_id, client_id, content, reply_to, mentions, thread_root_id, rendered)
    select id, chat_id, workspace_id, seq, sender_id, client_id, content, reply_to, mentions, thread_root_id, rendered from numbered
    returning ${COLUMNS}
  ), reached as (
    select * from unnest($11::uuid[], $12::bigint[], $13::text[]) as t(message_id, user_id, kind)
  ), recipients as (
    -- created_at is the message's (the mentions feed's order).
    insert into mention_recipients (user_id, message_id, chat_id, workspace_id, seq, kind, created_at)
    select r.user_id, m.id, m.chat_id, m.workspace_id, m.seq, r.kind, m.created_at from reached r join inserted m on m.id = r.message_id
  ), roots as (
    update messages root set reply_count = root.reply_count + v.n, last_reply_at = now()
      from (select thread_root_id, count(*)::int as n from numbered where thread_root_id is not null group by thread_root_id) v
     where root.id = v.thread_root_id
    returning root.id, root.reply_count, root.last_reply_at
  ), follows as (
    -- The root's author and whom a reply names start following (unless they unfollowed), the
    -- replier too, having read it up to their reply.
    insert into thread_follows (user_id, root_id, chat_id, last_read_seq)
    select user_id, root_id, chat_id, max(seq) from (
      select n.sender_id, n.thread_root_id, n.chat_id, n.seq from numbered n where n.thread_root_id is not null
      union all
      select r.user_id, n.thread_root_id, n.chat_id, 0 from reached r join numbered n on n.id = r.message_id where r.kind = 'user' and n.thread_root_id is not null
      union all
      select root.sender_id, root.id, root.chat_id, 0 from messages root where root.id in (select thread_root_id from numbered)
    ) f (user_id, root_id, chat_id, seq) group by user_id, root_id, chat_id
    on conflict (user_id, root_id) do update set last_read_seq = greatest(thread_follows.last_read_seq, excluded.last_read_seq)
  ), files as (
    update attachments a set message_id = n.id
      from unnest($14::uuid[], $15::uuid[]) as v(id, message_id) join numbered n on n.id = v.message_id
     where a.id = v.id and a.chat_id = n.chat_id and a.uploader_id = n.sender_id and a.message_id is null
    returning ${ATTACHMENT_COLUMNS.map((c) => `a.${c}`).join(', ')}
  ), watermark as (
    -- Your own message counts as read: the sender's watermark moves to it (never back).
    update chat_members cm set last_read_seq = v.seq, read_at = now()
      from (select chat_id, sender_id, max(seq) as seq from numbered group by chat_id, sender_id) v
     where cm.chat_id = v.chat_id and cm.user_id = v.sender_id and cm.last_read_seq < v.seq
  ), pending as (
    select ${PENDING_COLUMNS}, root.reply_count as root_reply_count, root.last_reply_at as root_last_reply_at,
        (select jsonb_agg(to_jsonb(f) order by f.created_at, f.id) from files f where f.message_id = m.id) as files, false as recovered
      from inserted m left join roots root on root.id = m.thread_root_id
    union all
    select ${RECOVERED_COLUMNS}, coalesce(root.reply_count, stale.reply_count), coalesce(root.last_reply_at, stale.last_reply_at), null, true
      from messages m
      left join roots own on own.id = m.id
      left join roots root on root.id = m.thread_root_id
      left join messages stale on stale.id = m.thread_root_id
     where m.chat_id = any($16::bigint[]) and m.published_at is null
  )
  select checked.i, checked.problem, coalesce(checked.stored_seq, pending.seq) as outcome_seq, pending.*
    from checked full join pending on pending.id = checked.id
   order by pending.chat_id, pending.seq`;

type PersistRow = Omit<PendingRow, 'id'> & {
  id: string | null;
  i: string | null;
  problem: RejectReason | 'chat_gone' | 'already_stored' | 'duplicate_client_id' | null;
  outcome_seq: string | null;
};

/**
 * Stores a batch of accepted messages (any mix of chats) and announces them. Round trips to
 * Postgres for a batch: the locks, the statement above, the published mark and the unlock
 * (plus up to three for mentions, and one for leftover rows). Idempotent: ids already stored
 * are skipped (and re-announced if their event was lost). Throws if anything fails; nothing is
 * half-stored (the caller retries jobs one by one).
 */
export async function persistMessages(deps: PersistDeps, jobs: CreateMessageJob[]): Promise<Map<string, PersistOutcome>> {
  const outcomes = await storeMessages(deps, jobs);
  await followStored(deps, jobs, outcomes);
  return outcomes;
}

/** persistMessages' first part: stored and announced, under the chats' locks. */
export async function storeMessages(deps: PersistDeps, jobs: CreateMessageJob[]): Promise<Map<string, PersistOutcome>> {
  const unique = [...new Map(jobs.map((j) => [j.id, j])).values()].sort((a, b) => a.accepted_at - b.accepted_at || (a.id < b.id ? -1 : 1));
  const outcomes = new Map<string, PersistOutcome>();
  if (unique.length === 0) return outcomes;
  const chatIds = [...new Set(unique.map((j) => j.chat_id))];
  const acceptedAt = new Map(unique.map((j) => [j.id, j.accepted_at]));

  await withChatLocks(
    deps,
    chatIds,
    async (conn, mentions: Map<string, ResolvedMentions>) => {
      const reached = unique.flatMap((j) => (mentions.get(j.id)?.recipients ?? []).map((r) => ({ ...r, message_id: j.id })));
      const files = unique.flatMap((j) => (j.attachment_ids ?? []).map((a) => ({ id: a, message_id: j.id })));
      // Named: parsed and planned once per connection, not sent again with every batch.
      const { rows } = await conn.query<PersistRow>({ name: 'persist-messages', text: PERSIST_SQL }, [
        unique.map((j) => j.id),
        unique.map((j) => j.chat_id),
        unique.map((j) => j.workspace_id),
        unique.map((j) => j.sender_id),
        unique.map((j) => j.client_id),
        unique.map((j) => j.content),
        unique.map((j) => j.reply_to),
        unique.map((j) => JSON.stringify(mentions.get(j.id)?.mentions ?? [])),
        unique.map((j) => j.thread_root_id ?? null),
        unique.map((j) => renderMarkdown(j.content)),
        reached.map((r) => r.message_id),
        reached.map((r) => r.user_id),
        reached.map((r) => r.kind),
        files.map((f) => f.id),
        files.map((f) => f.message_id),
        chatIds,
      ]);
      const senders: string[] = [];
      for (const row of rows) {
        if (row.i === null) continue;
        const job = unique[Number(row.i) - 1];
        const { problem } = row;
        const seq = row.outcome_seq === null ? null : Number(row.outcome_seq);
        if (problem === 'already_stored') outcomes.set(job.id, { id: job.id, status: 'already_stored', seq });
        else if (problem === 'duplicate_client_id') outcomes.set(job.id, { id: job.id, status: 'duplicate_client_id', seq: null });
        else if (problem === null && seq !== null) {
          outcomes.set(job.id, { id: job.id, status: 'stored', seq });
          senders.push(job.sender_id);
        } else if (problem === null || problem === 'chat_gone') outcomes.set(job.id, { id: job.id, status: 'chat_gone', seq: null });
        else {
          outcomes.set(job.id, { id: job.id, status: 'rejected', seq: null, reason: problem });
          deps.log[problem === 'wrong_workspace' ? 'warn' : 'info'](
            { message_id: job.id, chat_id: job.chat_id, sender_id: job.sender_id, reason: problem },
            'persist: message rejected',
          );
        }
      }
      await noteWriters(deps, conn, senders);
      await publishPending(
        deps,
        conn,
        rows.filter((r): r is PersistRow & { id: string } => r.id !== null),
        acceptedAt,
      );
    },
    // Before the locks (they are held for less time): mentions, which need no lock.
    (conn) => resolveMentions(conn, unique, onlineCheck(deps)),
  );

  return outcomes;
}

/**
 * persistMessages' second part, after COMMIT and outside the locks (the worker runs it while the
 * next batch is stored): search indexing, link previews and notifications of what is stored.
 * Never throws; its parts are independent, so they go out together.
 */
export async function followStored(deps: PersistDeps, jobs: CreateMessageJob[], outcomes: Map<string, PersistOutcome>): Promise<void> {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const indexed = [...outcomes.values()].filter((o) => o.status === 'stored' || o.status === 'already_stored');
  await Promise.all([
    // Meilisearch follows (a no-op without it). Also for rows stored by an earlier attempt, whose
    // enqueue may be what failed; the search worker re-reads rows, so repeats are harmless.
    enqueueSearchIndex(
      deps,
      indexed.map((o) => ({ op: 'upsert', message_id: o.id })),
    ),
    // Link previews follow; like notifications, queuing them never throws.
    enqueueUnfurl(
      deps,
      indexed.map((o) => ({ id: o.id, content: byId.get(o.id)!.content, version: '0' })),
    ),
    // Who should hear of it (the notifications queue); its jobIds make repeats harmless.
    enqueueNotifications(
      deps,
      indexed.map((o) => {
        const job = byId.get(o.id)!;
        return { id: o.id, chat_id: job.chat_id, workspace_id: job.workspace_id, seq: o.seq!, sender_id: job.sender_id };
      }),
    ),
  ]);
}

/** `rejected`: the one who asked may no longer make the change (see changeAllowed); nothing is published. */
export type ChangeStatus = 'applied' | 'republished' | 'stale' | 'rejected';

/** The message, locked, with what authorizing its change needs: the chat and the actor's standing now. */
const CHANGE_ROW_SQL = `select ${MESSAGE_COLUMNS.map((c) => `m.${c}`).join(', ')}, c.type as chat_type, c.archived_at is not null as chat_archived,
    exists (select 1 from chat_members cm where cm.chat_id = m.chat_id and cm.user_id = coalesce($3::bigint, m.sender_id)) as actor_member,
    (select wm.role from workspace_members wm where wm.workspace_id = m.workspace_id and wm.user_id = coalesce($3::bigint, m.sender_id)) as actor_role
  from messages m join chats c on c.id = m.chat_id
  where m.id = $1 and m.chat_id = $2
  for update of m`;

interface ChangeRow extends MessageRow {
  chat_type: ChatType;
  chat_archived: boolean;
  actor_member: boolean;
  actor_role: Role | null;
}

/**
 * The API's rules for edits and deletes (editMessage, deleteMessage), re-read now: the actor can
 * still read the chat; edits by the sender in a chat not archived; deletes by the sender or a
 * workspace admin+. A job without actor_id (queued before jobs carried it) was by the sender for
 * an edit, and keeps the old behaviour (no check) for a delete.
 */
function changeAllowed(job: EditMessageJob | DeleteMessageJob, row: ChangeRow): boolean {
  if (job.kind === 'delete' && job.actor_id === undefined) return true;
  const bySender = (job.actor_id ?? String(row.sender_id)) === String(row.sender_id);
  const readable = row.actor_role !== null && (row.actor_member || (row.chat_type === 'public' && row.actor_role !== 'guest'));
  if (!readable) return false;
  if (job.kind === 'edit') return bySender && !row.chat_archived;
  return bySender || roleAtLeast(row.actor_role!, 'admin');
}

/**
 * Applies an edit or delete and publishes message.updated / message.deleted. Re-reads state:
 * throws MessageNotReadyError while the message is not stored and announced (BullMQ retries,
 * so the change lands after the create), skips stale changes (a later edit, an earlier delete),
 * refuses changes the actor may no longer make, and re-publishes when a previous attempt
 * committed but may have lost its event (allowed when it was made, so not re-checked).
 */
export async function applyMessageChange(deps: PersistDeps, job: EditMessageJob | DeleteMessageJob): Promise<ChangeStatus> {
  let removedBlobs: string[] = [];
  const status = await withChatLocks<ChangeStatus>(deps, [job.chat_id], async (conn) => {
    let status: ChangeStatus = 'stale';
    let actor: string | undefined;
    const event = await inTransaction(conn, async (): Promise<ChatEvent | null> => {
      const { rows } = await conn.query<ChangeRow>(CHANGE_ROW_SQL, [job.id, job.chat_id, job.actor_id ?? null]);
      const row = rows[0];
      if (!row || row.published_at === null) throw new MessageNotReadyError(job.id);
      actor = job.actor_id ?? String(row.sender_id);
      const time = (v: Date | string | null) => (v === null ? null : new Date(v).getTime());

      if (job.kind === 'edit') {
        const at = time(job.edited_at)!;
        const editedAt = time(row.edited_at);
        if (row.deleted_at !== null || (editedAt !== null && editedAt > at)) return null;
        let updated: MessageRow = row;
        if (editedAt === at && row.content === job.content) status = 'republished';
        else if (!changeAllowed(job, row)) {
          status = 'rejected';
          return null;
        } else {
          // Mentions follow the text: who an edit no longer names stops counting it.
          const source = {
            id: row.id,
            chat_id: String(row.chat_id),
            workspace_id: String(row.workspace_id),
            seq: Number(row.seq),
            sender_id: String(row.sender_id),
            content: job.content,
          };
          const mentions = await resolveMentions(conn, [source], onlineCheck(deps));
          // The version being replaced goes to the history first (message_edits: 1 is the original).
          await conn.query(
            `insert into message_edits (message_id, version, content, written_at)
             select $1, coalesce((select max(version) from message_edits where message_id = $1), 0) + 1, $2, $3`,
            [job.id, row.content, row.edited_at ?? row.created_at],
          );
          ({
            rows: [updated],
          } = await conn.query<MessageRow>(
            `update messages set content = $2, edited_at = $3, mentions = $4, rendered = $5 where id = $1 returning ${COLUMNS}`,
            [job.id, job.content, job.edited_at, JSON.stringify(mentions.get(job.id)?.mentions ?? []), renderMarkdown(job.content)],
          ));
          await conn.query('delete from mention_recipients where message_id = $1', [job.id]);
          await insertMentionRecipients(conn, mentions.has(job.id) ? [source] : [], mentions);
          status = 'applied';
        }
        const [message] = await withDetails(deps.db, [toMessage(updated)]);
        return { type: 'message.updated', workspace_id: message.workspace_id, chat_id: message.chat_id, data: { ...message } };
      }

      const deletedAt = time(row.deleted_at);
      if (deletedAt !== null && deletedAt !== time(job.deleted_at)) return null;
      if (deletedAt !== null) status = 'republished';
      else if (!changeAllowed(job, row)) {
        status = 'rejected';
        return null;
      } else {
        // The text is wiped, not just hidden (the generated tsvector empties with it, so search
        // forgets it too), with its earlier versions, and its files go with it.
        await conn.query(`update messages set deleted_at = $2, content = '', rendered = '', link_previews = '[]' where id = $1`, [job.id, job.deleted_at]);
        await conn.query('delete from message_edits where message_id = $1', [job.id]);
        const { rows: files } = await conn.query<{ storage_key: string; thumbnail_key: string | null }>(
          'delete from attachments where message_id = $1 returning storage_key, thumbnail_key',
          [job.id],
        );
        removedBlobs = files.flatMap((f) => [f.storage_key, ...(f.thumbnail_key ? [f.thumbnail_key] : [])]);
        if (row.thread_root_id) await conn.query('update messages set reply_count = greatest(reply_count - 1, 0) where id = $1', [row.thread_root_id]);
        status = 'applied';
      }
      // A reply's also carries its root's counts now.
      const thread = row.thread_root_id
        ? await conn
            .query<{ reply_count: number; last_reply_at: Date | null }>('select reply_count, last_reply_at from messages where id = $1', [row.thread_root_id])
            .then(({ rows: [root] }) => ({
              thread_root_id: row.thread_root_id,
              thread: { root_id: row.thread_root_id, reply_count: Number(root.reply_count), last_reply_at: iso(root.last_reply_at) },
            }))
        : {};
      return {
        type: 'message.deleted',
        workspace_id: String(row.workspace_id),
        chat_id: String(row.chat_id),
        data: { id: row.id, seq: Number(row.seq), ...thread },
      };
    });
    if (event && actor) await noteWriters(deps, conn, [actor]);
    if (event) await publishEvents(deps.redis, deps.stream, [event]);
    return status;
  });
  if (removedBlobs.length) await removeBlobs(deps, removedBlobs);
  if (status === 'rejected') deps.log.info({ message_id: job.id, chat_id: job.chat_id, kind: job.kind, actor_id: job.actor_id }, 'persist: change refused');
  if (status !== 'stale' && status !== 'rejected') await enqueueSearchIndex(deps, [{ op: job.kind === 'edit' ? 'upsert' : 'delete', message_id: job.id }]);
  if (status === 'applied' && job.kind === 'edit')
    await enqueueUnfurl(deps, [{ id: job.id, content: job.content, version: String(new Date(job.edited_at).getTime()) }]);
  return status;
}
