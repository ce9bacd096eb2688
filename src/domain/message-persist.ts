// The persisting half of the write path, called by workers/persist.ts: assign gapless `seq`,
// store messages, apply edits/deletes, and publish their events in seq order per chat.
//
// Ordering across any number of worker processes: every writer of a chat holds a Postgres
// session advisory lock on the chat id (keyspace: chat ids, taken in ascending order so two
// batches never deadlock) from before its transaction until after its XADD. Inside the lock,
// `chats.last_seq` gives the next seqs and nobody else can publish for the chat, so the
// stream carries each chat's events in seq order.
//
// Outbox: `messages.published_at` is set after the XADD, still under the lock. Every batch first
// re-publishes rows of its chats left unpublished by a worker that died between COMMIT and
// XADD, so those events still come out in seq order and exactly once.
//
// Authorization is re-checked here, in the persisting transaction: the API checked it at the 202,
// but the sender may have left the chat (or the chat been archived) since, and a job can reach
// the queue without the API (a forged one). Jobs that fail are rejected: not stored, not announced.
import type pg from 'pg';
import type { Deps } from '../deps.js';
import { announceCreated, publishEvents, type ChatEvent } from '../infra/events.js';
import type { CreateMessageJob, DeleteMessageJob, EditMessageJob } from '../infra/queues.js';
import { roleAtLeast, type ChatType, type Role } from './access.js';
import { removeBlobs } from './attachments/index.js';
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
 * Runs `fn` on one dedicated connection while holding the advisory locks of `chatIds`.
 * The locks are session locks (they must outlive the transaction until the XADD), so they are
 * released explicitly; a connection whose unlock fails is discarded rather than pooled.
 */
async function withChatLocks<T>(deps: PersistDeps, chatIds: string[], fn: (conn: pg.ClientBase) => Promise<T>): Promise<T> {
  const conn = (await deps.db.client.acquireConnection()) as pg.ClientBase & { __knex__disposed?: unknown };
  try {
    // unnest yields the array in order, so the locks are taken in ascending chat id order.
    await conn.query('select pg_advisory_lock(id) from unnest($1::bigint[]) as t(id)', [[...new Set(chatIds)].sort(compareIds)]);
    return await fn(conn);
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

/**
 * Replies bump their root's reply_count and last_reply_at, and follow the thread for whoever
 * takes part: the root's author and the people a reply mentions start following (unless they
 * unfollowed), the replier too, having read it up to their reply.
 */
async function recordReplies(conn: pg.ClientBase, replies: Array<CreateMessageJob & { seq: number }>, mentions: Map<string, ResolvedMentions>): Promise<void> {
  if (replies.length === 0) return;
  await conn.query(
    `update messages r set reply_count = r.reply_count + v.n, last_reply_at = now()
       from (select root_id, count(*)::int as n from unnest($1::uuid[]) as t(root_id) group by root_id) v
      where r.id = v.root_id`,
    [replies.map((r) => r.thread_root_id)],
  );
  const follows = replies.flatMap((r) => [
    ...(mentions.get(r.id)?.recipients ?? []).filter((m) => m.kind === 'user').map((m) => [m.user_id, r.thread_root_id!, r.chat_id, 0] as const),
    [r.sender_id, r.thread_root_id!, r.chat_id, r.seq] as const,
  ]);
  await conn.query(
    `insert into thread_follows (user_id, root_id, chat_id, last_read_seq)
     select user_id, root_id, chat_id, max(seq) from (
       select * from unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::bigint[]) as t(user_id, root_id, chat_id, seq)
       union all
       select r.sender_id, r.id, r.chat_id, 0 from messages r where r.id = any($2::uuid[])
     ) f group by user_id, root_id, chat_id
     on conflict (user_id, root_id) do update set last_read_seq = greatest(thread_follows.last_read_seq, excluded.last_read_seq)`,
    [follows.map((f) => f[0]), follows.map((f) => f[1]), follows.map((f) => f[2]), follows.map((f) => f[3])],
  );
}

/** Attaches uploaded files to their message; the API checked them, this re-checks owner, chat and "not taken". */
async function takeAttachments(conn: pg.ClientBase, messages: CreateMessageJob[]): Promise<void> {
  const pairs = messages.flatMap((m) => m.attachment_ids!.map((a) => [a, m.id, m.chat_id, m.sender_id] as const));
  if (pairs.length === 0) return;
  await conn.query(
    `update attachments a set message_id = v.message_id
       from unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[]) as v(id, message_id, chat_id, uploader_id)
      where a.id = v.id and a.chat_id = v.chat_id and a.uploader_id = v.uploader_id and a.message_id is null`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1]), pairs.map((p) => p[2]), pairs.map((p) => p[3])],
  );
}

