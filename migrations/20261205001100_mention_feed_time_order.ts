// The mentions feed in time order: message ids are no longer time-ordered (they derive from
// (chat, sender, client_id)), so the feed pages by (created_at, message_id), which is the
// message's creation time (src/domain/mention-feed.ts). Rows an edit re-inserted carried the
// edit's time; they get their message's back.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`update mention_recipients r set created_at = m.created_at from messages m where m.id = r.message_id and r.created_at <> m.created_at`);
  await knex.schema.alterTable('mention_recipients', (t) => {
    t.index(['user_id', 'created_at', 'message_id']);
    t.index(['user_id', 'workspace_id', 'created_at', 'message_id']);
  });
  await knex.schema.alterTable('mention_recipients', (t) => {
    t.dropIndex(['user_id', 'workspace_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mention_recipients', (t) => {
    t.index(['user_id', 'workspace_id', 'created_at']);
  });
  await knex.schema.alterTable('mention_recipients', (t) => {
    t.dropIndex(['user_id', 'created_at', 'message_id']);
    t.dropIndex(['user_id', 'workspace_id', 'created_at', 'message_id']);
  });
}
