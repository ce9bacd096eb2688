// Link preview parsing: Open Graph tags from a page's <head>, with <title> and meta description
// as fallbacks. Deliberately a few regexes over <meta>/<title> rather than a DOM: the page is
// untrusted, we only read attribute strings, nothing is ever executed or re-emitted as HTML
// (the client renders the fields as text).

export interface LinkPreview {
  url: string;
  title: string;
  description: string | null;
  site_name: string | null;
  /** Absolute http(s) URL, or null. */
  image_url: string | null;
}

export const PREVIEW_LIMITS = { title: 300, description: 1000, site_name: 100, image_url: 2048 } as const;

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  copy: '©',
  reg: '®',
  trade: '™',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  laquo: '«',
  raquo: '»',
  middot: '·',
  bull: '•',
  euro: '€',
  pound: '£',
  yen: '¥',
  cent: '¢',
  deg: '°',
  times: '×',
  shy: '',
  zwj: '\u200d',
  zwnj: '\u200c',
  sect: '§',
  para: '¶',
  iexcl: '¡',
  iquest: '¿',
  auml: 'ä',
  ouml: 'ö',
  uuml: 'ü',
  Auml: 'Ä',
  Ouml: 'Ö',
  Uuml: 'Ü',
  szlig: 'ß',
  eacute: 'é',
  egrave: 'è',
  ecirc: 'ê',
  aacute: 'á',
  agrave: 'à',
  acirc: 'â',
  iacute: 'í',
  oacute: 'ó',
  uacute: 'ú',
  ntilde: 'ñ',
  ccedil: 'ç',
  Eacute: 'É',
  aring: 'å',
  oslash: 'ø',
  aelig: 'æ',
};

/** Decodes numeric entities and the common named ones; unknown names stay as written. */
export function decodeEntities(text: string): string {
  return text.replace(/&(?:#[xX]([0-9a-fA-F]{1,6})|#(\d{1,7})|([a-zA-Z][a-zA-Z0-9]{1,31}));?/g, (whole, hex?: string, dec?: string, name?: string) => {
    if (name !== undefined) return NAMED_ENTITIES[name] ?? NAMED_ENTITIES[name.toLowerCase()] ?? whole;
    const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
    // NUL, surrogates and out-of-range code points become U+FFFD, as browsers do.
    if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
    return String.fromCodePoint(code);
  });
}

/** Decoded, control characters dropped, whitespace collapsed, trimmed, capped (never splitting a surrogate pair); '' → null. */
function clean(raw: string | undefined, max: number): string | null {
  if (raw === undefined) return null;
  const text = decodeEntities(raw)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (!text) return null;
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max).join('').trimEnd();
}

const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(ATTRIBUTE)) {
    const name = m[1].toLowerCase();
    if (!out.has(name)) out.set(name, m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** The document up to </head> (or all of it), without comments, scripts and styles. */
function headOf(html: string): string {
  const end = html.search(/<\/head\s*>/i);
  return (end === -1 ? html : html.slice(0, end))
    .replace(/<!--[\s\S]*?(?:-->|$)/g, ' ')
    .replace(/<(script|style|noscript|template)\b[\s\S]*?(?:<\/\1\s*>|$)/gi, ' ');
}

/** An absolute http(s) URL for `raw` resolved against the page, or null. */
export function resolveHttpUrl(raw: string | undefined, base: string): string | null {
  const text = raw === undefined ? '' : decodeEntities(raw).trim();
  if (!text) return null;
  try {
    const url = new URL(text, base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (url.username || url.password) return null;
    return url.href.length <= PREVIEW_LIMITS.image_url ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * The preview of an HTML page, or null when it has no title. `url` is what the preview is for
 * (the link as written); `pageUrl` is where the page was finally fetched from (after redirects),
 * which relative og:image values resolve against.
 */
export function parsePreview(html: string, url: string, pageUrl: string = url): LinkPreview | null {
  const head = headOf(html);
  const meta = new Map<string, string>();
  // Quote-aware: a `>` inside an attribute value does not end the tag.
  for (const [tag] of head.matchAll(/<meta\b(?:[^>"']|"[^"]*"|'[^']*')*>/gi)) {
    const attrs = attributes(tag.slice(5, -1));
    const key = (attrs.get('property') ?? attrs.get('name') ?? attrs.get('itemprop'))?.trim().toLowerCase();
    const content = attrs.get('content');
    // The first occurrence wins (og:image may repeat; the first is the preferred one).
    if (key && content !== undefined && !meta.has(key)) meta.set(key, content);
  }
  const titleTag = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i.exec(head)?.[1];
  const first = (max: number, ...keys: string[]) => {
    for (const key of keys) {
      const value = clean(meta.get(key), max);
      if (value) return value;
    }
    return null;
  };
  const title = first(PREVIEW_LIMITS.title, 'og:title', 'twitter:title') ?? clean(titleTag, PREVIEW_LIMITS.title);
  if (!title) return null;
  let image_url: string | null = null;
  for (const key of ['og:image', 'og:image:url', 'og:image:secure_url', 'twitter:image', 'twitter:image:src']) {
    image_url = resolveHttpUrl(meta.get(key), pageUrl);
    if (image_url) break;
  }
  return {
    url,
    title,
    description: first(PREVIEW_LIMITS.description, 'og:description', 'twitter:description', 'description'),
    site_name: first(PREVIEW_LIMITS.site_name, 'og:site_name', 'application-name'),
    image_url,
  };
}

/**
 * The charset of a response: the Content-Type header's, else a <meta charset> or http-equiv in
 * the first 1024 bytes, else utf-8. Only labels TextDecoder knows are returned.
 */
export function detectCharset(contentType: string | undefined, head: Buffer): string {
  const candidates = [
    /charset\s*=\s*["']?([\w.:-]+)/i.exec(contentType ?? '')?.[1],
    /<meta\b[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(head.subarray(0, 1024).toString('latin1'))?.[1],
  ];
  for (const [i, label] of candidates.entries()) {
    if (!label) continue;
    try {
      const encoding = new TextDecoder(label).encoding;
      // A meta tag we could read as ASCII cannot really be UTF-16 (the HTML spec says: utf-8).
      return i === 1 && encoding.startsWith('utf-16') ? 'utf-8' : encoding;
    } catch {
      // Unknown label: try the next source.
    }
  }
  return 'utf-8';
}

// windows-1252 (also what iso-8859-1 and us-ascii labels mean on the web) differs from latin1 in
// 0x80-0x9f; Node 20's TextDecoder decodes it as latin1, so those bytes are mapped here.
const CP1252_C1 = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';

/** The body as text in its declared charset (invalid bytes become U+FFFD). */
export function decodeBody(body: Buffer, contentType: string | undefined): string {
  const charset = detectCharset(contentType, body);
  if (charset === 'windows-1252') return body.toString('latin1').replace(/[\u0080-\u009f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]);
  return new TextDecoder(charset).decode(body);
}