/** A reply's event also carries its root's thread counts as they are now, so clients update the root without a refetch. */
type PendingRow = MessageRow & { root_reply_count: number | null; root_last_reply_at: Date | null };

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
 * Publishes message.created for every unpublished row of `chatIds`, in (chat, seq) order, then
 * marks them published. Precondition: the caller holds the chats' advisory locks.
 */
async function publishPending(deps: PersistDeps, conn: pg.ClientBase, chatIds: string[], acceptedAt: Map<string, number>): Promise<void> {
  const { rows } = await conn.query<PendingRow>(
    `select ${MESSAGE_COLUMNS.map((c) => `m.${c}`).join(', ')}, r.reply_count as root_reply_count, r.last_reply_at as root_last_reply_at
       from messages m left join messages r on r.id = m.thread_root_id
      where m.chat_id = any($1::bigint[]) and m.published_at is null order by m.chat_id, m.seq`,
    [chatIds],
  );
  if (rows.length === 0) return;
  // Attachments are committed with their message; reactions cannot exist yet.
  const messages = await withDetails(deps.db, rows.map(toMessage));
  await announceCreated(
    deps.redis,
    deps.stream,
    rows.map((row, i) => createdEvent(messages[i], row, acceptedAt.get(row.id))),
  );
  // The mark need not be durable (if lost, the Redis high-water mark stops a second announcement),
  // so it skips the commit's WAL flush: one fsync per batch instead of two.
  await inTransaction(conn, async () => {
    await conn.query('set local synchronous_commit = off');
    await conn.query('update messages set published_at = now() where id = any($1::uuid[])', [rows.map((r) => r.id)]);
  });
}

/** The stored messages among a batch, by id or by (chat_id, sender_id, client_id). Exported for a plan test. */
export const EXISTING_SQL = `select id, chat_id, sender_id, client_id, seq from messages where id = any($1::uuid[])
  union
  select m.id, m.chat_id, m.sender_id, m.client_id, m.seq from messages m
    join unnest($2::bigint[], $3::bigint[], $4::text[]) as k(chat_id, sender_id, client_id)
      on m.chat_id = k.chat_id and m.sender_id = k.sender_id and m.client_id = k.client_id`;

/**
 * Per job (chat_id, workspace_id, sender_id arrays, in batch order): why it may not be stored
 * (null if it may) and, if it may, its seq: one row-locked UPDATE per chat reserves a contiguous
 * range for the chat's jobs that pass, handed out in batch order. The sender must still be a
 * member of the chat (leaving a workspace leaves its chats), the chat in the job's workspace and
 * not archived.
 */
