// Rich conversations (issue 16).
//   messages.thread_root_id: a reply in the thread of that root (a message of the same chat);
//     the root keeps reply_count and last_reply_at, bumped by the persist worker.
//   messages.rendered: the sanitized HTML of the Markdown content, rendered once at persist.
//   messages.link_previews: Open Graph previews the unfurl worker attaches after persist.
//   message_reactions: one row per (message, emoji, user).
//   message_edits: every previous version of an edited message.
//   chat_pins, saved_messages: pins per chat, bookmarks per user.
//   thread_follows: who follows a thread and how far they have read it (by the reply's seq).
//   attachments: uploaded files, stored by key in the blob store, attached to one message.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.uuid('thread_root_id').references('messages.id');
    t.integer('reply_count').notNullable().defaultTo(0);
    t.timestamp('last_reply_at', { useTz: true });
    t.text('rendered');
    t.jsonb('link_previews').notNullable().defaultTo('[]');
  });
  // A thread page: the root's replies in seq order.
  await knex.raw('create index messages_thread_seq on messages (thread_root_id, seq) where thread_root_id is not null');

  await knex.schema.createTable('message_reactions', (t) => {
    t.uuid('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.text('emoji').notNullable();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['message_id', 'emoji', 'user_id']);
  });

  await knex.schema.createTable('message_edits', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    // The version this row holds: 1 is the original text, each edit adds the one it replaced.
    t.integer('version').notNullable();
    t.text('content').notNullable();
    // When this version was written (the original's created_at, or the edit that made it).
    t.timestamp('written_at', { useTz: true }).notNullable();
    t.unique(['message_id', 'version']);
  });

  await knex.schema.createTable('chat_pins', (t) => {
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE');
    t.uuid('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.bigInteger('pinned_by').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('pinned_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['chat_id', 'message_id']);
  });

  await knex.schema.createTable('saved_messages', (t) => {
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.uuid('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.timestamp('saved_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['user_id', 'message_id']);
    t.index(['user_id', 'saved_at']);
  });

  await knex.schema.createTable('thread_follows', (t) => {
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.uuid('root_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE');
    // false: unfollowed on purpose (replying or being mentioned does not follow again).
    t.boolean('following').notNullable().defaultTo(true);
    // The seq of the newest reply read.
    t.bigInteger('last_read_seq').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['user_id', 'root_id']);
    t.index(['root_id']);
  });

  await knex.schema.createTable('attachments', (t) => {
    t.uuid('id').primary();
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE');
    t.bigInteger('uploader_id').notNullable().references('users.id').onDelete('CASCADE');
    // null until a message takes it; a message takes it once.
    t.uuid('message_id').references('messages.id').onDelete('CASCADE');
    t.text('filename').notNullable();
    t.text('content_type').notNullable();
    t.bigInteger('size').notNullable();
    t.text('sha256').notNullable();
    t.text('storage_key').notNullable();
    t.text('thumbnail_key');
    t.integer('width');
    t.integer('height');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['message_id']);
    t.index(['chat_id', 'created_at']);
    t.index(['workspace_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['attachments', 'thread_follows', 'saved_messages', 'chat_pins', 'message_edits', 'message_reactions'])
    await knex.schema.dropTableIfExists(table);
  await knex.raw('drop index if exists messages_thread_seq');
  await knex.schema.alterTable('messages', (t) => {
    for (const c of ['thread_root_id', 'reply_count', 'last_reply_at', 'rendered', 'link_previews']) t.dropColumn(c);
  });
}
