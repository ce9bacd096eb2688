// The unfurl worker's job: fetch the previews of a message's links and attach them, with a
// `message.link_previews` event (outbox.ts). Jobs come from enqueueUnfurl, called after the
// persist worker commits a new or edited message that has links. Results are cached per URL in
// Redis for an hour (failures for ten minutes), so a link posted in many chats is fetched once.
// A preview's image is fetched too and kept as our own small WebP (the blob store, served from
// /api/v1/link-previews/images/): readers' browsers never contact the linked site, and what
// they are shown is an image we re-encoded, never the site's bytes.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Deps } from '../../deps.js';
import { extractLinks } from '../markdown.js';
import { publishOutbox, recordEvents } from '../outbox.js';
import { makeThumbnail } from '../attachments/thumbnail.js';
import { fetchPreview, fetchPreviewImage } from './fetch.js';
import type { LinkPreview } from './parse.js';

type UnfurlDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'queues' | 'stream' | 'log' | 'files'>;

const CACHE_SECONDS = 3600;
const FAILURE_CACHE_SECONDS = 600;

/** Queues previews for messages with links; never throws (a preview must not fail a write). */
export async function enqueueUnfurl(deps: UnfurlDeps, messages: Array<{ id: string; content: string; version: string }>): Promise<void> {
  // The substring test spares the Markdown parse for the many messages without a link.
  const withLinks = messages.filter((m) => /https?:\/\//i.test(m.content) && extractLinks(m.content).length > 0);
  if (withLinks.length === 0) return;
  try {
    await deps.queues.unfurl.addBulk(withLinks.map((m) => ({ name: 'unfurl', data: { message_id: m.id }, opts: { jobId: `u:${m.id}:${m.version}` } })));
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, message_ids: withLinks.map((m) => m.id) }, 'could not queue link previews');
  }
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** Where a kept preview image is served (PREVIEW_IMAGE_RE names it). */
export const previewImagePath = (name: string) => `/api/v1/link-previews/images/${name}`;
export const PREVIEW_IMAGE_RE = /^[0-9a-f]{64}\.webp$/;
export const previewImageKey = (name: string) => `previews/${name}`;

/** Our copy of a preview's image: a thumbnail of what the site serves, or null. */
async function keepImage(deps: UnfurlDeps, imageUrl: string): Promise<string | null> {
  const bytes = await fetchPreviewImage(imageUrl, { allowPrivate: deps.config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES });
  const thumb = bytes && (await makeThumbnail(bytes));
  if (!thumb) return null;
  const name = `${sha256(imageUrl)}.webp`;
  await deps.files.put(previewImageKey(name), Readable.from([thumb.buffer]), { contentType: thumb.content_type, maxBytes: thumb.buffer.length });
  return previewImagePath(name);
}

/** Fetches in flight in this process, by URL: messages arriving together with one link fetch it once. */
const inFlight = new Map<string, Promise<LinkPreview | null>>();

function previewOf(deps: UnfurlDeps, url: string): Promise<LinkPreview | null> {
  const key = deps.keys.cache(`unfurl:${url}`);
  let pending = inFlight.get(key);
  if (!pending) {
    pending = cachedPreview(deps, url).finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
  }
  return pending;
}

async function cachedPreview(deps: UnfurlDeps, url: string): Promise<LinkPreview | null> {
  const key = deps.keys.cache(`unfurl:${sha256(url)}`);
  const cached = await deps.redis.get(key);
  if (cached !== null) return JSON.parse(cached) as LinkPreview | null;
  const fetched = await fetchPreview(url, { allowPrivate: deps.config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES });
  const preview = fetched && { ...fetched, image_url: fetched.image_url ? await keepImage(deps, fetched.image_url).catch(() => null) : null };
  await deps.redis.set(key, JSON.stringify(preview), 'EX', preview ? CACHE_SECONDS : FAILURE_CACHE_SECONDS);
  return preview;
}

/**
 * Attaches the previews of the message's current links, if its text is still the one they were
 * fetched for (an edit meanwhile queues its own job). Returns how many previews it attached.
 */
export async function unfurlMessage(deps: UnfurlDeps, messageId: string): Promise<number> {
  const row = await deps.db('messages').where({ id: messageId }).whereNull('deleted_at').first('content', 'chat_id', 'workspace_id');
  if (!row) return 0;
  const previews = (await Promise.all(extractLinks(row.content).map((url) => previewOf(deps, url)))).filter((p): p is LinkPreview => p !== null);
  const recorded = await deps.db.transaction(async (trx) => {
    const changed = await trx('messages')
      .where({ id: messageId, content: row.content })
      .whereNull('deleted_at')
      .update({ link_previews: JSON.stringify(previews) });
    if (!changed) return [];
    const event = {
      type: 'message.link_previews' as const,
      workspace_id: String(row.workspace_id),
      chat_id: String(row.chat_id),
      data: { id: messageId, link_previews: previews },
    };
    return recordEvents(trx, [event]);
  });
  await publishOutbox(deps, recorded);
  return recorded.length ? previews.length : 0;
}
