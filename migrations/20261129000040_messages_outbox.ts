// The outbox scan of the persist worker (src/domain/message-persist.ts) asks for a chat's rows
// whose message.created event has not reached the stream yet. Almost every row is published, so
// a partial index keeps that scan tiny however long the chat's history grows.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index messages_unpublished_idx on messages (chat_id, seq) where published_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists messages_unpublished_idx');
}
