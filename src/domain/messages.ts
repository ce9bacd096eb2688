// Messages: accepting writes (send, edit, delete) into the BullMQ "persist" queue, and reading
// history. Writes are asynchronous: the API answers 202 once the job is in Redis, and
// workers/persist.ts assigns `seq`, stores the row and publishes the event
// (src/domain/message-persist.ts). See ARCHITECTURE.md, "The write path".
import { hash } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Deps } from '../deps.js';
import type { CreateMessageJob, DeleteMessageJob, EditMessageJob, PersistJob } from '../infra/queues.js';
import { accessChat, roleAtLeast, type ChatAccess } from './access.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import type { Knex } from 'knex';
import { ATTACHMENT_COLUMNS, toAttachment, type Attachment } from './attachments/index.js';
import { renderMarkdown } from './markdown.js';
import type { Mention } from './mentions.js';
import type { LinkPreview } from './unfurl/parse.js';

export const CONTENT_MAX_CHARS = 4000;
export const CLIENT_ID_MAX_CHARS = 64;
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 200;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The lists keyed by a message or file id (mentions, saved, threads, files) take such a cursor; anything else is a 400. */
export function checkIdCursor(cursor: string | undefined): void {
  if (cursor !== undefined && !UUID_RE.test(cursor)) {
    throw new ValidationError('Invalid query string.', [{ field: 'cursor', code: 'invalid_cursor', message: 'must be a next_cursor from a previous page' }]);
  }
}

export type MessageDeps = Pick<Deps, 'db' | 'reads' | 'redis' | 'keys' | 'config' | 'queues'>;

/** The API's `message` object. */
export interface Message {
  id: string;
  chat_id: string;
  workspace_id: string;
  seq: number;
  sender_id: string;
  content: string;
  client_id: string;
  reply_to: string | null;
  /** The root of the thread this message replies in (a message of the same chat), or null. */
  thread_root_id: string | null;
  /** On a thread root: its replies so far and when the last came. */
  reply_count: number;
  last_reply_at: string | null;
  /** Who the message mentions (mentions.ts), resolved when it was stored or last edited. */
  mentions: Mention[];
  /** `content` as sanitized HTML (markdown.ts), rendered once when stored or edited. */
  rendered: string;
  /** Previews of its links, attached by the unfurl worker after it is stored. */
  link_previews: LinkPreview[];
  reactions: Reaction[];
  attachments: Attachment[];
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
}

/** One emoji on a message: how many reacted with it, and who (oldest first). */
export interface Reaction {
  emoji: string;
  count: number;
  user_ids: string[];
}

export interface MessageRow {
  id: string;
  chat_id: string | number;
  workspace_id: string | number;
  seq: string | number;
  sender_id: string | number;
  client_id: string;
  content: string;
  reply_to: string | null;
  thread_root_id: string | null;
  reply_count: number;
  last_reply_at: Date | string | null;
  mentions: Mention[];
  rendered: string | null;
  link_previews: LinkPreview[];
  created_at: Date | string;
  edited_at: Date | string | null;
  deleted_at: Date | string | null;
  published_at?: Date | string | null;
}

/** Columns every read selects (never the tsvector). */
export const MESSAGE_COLUMNS = [
  'id',
  'chat_id',
  'workspace_id',
  'seq',
  'sender_id',
  'client_id',
  'content',
  'reply_to',
  'thread_root_id',
  'reply_count',
  'last_reply_at',
  'mentions',
  'rendered',
  'link_previews',
  'created_at',
  'edited_at',
  'deleted_at',
  'published_at',
];

const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());

/**
 * Row -> API message, without its reactions and attachments (withDetails adds them). A deleted
 * message keeps its seq and thread counts but not its content. Rows stored before Markdown
 * rendering existed are rendered here.
 */
