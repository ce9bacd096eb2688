// What an uploaded file is served as. The client's declared type and filename are hints an
// attacker controls, so the stored content_type comes from the bytes (file-type's magic
// numbers); a type a browser could execute (HTML, SVG, XML, script, Flash) is never served as
// such, whatever the bytes or the claim say. Downloads also carry nosniff and a sandbox CSP
// (headers.ts), so this is one layer of two.
import { fileTypeFromBuffer } from 'file-type';

const OCTET = 'application/octet-stream';

/** How many leading bytes sniffContentType wants (file-type reads up to ~4 KiB for most formats). */
export const SNIFF_BYTES = 4100;

const SCRIPT_CAPABLE = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'application/xml',
  'text/xml',
  'text/xsl',
  'text/javascript',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'text/ecmascript',
  'text/jscript',
  'text/vbscript',
  'text/css',
  'application/x-shockwave-flash',
  'application/vnd.ms-htmlhelp',
  'application/x-httpd-php',
  'application/wasm',
]);
// Extensions a browser or desktop would treat as active content when no magic number says otherwise.
const SCRIPT_EXTENSIONS = /\.(html?|xht(ml)?|shtml|svgz?|xml|xslt?|m?js|css|swf|chm|php|hta)$/i;
// Text types worth keeping when the client declares them and the bytes are plain UTF-8.
const SAFE_TEXT = new Set(['text/plain', 'text/csv', 'text/markdown', 'text/tab-separated-values', 'text/calendar', 'text/vcard']);

/** The lower-case `type/subtype` without parameters, or '' when it is not one. */
function essence(mime: string | undefined): string {
  const base = (mime ?? '').split(';')[0].trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(base) ? base : '';
}

export function isScriptCapable(mime: string | undefined): boolean {
  const t = essence(mime);
  return SCRIPT_CAPABLE.has(t) || t.endsWith('+xml') || t.startsWith('multipart/') || t.includes('script');
}

function isUtf8Text(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    // stream: true tolerates a multi-byte character cut off at the end of the head.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * The content type to store and serve for a file whose first bytes are `head` (pass at least
 * SNIFF_BYTES when the file is that long). Async because file-type is.
 */
export async function sniffContentType(head: Buffer, declared: string | undefined, filename: string): Promise<string> {
  const sniffed = await fileTypeFromBuffer(head).catch(() => undefined);
  if (sniffed) return isScriptCapable(sniffed.mime) ? OCTET : sniffed.mime;
  if (isScriptCapable(declared) || SCRIPT_EXTENSIONS.test(filename)) return OCTET;
  if (!isUtf8Text(head)) return OCTET;
  const claimed = essence(declared);
  return SAFE_TEXT.has(claimed) ? claimed : 'text/plain';
}

// Windows device names, reserved with any extension (`con.txt` too).
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$|clock\$)(\.|$)/i;
// C0/C1 controls, DEL, bidi marks/overrides/isolates, zero-width and BOM characters, and the
// characters Windows forbids in names (paths are split off before this applies).
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;
const FORBIDDEN = /[<>:"|?*]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const MAX_FILENAME_BYTES = 200;
const MAX_EXTENSION_BYTES = 20;

/** Cuts `s` to at most `bytes` UTF-8 bytes without splitting a code point. */
function truncateUtf8(s: string, bytes: number): string {
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (used + n > bytes) break;
    out += ch;
    used += n;
  }
  return out;
}

/**
 * A display and download name from a client's filename: the last path component only, without
 * invisible or control characters, not a Windows device name, at most 200 UTF-8 bytes (keeping
 * the extension), "file" when nothing is left.
 */
export function sanitizeFilename(name: string): string {
  let s = String(name ?? '')
    .normalize('NFC')
    .replace(LONE_SURROGATE, '');
  s = s.split(/[/\\]/).pop() ?? '';
  s = s.replace(INVISIBLE, '').replace(FORBIDDEN, '_').replace(/\s+/g, ' ');
  // Leading dots hide files (and make `..`); trailing dots and spaces are dropped by Windows.
  s = s.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '');
  if (RESERVED.test(s)) s = `_${s}`;
  if (Buffer.byteLength(s) > MAX_FILENAME_BYTES) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 ? s.slice(dot) : '';
    if (ext && Buffer.byteLength(ext) <= MAX_EXTENSION_BYTES && !/\s/.test(ext)) {
      s = truncateUtf8(s.slice(0, dot), MAX_FILENAME_BYTES - Buffer.byteLength(ext)).replace(/[\s.]+$/, '') + ext;
    } else {
      s = truncateUtf8(s, MAX_FILENAME_BYTES).replace(/[\s.]+$/, '');
    }
  }
  return s || 'file';
}