const CHECK_AND_RESERVE_SQL = `with job as (
    select * from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::uuid[]) with ordinality as t(chat_id, workspace_id, sender_id, thread_root_id, i)
  ), checked as (
    select job.i, job.chat_id,
      case when c.id is null then 'chat_gone'
           when c.workspace_id <> job.workspace_id then 'wrong_workspace'
           when c.archived_at is not null then 'chat_archived'
           when cm.user_id is null then 'not_member'
           when job.thread_root_id is not null and (root.id is null or root.chat_id <> job.chat_id or root.thread_root_id is not null) then 'bad_thread_root' end as problem
    from job
    left join chats c on c.id = job.chat_id
    left join chat_members cm on cm.chat_id = job.chat_id and cm.user_id = job.sender_id
    left join messages root on root.id = job.thread_root_id
  ), reserved as (
    update chats c set last_seq = c.last_seq + v.n
      from (select chat_id, count(*)::int as n from checked where problem is null group by chat_id) v
     where c.id = v.chat_id
    returning c.id, c.last_seq, v.n
  )
  select checked.problem,
    reserved.last_seq - reserved.n + row_number() over (partition by checked.chat_id, checked.problem is null order by checked.i) as seq
  from checked left join reserved on reserved.id = checked.chat_id and checked.problem is null
  order by checked.i`;

/**
 * Stores a batch of accepted messages (any mix of chats) in one transaction and announces them.
 * Idempotent: ids already stored are skipped (and re-announced if their event was lost).
 * Throws if anything fails; nothing is half-stored (the caller retries jobs one by one).
 */