export function toMessage(row: MessageRow): Message {
  const deleted = row.deleted_at !== null;
  return {
    id: row.id,
    chat_id: String(row.chat_id),
    workspace_id: String(row.workspace_id),
    seq: Number(row.seq),
    sender_id: String(row.sender_id),
    content: deleted ? '' : row.content,
    client_id: row.client_id,
    reply_to: row.reply_to,
    thread_root_id: row.thread_root_id,
    reply_count: Number(row.reply_count),
    last_reply_at: iso(row.last_reply_at),
    mentions: deleted ? [] : row.mentions,
    rendered: deleted ? '' : (row.rendered ?? renderMarkdown(row.content)),
    link_previews: deleted ? [] : row.link_previews,
    reactions: [],
    attachments: [],
    created_at: iso(row.created_at)!,
    edited_at: iso(row.edited_at),
    deleted,
  };
}

/**
 * Adds reactions and attachments to messages read from rows: one query, one round trip, for any
 * number of messages (none for an empty list or only deleted ones), each message's details by
 * index lookups. Every reader of messages returns them through this.
 */
const DETAILS_SQL = `select d.id,
    (select coalesce(jsonb_agg(jsonb_build_object('emoji', x.emoji, 'count', x.n, 'user_ids', x.u) order by x.first_at, x.emoji), '[]')
       from (select emoji, count(*)::int as n, array_agg(user_id::text order by created_at, user_id) as u, min(created_at) as first_at
               from message_reactions r where r.message_id = d.id group by emoji) x) as reactions,
    (select coalesce(jsonb_agg(to_jsonb(f) order by f.created_at, f.id), '[]')
       from (select ${ATTACHMENT_COLUMNS.join(', ')} from attachments a where a.message_id = d.id) f) as attachments
  from unnest(?::uuid[]) as d(id)`;

export async function withDetails(db: Knex, messages: Message[]): Promise<Message[]> {
  const ids = messages.filter((m) => !m.deleted).map((m) => m.id);
  if (ids.length === 0) return messages;
  const { rows } = await db.raw<{ rows: Array<{ id: string; reactions: Reaction[]; attachments: Array<Record<string, unknown>> }> }>(DETAILS_SQL, [ids]);
  const details = new Map(rows.map((r) => [r.id, r]));
  return messages.map((m) => {
    const d = details.get(m.id);
    return d ? { ...m, reactions: d.reactions, attachments: d.attachments.map(toAttachment) } : m;
  });
}

/**
 * Content rules shared by send and edit (the route schemas call this too): at least one
 * non-whitespace character, at most 4000 characters counted as code points (as Postgres's
 * char_length counts them) of the content exactly as stored (nothing is trimmed, so
 * surrounding whitespace counts), and text Postgres can store unchanged (no NUL, no lone
 * UTF-16 surrogates, which UTF-8 cannot encode).
 */
export function contentProblem(content: string): string | undefined {
  if (!/\S/u.test(content)) return 'must contain a non-whitespace character';
  let chars = 0;
  for (const _ of content) if (++chars > CONTENT_MAX_CHARS) return `must be at most ${CONTENT_MAX_CHARS} characters`;
  if (content.includes('\u0000') || /\p{Cs}/u.test(content)) return 'must be valid UTF-8 text (no NUL or lone surrogate characters)';
  return undefined;
}

export interface SendInput {
  content: string;
  client_id: string;
  reply_to?: string | null;
  thread_root_id?: string | null;
  attachment_ids?: string[];
}

/** Files one message takes at most. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;

export interface Accepted {
  id: string;
  client_id: string;
  chat_id: string;
  status: 'accepted';
}

/**
 * A message's id: a UUID (version 8) from a SHA-256 of (chat, sender, client_id), so a retry of
 * a send gets the same id without asking Redis. The persist job's id is the message id, so BullMQ
 * ignores a repeat while the job exists, and the primary key stores it once for ever.
 */
