// Link preview fetching: one polite, bounded GET per link a message contains (the unfurl worker
// calls fetchPreview for each URL from extractLinks). The links are user-given, so every hop,
// the first request and each redirect, goes through the outbound guard (resolveOutbound: http(s)
// only, public addresses unless allowPrivate) and connects to the address it checked. Bounded
// everywhere: 5 s for the whole chain, 3 redirects, 512 KiB of body, 2 requests per host at once.
//
// The guard's outboundRequest() buffers a string body of 64 KiB and hides the response headers,
// so this module makes its own request with the guard's pinned lookup, streaming the body.
import http from 'node:http';
import https from 'node:https';
import { pinnedLookup, resolveOutbound, type OutboundOptions, type OutboundTarget } from '../notifications/outbound.js';
import { decodeBody, parsePreview, type LinkPreview } from './parse.js';

export interface FetchPreviewOptions {
  /** OUTBOUND_ALLOW_PRIVATE_ADDRESSES: let the guard reach private and loopback addresses (tests). */
  allowPrivate: boolean;
  /** Resolver for the guard; defaults to the system's. */
  resolve?: OutboundOptions['resolve'];
  /** For the whole fetch, redirects and waiting for a host slot included. Default 5000. */
  timeoutMs?: number;
  /** Body bytes read at most; the rest is never downloaded. Default 512 KiB. */
  maxBytes?: number;
  /** Default 3. */
  maxRedirects?: number;
  /** Default: the process-wide limiter (2 per host). */
  limiter?: HostLimiter;
}

export const USER_AGENT = 'FechatterBot/1.0 (+link previews)';
const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** At most `perHost` holders per host name at once; later callers wait in order. */
export class HostLimiter {
  private readonly hosts = new Map<string, { active: number; waiting: Array<() => void> }>();

  constructor(readonly perHost = 2) {}

  /** Resolves with a release function (idempotent); rejects if `signal` aborts while waiting. */
  async acquire(host: string, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    let entry = this.hosts.get(host);
    if (!entry) this.hosts.set(host, (entry = { active: 0, waiting: [] }));
    const slot = entry;
    if (slot.active < this.perHost) slot.active++;
    else {
      // A releasing holder hands its slot straight to the next waiter (active stays counted).
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          slot.waiting.splice(slot.waiting.indexOf(wake), 1);
          reject(signal!.reason);
        };
        slot.waiting.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = slot.waiting.shift();
      if (next) next();
      else if (--slot.active === 0) this.hosts.delete(host);
    };
  }

  /** Holders for `host` right now. */
  active(host: string): number {
    return this.hosts.get(host)?.active ?? 0;
  }
}

const defaultLimiter = new HostLimiter(2);

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}

/** A GET to the checked address (as outboundRequest does), resolving with the streaming response. */
function get(target: OutboundTarget, accept: string, signal: AbortSignal): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  const transport = target.url.protocol === 'https:' ? https : http;
  const headers = { Accept: accept, 'Accept-Encoding': 'identity', 'User-Agent': USER_AGENT };
  return new Promise((resolve, reject) => {
    const req = transport.request(target.url, { method: 'GET', headers, lookup: pinnedLookup(target), agent: false, signal }, (res) => resolve({ req, res }));
    req.on('error', reject);
    req.end();
  });
}

/** Up to `maxBytes` of the body; stops reading (and drops the connection) once that is reached. */
async function readCapped(res: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    const room = maxBytes - size;
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    size += Math.min(chunk.length, room);
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks, size);
}

interface Fetched {
  body: Buffer;
  contentType: string | undefined;
  /** After redirects. */
  finalUrl: string;
}

/** GETs `url` through the guard, following redirects; null unless the answer is 2xx, uncompressed and one of `mediaTypes`. */
async function follow(
  url: string,
  options: FetchPreviewOptions,
  want: { accept: string; mediaTypes: Set<string>; maxBytes: number },
  signal: AbortSignal,
): Promise<Fetched | null> {
  const limiter = options.limiter ?? defaultLimiter;
  const maxRedirects = options.maxRedirects ?? 3;
  let current = url;
  for (let redirects = 0; ; redirects++) {
    // Every hop is re-checked: a public page may redirect to http://169.254.169.254/.
    const target = await abortable(resolveOutbound(current, { allowPrivate: options.allowPrivate, resolve: options.resolve }), signal);
    const release = await limiter.acquire(target.url.hostname, signal);
    let req: http.ClientRequest | undefined;
    try {
      const response = await get(target, want.accept, signal);
      req = response.req;
      const { res } = response;
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        const location = res.headers.location;
        if (!location || redirects >= maxRedirects) return null;
        current = new URL(location, target.url).href;
        continue;
      }
      if (status < 200 || status > 299) return null;
      const contentType = res.headers['content-type'];
      const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
      const encoding = (res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      // We ask for identity; a compressed body we did not ask for is not worth decoding.
      if (!want.mediaTypes.has(mediaType) || encoding !== 'identity') return null;
      return { body: await readCapped(res, want.maxBytes), contentType, finalUrl: target.url.href };
    } finally {
      // agent: false, so this closes the connection: nothing more is downloaded.
      req?.destroy();
      release();
    }
  }
}

/** Runs `fetch` under the time limit; null on any failure. */
async function bounded<T>(options: FetchPreviewOptions, fetch: (signal: AbortSignal) => Promise<T | null>): Promise<T | null> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('link preview timed out')), options.timeoutMs ?? 5000);
  try {
    return await fetch(controller.signal);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
/** A preview image is shown small: more than this is not worth fetching. */
export const PREVIEW_IMAGE_MAX_BYTES = 4 * 1024 * 1024;

/** A preview's image (png, jpeg, gif or webp, at most PREVIEW_IMAGE_MAX_BYTES), fetched like the page; null otherwise. Never throws. */
export function fetchPreviewImage(url: string, options: FetchPreviewOptions): Promise<Buffer | null> {
  return bounded(options, async (signal) => {
    const fetched = await follow(url, options, { accept: 'image/*', mediaTypes: IMAGE_TYPES, maxBytes: PREVIEW_IMAGE_MAX_BYTES + 1 }, signal);
    // Cut off at the limit means too big, not a smaller image.
    return fetched && fetched.body.length <= PREVIEW_IMAGE_MAX_BYTES ? fetched.body : null;
  });
}

/**
 * The preview for `url`, or null when it cannot be had: refused by the guard, not HTML, an
 * error status, too many redirects, past the time limit, or no title. Never throws.
 */
export function fetchPreview(url: string, options: FetchPreviewOptions): Promise<LinkPreview | null> {
  return bounded(options, async (signal) => {
    const fetched = await follow(url, options, { accept: 'text/html', mediaTypes: HTML_TYPES, maxBytes: options.maxBytes ?? 512 * 1024 }, signal);
    return fetched && parsePreview(decodeBody(fetched.body, fetched.contentType), url, fetched.finalUrl);
  });
}
