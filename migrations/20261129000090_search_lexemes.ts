// The term dictionary of Postgres search: every lexeme of every message's tsvector, kept by
// triggers so that no writer can forget it. Search expands the prefix of the word being typed
// against it into the few whole lexemes it can mean (like Elasticsearch's max_expansions), since
// a GIN prefix match (`word:*`) must collect every row of every matching lexeme before it can
// intersect with the other words. Lexemes of deleted or edited-away content stay: an expansion
// that matches nothing costs one empty index look-up.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // "C" collation (byte order): the lexemes starting with a prefix are one range of the key.
  await knex.raw('create table search_lexemes (lexeme text collate "C" primary key)');
  // Sorted inserts: concurrent batches sharing new lexemes lock them in the same order (no deadlock).
  await knex.raw(`
    create function search_lexemes_from_new_rows() returns trigger language plpgsql as $$
    begin
      insert into search_lexemes
        select distinct l from new_rows, unnest(tsvector_to_array(new_rows.tsv)) as l order by 1
        on conflict do nothing;
      return null;
    end $$`);
  await knex.raw(`
    create function search_lexemes_from_new_row() returns trigger language plpgsql as $$
    begin
      insert into search_lexemes select l from unnest(tsvector_to_array(new.tsv)) as l order by 1 on conflict do nothing;
      return null;
    end $$`);
  // Inserts per statement (the persist worker inserts a batch in one); edits per row (rare).
  await knex.raw(`create trigger messages_search_lexemes_insert after insert on messages
    referencing new table as new_rows for each statement execute function search_lexemes_from_new_rows()`);
  await knex.raw(`create trigger messages_search_lexemes_edit after update of content on messages
    for each row execute function search_lexemes_from_new_row()`);
  await knex.raw(`insert into search_lexemes select word from ts_stat('select tsv from messages') order by 1 on conflict do nothing`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists messages_search_lexemes_edit on messages');
  await knex.raw('drop trigger if exists messages_search_lexemes_insert on messages');
  await knex.raw('drop function if exists search_lexemes_from_new_row()');
  await knex.raw('drop function if exists search_lexemes_from_new_rows()');
  await knex.raw('drop table if exists search_lexemes');
}