const MESSAGE_ID_NAMESPACE = '6f1c0b52-3f0e-4a57-9a55-7c1d6b1e2f40';
export function messageIdFor(chatId: string, senderId: string, clientId: string): string {
  // Chat and sender ids are digits, so the separator cannot be forged; client_id comes last.
  // crypto.hash: one call, no Hash object (Node 20.12+).
  const digest = hash('sha256', `${MESSAGE_ID_NAMESPACE}\n${chatId}\n${senderId}\n${clientId}`, 'buffer');
  digest[6] = (digest[6] & 0x0f) | 0x80; // version 8
  digest[8] = (digest[8] & 0x3f) | 0x80; // RFC 9562 variant
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The delete job of a message has a fixed id, so a later edit finds it while it waits. */
const deleteJobId = (messageId: string) => `delete-${messageId}`;

/** A persist job, unless it is gone or finished (a finished create either stored its row or never will). */
async function unfinishedJob(deps: MessageDeps, jobId: string): Promise<Job<PersistJob> | undefined> {
  const job = await deps.queues.persist.getJob(jobId);
  return job && !job.finishedOn ? job : undefined;
}

/**
 * An accepted message not stored yet: its create job, read from Redis. Read it before the row:
 * the worker stores the row before the job finishes, so one of the two reads always finds an
 * accepted message.
 */
async function pendingCreate(deps: MessageDeps, messageId: string): Promise<CreateMessageJob | undefined> {
  const data = (await unfinishedJob(deps, messageId))?.data;
  return data?.kind === 'create' ? data : undefined;
}

/** reply_to must name a message of the same chat, stored or still pending. */
async function checkReplyTo(deps: MessageDeps, chatId: string, replyTo: string): Promise<void> {
  if ((await pendingCreate(deps, replyTo))?.chat_id === chatId) return;
  const row = await deps.db('messages').where({ id: replyTo, chat_id: chatId }).first('id');
  if (!row) throw new ValidationError('Invalid request body.', [{ field: 'reply_to', code: 'not_found', message: 'must be a message of this chat' }]);
}

/** thread_root_id must name a stored message of the same chat that is not itself a reply (threads are one level deep). */
async function checkThreadRoot(deps: MessageDeps, chatId: string, rootId: string): Promise<void> {
  const row = await deps.db('messages').where({ id: rootId, chat_id: chatId }).whereNull('thread_root_id').first('id');
  if (!row)
    throw new ValidationError('Invalid request body.', [
      { field: 'thread_root_id', code: 'not_found', message: 'must be a message of this chat that is not a reply' },
    ]);
}

/** Attachments must be mine, uploaded to this chat, and not taken by another message yet. */
async function checkAttachments(deps: MessageDeps, userId: string, chatId: string, ids: string[]): Promise<void> {
  const rows = await deps.db('attachments').whereIn('id', ids).where({ chat_id: chatId, uploader_id: userId }).whereNull('message_id').select('id');
  const found = new Set(rows.map((r) => r.id as string));
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length) {
    throw new ValidationError('Invalid request body.', [
      { field: 'attachment_ids', code: 'not_found', message: 'must be files I uploaded to this chat, not yet sent', attachment_ids: missing },
    ]);
  }
}

/**
 * Sends a message: authorizes (from the access cache, usually without I/O), derives the message
 * id and queues the persist job: one Redis round trip. Resolves only once Redis holds the job,
 * so a 202 is never false; any Redis error propagates (the API maps it to 503).
 */
export async function acceptMessage(deps: MessageDeps, userId: string, chatId: string, input: SendInput): Promise<Accepted> {
  const { chat } = await accessChat(deps, userId, chatId, 'member');
  if (chat.archived_at) throw new ForbiddenError('The chat is archived: it takes no new messages.');
  const replyTo = input.reply_to ?? null;
  if (replyTo) await checkReplyTo(deps, chatId, replyTo);
  const threadRootId = input.thread_root_id ?? null;
  if (threadRootId) await checkThreadRoot(deps, chatId, threadRootId);
  const attachmentIds = [...new Set(input.attachment_ids ?? [])];
  if (attachmentIds.length) await checkAttachments(deps, userId, chatId, attachmentIds);

  const id = messageIdFor(chatId, userId, input.client_id);
  const job: CreateMessageJob = {
    kind: 'create',
    id,
    chat_id: chatId,
    workspace_id: chat.workspace_id,
    sender_id: userId,
    client_id: input.client_id,
    content: input.content,
    reply_to: replyTo,
    thread_root_id: threadRootId,
    attachment_ids: attachmentIds,
    accepted_at: Date.now(),
  };
  // jobId = message id: BullMQ ignores a second add while the first job exists, and a later
  // duplicate finds the row already stored (the worker then only re-publishes if needed). If the
  // add fails the client gets a 503 and its retry lands on the same id, re-doing it idempotently.
  // A retry with other content keeps the first content, as any duplicate does.
  await deps.queues.persist.add('create', job, { jobId: id });
  return { id, client_id: input.client_id, chat_id: chatId, status: 'accepted' };
}

