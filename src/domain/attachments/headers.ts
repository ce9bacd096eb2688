// Response headers for serving an attachment. The bytes are user content on our origin, so the
// browser must neither guess a type (nosniff) nor run anything it renders (a CSP sandbox with
// nothing allowed); only raster images may be shown inline, everything else downloads.
import { sanitizeFilename } from './sniff.js';

export type Disposition = 'inline' | 'attachment';

const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']);

/** RFC 5987 ext-value encoding: percent-encode everything but attr-char. */
function encodeExtValue(s: string): string {
  return encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** For clients without filename* support: printable ASCII only, no quote or backslash. */
function asciiFallback(s: string): string {
  return s.replace(/[^\x20-\x7e]|["\\%]/g, '_');
}

/**
 * Headers for a download of `att`. `inline` is honoured only for raster images (thumbnails,
 * previews); anything else is sent as an attachment. The caller streams the body and may add
 * caching headers (ETag, Cache-Control: private).
 */
export function downloadHeaders(
  att: { filename: string; content_type: string; size: number },
  disposition: Disposition = 'attachment',
): Record<string, string> {
  const type = att.content_type.split(';')[0].trim().toLowerCase();
  const name = sanitizeFilename(att.filename);
  const mode = disposition === 'inline' && INLINE_TYPES.has(type) ? 'inline' : 'attachment';
  return {
    // A charset stops a browser from guessing one (UTF-7 and friends) for text.
    'Content-Type': type.startsWith('text/') ? `${type}; charset=utf-8` : type || 'application/octet-stream',
    'Content-Length': String(att.size),
    'Content-Disposition': `${mode}; filename="${asciiFallback(name)}"; filename*=UTF-8''${encodeExtValue(name)}`,
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; sandbox",
  };
}