export async function persistMessages(deps: PersistDeps, jobs: CreateMessageJob[]): Promise<Map<string, PersistOutcome>> {
  const unique = [...new Map(jobs.map((j) => [j.id, j])).values()].sort((a, b) => a.accepted_at - b.accepted_at || (a.id < b.id ? -1 : 1));
  const chatIds = [...new Set(unique.map((j) => j.chat_id))];
  const outcomes = new Map<string, PersistOutcome>();
  const acceptedAt = new Map(unique.map((j) => [j.id, j.accepted_at]));
  const senders: string[] = [];

  await withChatLocks(deps, chatIds, async (conn) => {
    await inTransaction(conn, async () => {
      // Under the locks nobody else writes these chats, so this check is authoritative; the
      // INSERT below has no ON CONFLICT on purpose: a surprise conflict must roll back the
      // seq bump rather than leave a gap. A union, not an OR: each half uses its index (primary
      // key, unique (chat_id, sender_id, client_id)), where an OR with a subquery scans the whole table.
      const { rows: existing } = await conn.query<{ id: string; chat_id: string; sender_id: string; client_id: string; seq: string }>(EXISTING_SQL, [
        unique.map((j) => j.id),
        unique.map((j) => j.chat_id),
        unique.map((j) => j.sender_id),
        unique.map((j) => j.client_id),
      ]);
      const storedIds = new Map(existing.map((r) => [r.id, Number(r.seq)]));
      const clientKey = (m: { chat_id: string; sender_id: string; client_id: string }) => `${m.chat_id}:${m.sender_id}:${m.client_id}`;
      const takenClientIds = new Set(existing.map(clientKey));
      const fresh: CreateMessageJob[] = [];
      for (const job of unique) {
        if (storedIds.has(job.id)) outcomes.set(job.id, { id: job.id, status: 'already_stored', seq: storedIds.get(job.id)! });
        else if (takenClientIds.has(clientKey(job))) outcomes.set(job.id, { id: job.id, status: 'duplicate_client_id', seq: null });
        else {
          takenClientIds.add(clientKey(job));
          fresh.push(job);
        }
      }
      if (fresh.length === 0) return;

      // One statement re-checks every job against its chat and reserves the seqs of those that pass.
      const { rows: checked } = await conn.query<{ problem: RejectReason | 'chat_gone' | null; seq: string | null }>(CHECK_AND_RESERVE_SQL, [
        fresh.map((j) => j.chat_id),
        fresh.map((j) => j.workspace_id),
        fresh.map((j) => j.sender_id),
        fresh.map((j) => j.thread_root_id ?? null),
      ]);
      const rows: Array<CreateMessageJob & { seq: number }> = [];
      fresh.forEach((job, i) => {
        const { problem, seq } = checked[i];
        if (problem === null && seq !== null) {
          rows.push({ ...job, seq: Number(seq) });
          outcomes.set(job.id, { id: job.id, status: 'stored', seq: Number(seq) });
        } else if (problem === null || problem === 'chat_gone') {
          outcomes.set(job.id, { id: job.id, status: 'chat_gone', seq: null });
        } else {
          outcomes.set(job.id, { id: job.id, status: 'rejected', seq: null, reason: problem });
          deps.log[problem === 'wrong_workspace' ? 'warn' : 'info'](
            { message_id: job.id, chat_id: job.chat_id, sender_id: job.sender_id, reason: problem },
            'persist: message rejected',
          );
        }
      });
      if (rows.length === 0) return;
      senders.push(...rows.map((r) => r.sender_id));
      const mentions = await resolveMentions(conn, rows, onlineCheck(deps));
      await conn.query(
        `insert into messages (id, chat_id, workspace_id, seq, sender_id, client_id, content, reply_to, mentions, thread_root_id, rendered)
         select * from unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::uuid[], $9::jsonb[], $10::uuid[], $11::text[])`,
        [
          rows.map((r) => r.id),
          rows.map((r) => r.chat_id),
          rows.map((r) => r.workspace_id),
          rows.map((r) => r.seq),
          rows.map((r) => r.sender_id),
          rows.map((r) => r.client_id),
          rows.map((r) => r.content),
          rows.map((r) => r.reply_to),
          rows.map((r) => JSON.stringify(mentions.get(r.id)?.mentions ?? [])),
          rows.map((r) => r.thread_root_id ?? null),
          rows.map((r) => renderMarkdown(r.content)),
        ],
      );
      await insertMentionRecipients(
        conn,
        rows.filter((r) => mentions.has(r.id)),
        mentions,
      );
      await recordReplies(
        conn,
        rows.filter((r) => r.thread_root_id),
        mentions,
      );
      await takeAttachments(
        conn,
        rows.filter((r) => r.attachment_ids?.length),
      );
      // Your own message counts as read: move the sender's watermark to it (never back).
      await conn.query(
        `update chat_members cm set last_read_seq = v.seq, read_at = now()
           from (select chat_id, user_id, max(seq) as seq
                   from unnest($1::bigint[], $2::bigint[], $3::bigint[]) as t(chat_id, user_id, seq)
                  group by chat_id, user_id) v
          where cm.chat_id = v.chat_id and cm.user_id = v.user_id and cm.last_read_seq < v.seq`,
        [rows.map((r) => r.chat_id), rows.map((r) => r.sender_id), rows.map((r) => r.seq)],
      );
    });
    await noteWriters(deps, conn, senders);
    await publishPending(deps, conn, chatIds, acceptedAt);
  });

  // Meilisearch follows (a no-op without it). Also for rows stored by an earlier attempt, whose
  // enqueue may be what failed; the search worker re-reads rows, so repeats are harmless.
  const indexed = [...outcomes.values()].filter((o) => o.status === 'stored' || o.status === 'already_stored');
  await enqueueSearchIndex(
    deps,
    indexed.map((o) => ({ op: 'upsert', message_id: o.id })),
  );
  // Link previews follow; like notifications, queuing them never throws.
  await enqueueUnfurl(
    deps,
    unique.filter((j) => ['stored', 'already_stored'].includes(outcomes.get(j.id)?.status ?? '')).map((j) => ({ id: j.id, content: j.content, version: '0' })),
  );
  // Who should hear of it (the notifications queue); never throws, and its jobIds make repeats harmless.
  const byId = new Map(unique.map((j) => [j.id, j]));
  await enqueueNotifications(
    deps,
    indexed.map((o) => {
      const job = byId.get(o.id)!;
      return { id: o.id, chat_id: job.chat_id, workspace_id: job.workspace_id, seq: o.seq!, sender_id: job.sender_id };
    }),
  );
  return outcomes;
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
