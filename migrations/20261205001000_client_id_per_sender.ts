// client_id is unique per sender, not per chat: message ids are derived from (chat, sender,
// client_id) (src/domain/messages.ts), so another member reusing a client_id gets a message of
// their own. The new key comes first, so the table is never without one.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.unique(['chat_id', 'sender_id', 'client_id']);
  });
  await knex.schema.alterTable('messages', (t) => {
    t.dropUnique(['chat_id', 'client_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  // Fails if two senders of a chat share a client_id since: nothing to choose between them here.
  await knex.schema.alterTable('messages', (t) => {
    t.unique(['chat_id', 'client_id']);
  });
  await knex.schema.alterTable('messages', (t) => {
    t.dropUnique(['chat_id', 'sender_id', 'client_id']);
  });
}
