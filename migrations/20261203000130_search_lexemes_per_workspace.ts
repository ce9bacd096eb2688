// The term dictionary of Postgres search, per workspace. Shared by all workspaces, it let a
// prefix's expansion (and its cost) depend on other tenants' words, which revealed them; keyed
// by (workspace_id, lexeme), a workspace's expansions are one range of the primary key that only
// its own messages fill. Kept by the same triggers as before (inserts per statement, edits per
// row), now writing the message's workspace with each lexeme.
import type { Knex } from 'knex';
import * as shared from './20261129000090_search_lexemes.js';

export async function up(knex: Knex): Promise<void> {
  await shared.down(knex); // the shared table, its functions and triggers
  // "C" collation (byte order): the lexemes of a workspace starting with a prefix are one range of the key.
  await knex.raw(`create table search_lexemes (
    workspace_id bigint not null references workspaces (id) on delete cascade,
    lexeme text collate "C" not null,
    primary key (workspace_id, lexeme))`);
  // Sorted inserts: concurrent batches sharing new lexemes lock them in the same order (no deadlock).
  await knex.raw(`
    create function search_lexemes_from_new_rows() returns trigger language plpgsql as $$
    begin
      insert into search_lexemes (workspace_id, lexeme)
        select distinct new_rows.workspace_id, l from new_rows, unnest(tsvector_to_array(new_rows.tsv)) as l order by 1, 2
        on conflict do nothing;
      return null;
    end $$`);
  await knex.raw(`
    create function search_lexemes_from_new_row() returns trigger language plpgsql as $$
    begin
      insert into search_lexemes (workspace_id, lexeme)
        select new.workspace_id, l from unnest(tsvector_to_array(new.tsv)) as l order by 2
        on conflict do nothing;
      return null;
    end $$`);
  await knex.raw(`create trigger messages_search_lexemes_insert after insert on messages
    referencing new table as new_rows for each statement execute function search_lexemes_from_new_rows()`);
  await knex.raw(`create trigger messages_search_lexemes_edit after update of content on messages
    for each row execute function search_lexemes_from_new_row()`);
  // ts_stat per workspace: one pass over each workspace's messages (its index range), aggregated
  // in memory, so no sort of every (message, lexeme) pair; the rows come out distinct.
  await knex.raw(`
    insert into search_lexemes (workspace_id, lexeme)
    select w.id, s.word from workspaces w,
      lateral ts_stat(format('select tsv from messages where workspace_id = %s', w.id)) as s
    order by 1, 2`);
}

// Same table, function and trigger names as the shared dictionary: its down drops these too.
export async function down(knex: Knex): Promise<void> {
  await shared.down(knex);
  await shared.up(knex);
}