interface MessageState {
  chat_id: string;
  sender_id: string;
  deleted: boolean;
  /** Its delete job, finished (refused, or failed): a new delete must replace it. */
  finishedDelete?: Job<PersistJob>;
}

/**
 * The message as the caller may see it, stored or still pending (pendingCreate). Deleted once
 * its row says so, or while its delete job waits.
 */
async function accessMessageState(deps: MessageDeps, userId: string, messageId: string): Promise<{ state: MessageState; access: ChatAccess }> {
  if (!UUID_RE.test(messageId)) throw new NotFoundError('message');
  const [pending, deleteJob] = await Promise.all([pendingCreate(deps, messageId), deps.queues.persist.getJob(deleteJobId(messageId))]);
  const row = await deps.db('messages').where({ id: messageId }).first('chat_id', 'sender_id', 'deleted_at');
  const deleting = deleteJob !== undefined && !deleteJob.finishedOn;
  let state: MessageState | undefined;
  if (row) state = { chat_id: String(row.chat_id), sender_id: String(row.sender_id), deleted: row.deleted_at !== null || deleting };
  else if (pending) state = { chat_id: pending.chat_id, sender_id: pending.sender_id, deleted: deleting };
  if (!state) throw new NotFoundError('message');
  if (deleteJob?.finishedOn) state.finishedDelete = deleteJob;
  const access = await accessChat(deps, userId, state.chat_id, 'read').catch((err) => {
    throw err instanceof NotFoundError ? new NotFoundError('message') : err;
  });
  return { state, access };
}

/** Edits by the sender only; queued behind the message's own create job (the worker retries until it exists). */
export async function editMessage(deps: MessageDeps, userId: string, messageId: string, content: string): Promise<{ id: string; status: 'accepted' }> {
  const { state, access } = await accessMessageState(deps, userId, messageId);
  if (state.deleted) throw new NotFoundError('message');
  if (state.sender_id !== userId) throw new ForbiddenError('Only the sender can edit a message.');
  if (access.chat.archived_at) throw new ForbiddenError('The chat is archived: its messages cannot be edited.');
  const job: EditMessageJob = { kind: 'edit', id: messageId, chat_id: state.chat_id, content, edited_at: new Date().toISOString(), actor_id: userId };
  await deps.queues.persist.add('edit', job);
  return { id: messageId, status: 'accepted' };
}

