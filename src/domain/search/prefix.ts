// The word being typed, expanded into the whole lexemes it starts, read from the searched
// workspace's term dictionary (search_lexemes, kept by triggers on messages: see its migrations).
// Per workspace, so no other tenant's words decide (or time) what a prefix expands to.
import type { Db } from '../../infra/db.js';

/** How many whole lexemes a typed prefix may expand into (Elasticsearch's max_expansions is 50). */
export const PREFIX_EXPANSIONS = 50;
export const NO_LEXEME = Symbol('no lexeme');

/**
 * The stem as to_tsquery makes it ('invoice' -> 'invoic'), or null (a stop word, several
 * lexemes), and up to `limit` of the workspace's lexemes it starts. The range on the
 * (workspace_id, C-collated lexeme) key is the index scan; starts_with is the exact test.
 * Bindings: prefix, workspace id, limit. Exported for a plan test.
 */
export const EXPAND_SQL = `with p as (select substring(to_tsquery('english', ? || ':*')::text from '^''([[:alnum:]]+)'':\\*$') as stem)
  select p.stem, array(
    select lexeme from search_lexemes
     where workspace_id = ? and lexeme >= p.stem and lexeme < p.stem || chr(1114111) and starts_with(lexeme, p.stem)
     order by lexeme limit ?) as lexemes
  from p`;

/**
 * `prefix` as tsquery text OR-ing the workspace's lexemes it starts, so that GIN intersects exact
 * posting lists instead of first collecting every row of a prefix match (`word:*`). Null (keep
 * `word:*`) when it could mean more than PREFIX_EXPANSIONS lexemes or is not one lexeme;
 * NO_LEXEME when no message of the workspace can match.
 */
export async function expandPrefix(db: Db, workspaceId: string, prefix: string): Promise<string | null | typeof NO_LEXEME> {
  const { rows } = await db.raw<{ rows: Array<{ stem: string | null; lexemes: string[] }> }>(EXPAND_SQL, [prefix, workspaceId, PREFIX_EXPANSIONS + 1]);
  const { stem, lexemes } = rows[0];
  if (stem === null || lexemes.length > PREFIX_EXPANSIONS) return null;
  if (lexemes.length === 0) return NO_LEXEME;
  // tsquery syntax: each lexeme quoted, with ' doubled and \ escaped.
  return lexemes.map((l) => `'${l.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`).join(' | ');
}
