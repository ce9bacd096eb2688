// The highlight contract: the WHOLE content, HTML-escaped, with matched words wrapped in <mark>.
// Escaping happens before marking and marks are only ever placed around whole escaped words, so
// nothing outside <mark> can be markup. Computed here rather than with ts_headline, whose
// parser rewrites tag-like text and would let a match land inside an escaped entity.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Roughly the words Postgres' default parser sees: runs of letters and digits. */
const WORD = /[\p{L}\p{N}]+/gu;

/** Distinct lower-cased words of the given contents (to look their lexemes up in one query). */
export function distinctWords(contents: string[]): string[] {
  const words = new Set<string>();
  for (const content of contents) for (const m of content.matchAll(WORD)) words.add(m[0].toLowerCase());
  return [...words];
}

/** Escapes `content` and wraps every word for which `matches(lowercased word)` holds. */
export function markWords(content: string, matches: (word: string) => boolean): string {
  let out = '';
  let last = 0;
  for (const m of content.matchAll(WORD)) {
    const start = m.index;
    out += escapeHtml(content.slice(last, start));
    out += matches(m[0].toLowerCase()) ? `<mark>${escapeHtml(m[0])}</mark>` : escapeHtml(m[0]);
    last = start + m[0].length;
  }
  return out + escapeHtml(content.slice(last));
}

export interface QueryTerms {
  exact: Set<string>;
  prefixes: string[];
}

/**
 * The positive lexemes of a tsquery's text form, e.g. `'quick' <-> 'fox' & !'slow' & 'jump':*`.
 * Negated lexemes are left out: they are what the hits do not contain.
 */
export function parseTsquery(text: string): QueryTerms {
  const terms: QueryTerms = { exact: new Set(), prefixes: [] };
  for (const m of text.matchAll(/(!?)\s*'((?:[^'\\]|''|\\.)*)'(:[*A-D]+)?/g)) {
    if (m[1]) continue;
    const lexeme = m[2].replace(/''/g, "'").replace(/\\(.)/g, '$1');
    if (m[3]?.includes('*')) terms.prefixes.push(lexeme);
    else terms.exact.add(lexeme);
  }
  return terms;
}

/** Whether any of a word's lexemes satisfies the query terms (exact or prefix, as Postgres does). */
export function lexemesMatch(lexemes: string[], terms: QueryTerms): boolean {
  return lexemes.some((l) => terms.exact.has(l) || terms.prefixes.some((p) => l.startsWith(p)));
}

// Meilisearch marks matches in its own copy of the raw content; private-use code points as tags
// let us escape the text first and turn them into <mark> afterwards.
export const MEILI_PRE = '\uE000';
export const MEILI_POST = '\uE001';

/**
 * Highlight from Meilisearch's `_formatted.content`. Falls back to escaped content without marks
 * when the formatted text is not the current content (indexed before an edit) or when the content
 * itself contains the tag characters.
 */
export function fromTaggedContent(content: string, formatted: string | undefined): string {
  if (formatted === undefined || content.includes(MEILI_PRE) || content.includes(MEILI_POST)) return escapeHtml(content);
  if (formatted.replaceAll(MEILI_PRE, '').replaceAll(MEILI_POST, '') !== content) return escapeHtml(content);
  let out = '';
  for (const [i, part] of formatted.split(MEILI_PRE).entries()) {
    if (i === 0) {
      out += escapeHtml(part);
      continue;
    }
    const end = part.indexOf(MEILI_POST);
    out += end < 0 ? escapeHtml(part) : `<mark>${escapeHtml(part.slice(0, end))}</mark>${escapeHtml(part.slice(end + 1))}`;
  }
  return out.replace(/<mark><\/mark>/g, '');
}
