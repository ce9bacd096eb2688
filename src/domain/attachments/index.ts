// Attachments as the API shows them. Files are uploaded to a chat first (upload.ts), then a
// message takes them (its attachment_ids); they are downloaded by chat members only.
import type { Deps } from '../../deps.js';
import { iso } from '../users.js';

export interface Attachment {
  id: string;
  filename: string;
  content_type: string;
  size: number;
  /** Images: their size in pixels; null otherwise. */
  width: number | null;
  height: number | null;
  /** The file, for chat members (an authorised route). */
  url: string;
  /** A 320 px WebP preview of an image, or null. */
  thumbnail_url: string | null;
  created_at: string;
}

export const ATTACHMENT_COLUMNS = ['id', 'message_id', 'filename', 'content_type', 'size', 'width', 'height', 'thumbnail_key', 'created_at'];

export function toAttachment(row: Record<string, any>): Attachment {
  const url = `/api/v1/attachments/${row.id}`;
  return {
    id: row.id,
    filename: row.filename,
    content_type: row.content_type,
    size: Number(row.size),
    width: row.width ?? null,
    height: row.height ?? null,
    url,
    thumbnail_url: row.thumbnail_key ? `${url}/thumbnail` : null,
    created_at: iso(row.created_at)!,
  };
}

/**
 * Deletes blobs whose rows are gone (their message was deleted). Best effort: a failure is
 * logged and leaves an orphan blob, never an error for the change that removed the rows.
 */
export async function removeBlobs(deps: Pick<Deps, 'files' | 'log'>, keys: string[]): Promise<void> {
  const results = await Promise.allSettled(keys.map((key) => deps.files.delete(key)));
  const failed = keys.filter((_, i) => results[i].status === 'rejected');
  if (failed.length) deps.log.warn({ keys: failed }, 'could not delete attachment blobs; they are orphans now');
}
