// The event outbox (src/domain/outbox.ts): events of every state change other than messages
// (which have messages.published_at) are written here in the transaction that makes the change,
// and deleted once they are on the stream. Rows are few and short-lived; the relay reads them
// oldest first by id.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('event_outbox', (t) => {
    t.bigIncrements('id').primary();
    t.jsonb('event').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('event_outbox');
}
