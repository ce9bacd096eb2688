// Reactions: one emoji per user per message, many emoji per message. A change is a write with
// its event recorded in the same transaction (outbox.ts), so it is idempotent (adding twice or
// removing what is not there changes nothing and announces nothing) and never lost.
import type { Knex } from 'knex';
import type { Deps } from '../deps.js';
import { ValidationError } from '../errors.js';
import { accessStoredMessage, type Reaction } from './messages.js';
import { publishOutbox, recordEvents } from './outbox.js';

/** Distinct emoji on one message, and emoji one user may put on one message. */
export const MAX_EMOJI_PER_MESSAGE = 50;
export const MAX_REACTIONS_PER_USER = 20;

// One fully-qualified emoji (Unicode's RGI set, with skin tones, ZWJ sequences and flags).
// (A constructor: TypeScript's target predates the `v` flag, Node 20 has it.)
const EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');

/** The emoji as stored (fully qualified: `❤` becomes `❤️`), or undefined if it is not one emoji. */
export function normalizeEmoji(emoji: string): string | undefined {
  if (emoji.length > 64) return undefined;
  if (EMOJI.test(emoji)) return emoji;
  return EMOJI.test(`${emoji}\uFE0F`) ? `${emoji}\uFE0F` : undefined;
}

type ReactionDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'stream' | 'log'>;

async function reactionOf(trx: Knex, messageId: string, emoji: string): Promise<Reaction> {
  const rows = await trx('message_reactions').where({ message_id: messageId, emoji }).orderBy(['created_at', 'user_id']).select('user_id');
  return { emoji, count: rows.length, user_ids: rows.map((r) => String(r.user_id)) };
}

/**
 * Adds (`on`) or removes my reaction. Members of the chat only. The event carries the emoji's
 * new count and who reacted, so clients render it without a refetch.
 */
export async function setReaction(deps: ReactionDeps, userId: string, messageId: string, given: string, on: boolean): Promise<Reaction> {
  const emoji = normalizeEmoji(given);
  if (!emoji) throw new ValidationError('Invalid emoji.', [{ field: 'emoji', code: 'invalid_emoji', message: 'must be one emoji' }]);
  const { message } = await accessStoredMessage(deps, userId, messageId, 'member');
  const { reaction, recorded } = await deps.db.transaction(async (trx) => {
    // The message row lock orders concurrent reactions of one message, so the limits hold.
    await trx('messages').where({ id: messageId }).forUpdate().first('id');
    let changed: number;
    if (on) {
      const [{ distinct, mine, exists, already }] = await trx('message_reactions')
        .where({ message_id: messageId })
        .select(
          trx.raw('count(distinct emoji)::int as distinct'),
          trx.raw('count(*) filter (where user_id = ?)::int as mine', [userId]),
          trx.raw('count(*) filter (where emoji = ?) > 0 as exists', [emoji]),
          trx.raw('count(*) filter (where user_id = ? and emoji = ?) > 0 as already', [userId, emoji]),
        );
      if (!exists && distinct >= MAX_EMOJI_PER_MESSAGE)
        throw new ValidationError(`A message takes at most ${MAX_EMOJI_PER_MESSAGE} different emoji.`, [
          { field: 'emoji', code: 'too_many_emoji', message: 'limit reached' },
        ]);
      // Adding a reaction I already have changes nothing, so the limit does not refuse it (idempotent).
      if (!already && mine >= MAX_REACTIONS_PER_USER)
        throw new ValidationError(`At most ${MAX_REACTIONS_PER_USER} reactions per person on a message.`, [
          { field: 'emoji', code: 'too_many_reactions', message: 'limit reached' },
        ]);
      changed = (
        await trx('message_reactions')
          .insert({ message_id: messageId, emoji, user_id: userId })
          .onConflict(['message_id', 'emoji', 'user_id'])
          .ignore()
          .returning('user_id')
      ).length;
    } else {
      changed = await trx('message_reactions').where({ message_id: messageId, emoji, user_id: userId }).del();
    }
    const reaction = await reactionOf(trx, messageId, emoji);
    const event = {
      type: on ? ('reaction.added' as const) : ('reaction.removed' as const),
      workspace_id: message.workspace_id,
      chat_id: message.chat_id,
      data: { message_id: messageId, emoji, user_id: userId, reaction },
    };
    return { reaction, recorded: changed ? await recordEvents(trx, [event]) : [] };
  });
  await publishOutbox(deps, recorded);
  return reaction;
}