/** Deletes by the sender or a workspace admin+ (also in archived chats: moderation must stay possible). */
export async function deleteMessage(deps: MessageDeps, userId: string, messageId: string): Promise<{ id: string; status: 'accepted' }> {
  const { state, access } = await accessMessageState(deps, userId, messageId);
  if (state.deleted) throw new NotFoundError('message');
  if (state.sender_id !== userId && !roleAtLeast(access.role, 'admin')) throw new ForbiddenError('Only the sender or a workspace admin can delete a message.');
  // A finished delete job that left the message (refused, or failed) would swallow this one's add.
  await state.finishedDelete?.remove();
  const job: DeleteMessageJob = { kind: 'delete', id: messageId, chat_id: state.chat_id, deleted_at: new Date().toISOString(), actor_id: userId };
  await deps.queues.persist.add('delete', job, { jobId: deleteJobId(messageId) });
  return { id: messageId, status: 'accepted' };
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

/**
 * One page of history, one range scan on (chat_id, seq). Newest first with `before` or with
 * neither; oldest first with `after` (with both: the range between them, oldest first).
 * The scan may read a replica that has the caller's own writes (deps.reads); access checks and
 * reactions/attachments (written by the API, not noted) read the primary.
 */
export async function listMessages(deps: MessageDeps, userId: string, chatId: string, query: HistoryQuery): Promise<{ items: Message[]; has_more: boolean }> {
  await accessChat(deps, userId, chatId, 'read');
  const limit = Math.min(query.limit ?? HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT);
  const ascending = query.after !== undefined;
  const rows: MessageRow[] = await deps.reads.read(userId, async (db) => {
    const q = db('messages').where('chat_id', chatId).select(MESSAGE_COLUMNS);
    if (query.after !== undefined) q.where('seq', '>', query.after);
    if (query.before !== undefined) q.where('seq', '<', query.before);
    return q.orderBy('seq', ascending ? 'asc' : 'desc').limit(limit + 1);
  });
  return { items: await withDetails(deps.db, rows.slice(0, limit).map(toMessage)), has_more: rows.length > limit };
}

export interface StoredMessageAccess {
  message: { id: string; chat_id: string; workspace_id: string; seq: number; sender_id: string; thread_root_id: string | null };
  access: ChatAccess;
}

/**
 * A stored, not deleted message the caller may `mode` (read it, or act as a member of its chat):
 * what reactions, pins, saves and threads act on. 404 otherwise, strangers too. Stored is
 * enough: a client knows of a message only from its event or from history, both after COMMIT.
 */
export async function accessStoredMessage(
  deps: Pick<Deps, 'db' | 'redis' | 'keys' | 'config'>,
  userId: string,
  messageId: string,
  mode: 'read' | 'member',
): Promise<StoredMessageAccess> {
  if (!UUID_RE.test(messageId)) throw new NotFoundError('message');
  const row = await deps
    .db('messages')
    .where({ id: messageId })
    .whereNull('deleted_at')
    .first('id', 'chat_id', 'workspace_id', 'seq', 'sender_id', 'thread_root_id');
  if (!row) throw new NotFoundError('message');
  const access = await accessChat(deps, userId, String(row.chat_id), mode).catch((err) => {
    throw err instanceof NotFoundError ? new NotFoundError('message') : err;
  });
  return {
    message: {
      id: row.id,
      chat_id: String(row.chat_id),
      workspace_id: String(row.workspace_id),
      seq: Number(row.seq),
      sender_id: String(row.sender_id),
      thread_root_id: row.thread_root_id,
    },
    access,
  };
}

/** A stored message the caller may read; 404 for strangers and for messages not yet persisted. */
export async function getMessage(deps: MessageDeps, userId: string, messageId: string): Promise<Message> {
  if (!UUID_RE.test(messageId)) throw new NotFoundError('message');
  const row: MessageRow | undefined = await deps.db('messages').where({ id: messageId }).first(MESSAGE_COLUMNS);
  if (!row) throw new NotFoundError('message');
  await accessChat(deps, userId, String(row.chat_id), 'read').catch((err) => {
    throw err instanceof NotFoundError ? new NotFoundError('message') : err;
  });
  const [message] = await withDetails(deps.db, [toMessage(row)]);
  return message;
}

export interface MessageVersion {
  /** 1 is the original text; the message itself holds the newest. */
  version: number;
  content: string;
  rendered: string;
  /** When this version was written. */
  written_at: string;
}

/** Earlier versions of an edited message, newest first; members who can read it see them. Gone with a delete. */
export async function listEdits(deps: MessageDeps, userId: string, messageId: string): Promise<MessageVersion[]> {
  await accessStoredMessage(deps, userId, messageId, 'read');
  const rows = await deps.db('message_edits').where({ message_id: messageId }).orderBy('version', 'desc').select('version', 'content', 'written_at');
  return rows.map((r) => ({ version: r.version, content: r.content, rendered: renderMarkdown(r.content), written_at: iso(r.written_at)! }));
}
