// Search within one chat walks (chat_id, created_at) newest first and stops after its match
// window (src/domain/search/postgres.ts). Without this index a common word in a chat was read in
// full from the GIN index and the heap, then sorted, to find its newest matches.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index messages_chat_id_created_at_index on messages (chat_id, created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists messages_chat_id_created_at_index');
}
