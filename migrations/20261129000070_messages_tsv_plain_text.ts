// Message content is plain text, never HTML, but Postgres' default text-search parser reads
// `<word>` as a tag and skips everything between <script>/<style> tags, so "use the <Select>
// component" was not findable by "select". The tsvector is rebuilt from the content with < > &
// turned into spaces (translate is immutable, as a generated column requires).
import type { Knex } from 'knex';

async function setTsv(knex: Knex, expression: string): Promise<void> {
  await knex.raw('alter table messages drop column tsv'); // drops messages_tsv_idx with it
  await knex.raw(`alter table messages add column tsv tsvector generated always as (${expression}) stored`);
  await knex.raw('create index messages_tsv_idx on messages using gin (tsv)');
}

export async function up(knex: Knex): Promise<void> {
  await setTsv(knex, "to_tsvector('english', translate(content, '<>&', '   '))");
}

export async function down(knex: Knex): Promise<void> {
  await setTsv(knex, "to_tsvector('english', content)");
}
