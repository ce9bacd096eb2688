// Uploading and downloading attachments. A file is uploaded to a chat (streamed to the blob
// store under a server-made key, never the client's name), then sent by one message
// (attachment_ids); it is served to whoever may read that chat, and to its uploader before it
// is sent. Its type is sniffed from its bytes; images get a thumbnail. Every byte counts against
// the workspace's quota (WORKSPACE_STORAGE_QUOTA_BYTES).
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import type { Deps } from '../../deps.js';
import { accessChat } from '../access.js';
import { ForbiddenError, NotFoundError, PayloadTooLargeError, ValidationError } from '../../errors.js';
import { checkIdCursor, UUID_RE } from '../messages.js';
import { ATTACHMENT_COLUMNS, removeBlobs, toAttachment, type Attachment } from './index.js';
import { downloadHeaders } from './headers.js';
import { sanitizeFilename, SNIFF_BYTES, sniffContentType } from './sniff.js';
import { makeThumbnail } from './thumbnail.js';

type UploadDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'files' | 'log'>;

/** Images up to this size get a thumbnail (decoding is CPU and memory). */
const THUMBNAIL_INPUT_MAX = 32 << 20;

export class QuotaExceededError extends PayloadTooLargeError {
  constructor(quota: number) {
    super(quota);
    this.message = `This workspace has used its ${quota} bytes of file storage.`;
  }
}

async function usedBytes(db: Deps['db'], workspaceId: string): Promise<number> {
  const [{ used }] = await db('attachments').where({ workspace_id: workspaceId }).sum({ used: 'size' });
  return Number(used ?? 0);
}

async function readHead(deps: UploadDeps, key: string, bytes: number): Promise<Buffer> {
  const { stream } = await deps.files.get(key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= bytes) break;
  }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, bytes);
}

export interface UploadInput {
  stream: Readable;
  filename: string;
  declaredType: string | undefined;
  /** Content-Length, when the client sent one: lets an oversized upload fail before any byte. */
  length: number | undefined;
}

/** Members of an unarchived chat upload; 413 past UPLOAD_MAX_BYTES or the workspace quota. */
export async function uploadAttachment(deps: UploadDeps, userId: string, chatId: string, input: UploadInput): Promise<Attachment> {
  const { chat } = await accessChat(deps, userId, chatId, 'member');
  if (chat.archived_at) throw new ForbiddenError('The chat is archived: it takes no new files.');
  const filename = sanitizeFilename(input.filename);
  const quota = deps.config.WORKSPACE_STORAGE_QUOTA_BYTES;
  const room = quota - (await usedBytes(deps.db, chat.workspace_id));
  if (room <= 0 || (input.length !== undefined && input.length > room)) throw new QuotaExceededError(quota);
  const maxBytes = Math.min(deps.config.UPLOAD_MAX_BYTES, room);
  if (input.length !== undefined && input.length > maxBytes) throw new PayloadTooLargeError(maxBytes);

  const id = randomUUID();
  const key = `ws/${chat.workspace_id}/${id}`;
  const { size, sha256 } = await deps.files.put(key, input.stream, { contentType: 'application/octet-stream', maxBytes });
  const keys = [key];
  try {
    if (size === 0) throw new ValidationError('The file is empty.', [{ field: 'body', code: 'empty', message: 'send the file as the request body' }]);
    const head = await readHead(deps, key, SNIFF_BYTES);
    const contentType = await sniffContentType(head, input.declaredType, filename);
    let image: { width: number | null; height: number | null; thumbnail_key: string | null } = { width: null, height: null, thumbnail_key: null };
    if (contentType.startsWith('image/') && size <= THUMBNAIL_INPUT_MAX) {
      const { stream } = await deps.files.get(key);
      const thumb = await makeThumbnail(stream, { maxInputBytes: THUMBNAIL_INPUT_MAX });
      if (thumb) {
        const original = await sharp(head)
          .metadata()
          .catch(() => undefined);
        const thumbnailKey = `${key}.thumb`;
        await deps.files.put(thumbnailKey, Readable.from([thumb.buffer]), { contentType: thumb.content_type, maxBytes: thumb.buffer.length });
        keys.push(thumbnailKey);
        image = { width: original?.width ?? null, height: original?.pageHeight ?? original?.height ?? null, thumbnail_key: thumbnailKey };
      }
    }
    // The quota is re-checked under a per-workspace lock, so parallel uploads cannot overshoot it.
    const row = await deps.db.transaction(async (trx) => {
      await trx.raw("select pg_advisory_xact_lock(hashtext('attachments-quota'), ?::int)", [Number(chat.workspace_id) % 2 ** 31]);
      if ((await usedBytes(trx, chat.workspace_id)) + size > quota) throw new QuotaExceededError(quota);
      const [inserted] = await trx('attachments')
        .insert({
          id,
          workspace_id: chat.workspace_id,
          chat_id: chatId,
          uploader_id: userId,
          filename,
          content_type: contentType,
          size,
          sha256,
          storage_key: key,
          ...image,
        })
        .returning(ATTACHMENT_COLUMNS);
      return inserted;
    });
    return toAttachment(row);
  } catch (err) {
    await Promise.allSettled(keys.map((k) => deps.files.delete(k)));
    throw err;
  }
}

