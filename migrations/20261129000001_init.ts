// The whole schema of DESIGN.md's data section. Names are the API's names (chat, seq, client_id,
// last_read_seq). Ids of users, workspaces, chats and invitations are bigint identities; message ids
// are UUIDv7 assigned by the API at accept time, so they are final before the row exists.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id').primary();
    t.text('email').notNullable();
    t.text('password_hash').notNullable();
    t.text('display_name').notNullable();
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  // Emails are case-insensitive everywhere: uniqueness and look-ups go through lower(email).
  await knex.raw('create unique index users_email_lower_key on users (lower(email))');

  await knex.schema.createTable('refresh_tokens', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.uuid('family_id').notNullable();
    t.text('token_hash').notNullable().unique();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('spent_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.index(['family_id']);
    t.index(['user_id']);
  });

  await knex.schema.createTable('workspaces', (t) => {
    t.bigIncrements('id').primary();
    t.text('name').notNullable();
    t.text('slug').notNullable().unique();
    t.bigInteger('created_by').notNullable().references('users.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('workspace_members', (t) => {
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('role').notNullable();
    t.timestamp('joined_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['workspace_id', 'user_id']);
    t.index(['user_id']);
  });
  await knex.raw("alter table workspace_members add constraint workspace_members_role_check check (role in ('owner','admin','member','guest'))");

  await knex.schema.createTable('invitations', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.text('token_hash').notNullable().unique();
    t.text('role').notNullable();
    t.text('email');
    t.bigInteger('created_by').notNullable().references('users.id');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.integer('max_uses');
    t.integer('uses').notNullable().defaultTo(0);
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['workspace_id']);
  });
  await knex.raw("alter table invitations add constraint invitations_role_check check (role in ('admin','member','guest'))");

  await knex.schema.createTable('chats', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.text('type').notNullable();
    t.text('name');
    t.text('topic');
    t.bigInteger('created_by').notNullable().references('users.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('archived_at', { useTz: true });
    // Highest seq persisted; the persisting transaction bumps it under the row lock.
    t.bigInteger('last_seq').notNullable().defaultTo(0);
    // "<workspace>:<low user>:<high user>" for direct chats, so a pair has at most one.
    t.text('direct_key').unique();
    t.index(['workspace_id', 'type']);
  });
  await knex.raw("alter table chats add constraint chats_type_check check (type in ('public','private','group','direct'))");

  await knex.schema.createTable('chat_members', (t) => {
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.timestamp('joined_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.bigInteger('last_read_seq').notNullable().defaultTo(0);
    t.timestamp('read_at', { useTz: true });
    t.primary(['chat_id', 'user_id']);
    t.index(['user_id', 'workspace_id']);
  });

  await knex.schema.createTable('messages', (t) => {
    t.uuid('id').primary();
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE');
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.bigInteger('seq').notNullable();
    t.bigInteger('sender_id').notNullable().references('users.id');
    t.text('client_id').notNullable();
    t.text('content').notNullable();
    t.uuid('reply_to');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('edited_at', { useTz: true });
    t.timestamp('deleted_at', { useTz: true });
    // Outbox mark: set once message.created reached the event stream (see workers/persist.ts).
    t.timestamp('published_at', { useTz: true });
    t.unique(['chat_id', 'seq']);
    t.unique(['chat_id', 'client_id']);
    t.index(['workspace_id', 'created_at']);
    t.index(['sender_id']);
  });
  await knex.raw("alter table messages add column tsv tsvector generated always as (to_tsvector('english', content)) stored");
  await knex.raw('create index messages_tsv_idx on messages using gin (tsv)');

  await knex.schema.createTable('search_queries', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('query').notNullable();
    t.jsonb('filters').notNullable().defaultTo('{}');
    t.integer('hits').notNullable();
    t.float('took_ms').notNullable();
    t.text('engine').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['workspace_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['search_queries', 'messages', 'chat_members', 'chats', 'invitations', 'workspace_members', 'workspaces', 'refresh_tokens', 'users']) {
    await knex.schema.dropTableIfExists(table);
  }
}
