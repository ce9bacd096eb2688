// Search-as-you-type for Postgres: websearch_to_tsquery gives the user-facing syntax (words,
// "phrases", -exclusion, or) but only matches whole words, so the last word being typed is
// split off and matched as a prefix (`word:*`) instead. Both halves reach SQL as bindings.

export interface TextQuery {
  /** Given to websearch_to_tsquery('english', …). */
  websearch: string;
  /** A bare word for to_tsquery('english', prefix || ':*'), AND-ed in; null when none applies. */
  prefix: string | null;
}

// Letters and digits only: safe inside to_tsquery syntax (no operators, quotes or colons).
const BARE_WORD = /^[\p{L}\p{N}]+$/u;

/**
 * Splits `q` into a websearch part and a last-word prefix. No prefix when the user has finished
 * the word (trailing space), when it is inside a phrase or an exclusion, or when it follows `or`
 * (turning `a or b` into `a & b:*` would change the meaning).
 */
export function splitQuery(q: string): TextQuery {
  const whole = { websearch: q, prefix: null };
  if (/\s$/u.test(q)) return whole;
  if ((q.match(/"/g)?.length ?? 0) % 2 === 1) return whole;
  const tokens = q.split(/\s+/u).filter(Boolean);
  const last = tokens.at(-1);
  if (!last || !BARE_WORD.test(last) || last.toLowerCase() === 'or') return whole;
  const before = tokens.at(-2);
  if (before && before.toLowerCase() === 'or') return whole;
  return { websearch: q.slice(0, q.length - last.length), prefix: last };
}