export interface FileDownload {
  headers: Record<string, string>;
  stream: Readable;
}

/**
 * An attachment's bytes (or its thumbnail): for readers of its chat once a message took it, for
 * its uploader before. Everyone else gets 404.
 */
export async function downloadAttachment(deps: UploadDeps, userId: string, attachmentId: string, variant: 'file' | 'thumbnail'): Promise<FileDownload> {
  if (!UUID_RE.test(attachmentId)) throw new NotFoundError('file');
  const row = await deps
    .db('attachments as a')
    .leftJoin('messages as m', 'm.id', 'a.message_id')
    .where('a.id', attachmentId)
    .first('a.chat_id', 'a.uploader_id', 'a.message_id', 'a.filename', 'a.content_type', 'a.size', 'a.storage_key', 'a.thumbnail_key', 'm.deleted_at');
  if (!row || row.deleted_at) throw new NotFoundError('file');
  if (row.message_id === null && String(row.uploader_id) !== userId) throw new NotFoundError('file');
  await accessChat(deps, userId, String(row.chat_id), 'read').catch((err) => {
    throw err instanceof NotFoundError ? new NotFoundError('file') : err;
  });
  if (variant === 'thumbnail') {
    if (!row.thumbnail_key) throw new NotFoundError('file');
    const { stream, size } = await deps.files.get(row.thumbnail_key);
    return { stream, headers: downloadHeaders({ filename: `${row.filename}.webp`, content_type: 'image/webp', size }, 'inline') };
  }
  const { stream } = await deps.files.get(row.storage_key);
  return { stream, headers: downloadHeaders({ filename: row.filename, content_type: row.content_type, size: Number(row.size) }, 'inline') };
}

/** Files sent in a chat, newest first, for its readers (cursor: the last item's id). */
export async function listChatAttachments(
  deps: UploadDeps,
  userId: string,
  chatId: string,
  page: { limit: number; cursor?: string },
): Promise<{ items: Array<Attachment & { message_id: string; uploader_id: string }>; next_cursor: string | null }> {
  await accessChat(deps, userId, chatId, 'read');
  checkIdCursor(page.cursor);
  const q = deps
    .db('attachments as a')
    .join('messages as m', 'm.id', 'a.message_id')
    .where('a.chat_id', chatId)
    .whereNull('m.deleted_at')
    .orderBy([
      { column: 'a.created_at', order: 'desc' },
      { column: 'a.id', order: 'desc' },
    ])
    .limit(page.limit + 1)
    .select(...ATTACHMENT_COLUMNS.map((c) => `a.${c}`), 'a.uploader_id');
  if (page.cursor !== undefined) q.whereRaw('(a.created_at, a.id) < (select created_at, id from attachments where id = ?)', [page.cursor]);
  const rows = await q;
  const items = rows.slice(0, page.limit).map((r) => ({ ...toAttachment(r), message_id: r.message_id as string, uploader_id: String(r.uploader_id) }));
  return { items, next_cursor: rows.length > page.limit ? items[items.length - 1].id : null };
}

/** Uploads never sent by a message are deleted after this long (they count against the quota). */
export const UNSENT_UPLOAD_TTL_MS = 24 * 3600_000;

/**
 * Deletes up to a batch of uploads older than `olderThanMs` that no message took, rows first
 * (skipping rows another sweeper or a sending message holds), then their blobs. Returns how many.
 */
export async function sweepUnsentUploads(deps: Pick<Deps, 'db' | 'files' | 'log'>, olderThanMs = UNSENT_UPLOAD_TTL_MS): Promise<number> {
  const rows: Array<{ storage_key: string; thumbnail_key: string | null }> = await deps.db
    .with('stale', (q) =>
      q
        .select('id')
        .from('attachments')
        .whereNull('message_id')
        .where('created_at', '<', new Date(Date.now() - olderThanMs))
        .limit(500)
        .forUpdate()
        .skipLocked(),
    )
    .delete()
    .from('attachments')
    .whereIn('id', deps.db.select('id').from('stale'))
    .returning(['storage_key', 'thumbnail_key']);
  if (rows.length)
    await removeBlobs(
      deps,
      rows.flatMap((r) => [r.storage_key, ...(r.thumbnail_key ? [r.thumbnail_key] : [])]),
    );
  return rows.length;
}
