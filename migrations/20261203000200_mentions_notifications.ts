// Mentions and notifications (issue 15).
//   users: a unique handle (`username`, lower case, what @mentions name), a custom status and
//     do-not-disturb. Existing users get a handle derived from their email's local part.
//   workspaces.channel_mentions: who may notify a whole chat with @channel/@all/@here.
//   messages.mentions: the structured mentions parsed at persist time (the API's `mentions`).
//   mention_recipients: one row per (message, user) a mention reaches, expanded at persist time
//     to chat members only; mention_count is counted from it above the read watermark, so it
//     cannot drift.
//   chat_members.notify_level / muted: per-chat notification preferences.
//   notifications: one row per (user, message) that warranted a notification, the forever
//     guarantee of "once per user and message"; email_state drives the digest.
//   push_subscriptions, webhooks: where notifications go besides email.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.text('username');
    t.text('status_emoji');
    t.text('status_text');
    t.timestamp('status_expires_at', { useTz: true });
    t.timestamp('dnd_until', { useTz: true });
  });
  // Derived handles: the email's local part reduced to the allowed characters (at least 2, at
  // most 32 of them), and the user id appended where that is taken, short or reserved.
  await knex.raw(`
    with base as (
      select id, left(trim(both '._-' from regexp_replace(lower(split_part(email, '@', 1)), '[^a-z0-9_.-]', '', 'g')), 24) as name from users
    ), ranked as (
      select id, name, row_number() over (partition by name order by id) as n from base
    )
    update users u set username = case
        when length(r.name) < 2 or r.name in ('channel', 'all', 'here', 'everyone') then 'user-' || u.id
        when r.n = 1 then r.name
        else r.name || '-' || u.id end
      from ranked r where r.id = u.id`);
  await knex.raw('alter table users alter column username set not null');
  await knex.raw('create unique index users_username_key on users (username)');
  // A row inserted without a handle (signup derives one; this is the safety net) gets user-<id>.
  await knex.raw(`create function users_default_username() returns trigger language plpgsql as $$
    begin
      if new.username is null then new.username := 'user-' || new.id; end if;
      return new;
    end $$`);
  await knex.raw('create trigger users_default_username before insert on users for each row execute function users_default_username()');

  await knex.schema.alterTable('workspaces', (t) => {
    t.text('channel_mentions').notNullable().defaultTo('everyone');
  });
  await knex.raw("alter table workspaces add constraint workspaces_channel_mentions_check check (channel_mentions in ('everyone', 'admins'))");

  await knex.schema.alterTable('messages', (t) => {
    t.jsonb('mentions').notNullable().defaultTo('[]');
  });

  await knex.schema.createTable('mention_recipients', (t) => {
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.uuid('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE');
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    t.bigInteger('seq').notNullable();
    // 'user' (named), 'channel' (@channel/@all) or 'here'.
    t.text('kind').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['user_id', 'message_id']);
    // mention_count: a range from the watermark; the feed: newest first per user and workspace.
    t.index(['user_id', 'chat_id', 'seq']);
    t.index(['user_id', 'workspace_id', 'created_at']);
    t.index(['message_id']);
  });
  await knex.raw("alter table mention_recipients add constraint mention_recipients_kind_check check (kind in ('user', 'channel', 'here'))");

  await knex.schema.alterTable('chat_members', (t) => {
    // 'default' follows the chat type: every message of direct and group chats, mentions elsewhere.
    t.text('notify_level').notNullable().defaultTo('default');
    t.boolean('muted').notNullable().defaultTo(false);
  });
  await knex.raw("alter table chat_members add constraint chat_members_notify_level_check check (notify_level in ('default', 'all', 'mentions', 'none'))");

  await knex.schema.createTable('notifications', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.uuid('message_id').notNullable().references('messages.id').onDelete('CASCADE');
    t.bigInteger('chat_id').notNullable().references('chats.id').onDelete('CASCADE');
    t.bigInteger('workspace_id').notNullable().references('workspaces.id').onDelete('CASCADE');
    // Why the user is told: 'direct', 'mention' or 'message' (level all).
    t.text('reason').notNullable();
    // null: not for email (the user was online); 'pending' until the digest sends or skips it.
    t.text('email_state');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['user_id', 'message_id']);
    t.index(['user_id', 'email_state']);
  });

  await knex.schema.createTable('push_subscriptions', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('endpoint').notNullable().unique();
    t.text('p256dh').notNullable();
    t.text('auth').notNullable();
    t.text('user_agent');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_success_at', { useTz: true });
    t.index(['user_id']);
  });

  await knex.schema.createTable('webhooks', (t) => {
    t.bigIncrements('id').primary();
    // Exactly one owner: a user's own notifications, or every notification of a workspace.
    t.bigInteger('user_id').references('users.id').onDelete('CASCADE');
    t.bigInteger('workspace_id').references('workspaces.id').onDelete('CASCADE');
    t.text('url').notNullable();
    // The HMAC key must be usable to sign, so it is stored as is; it is shown once, at creation.
    t.text('secret').notNullable();
    t.bigInteger('created_by').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id']);
    t.index(['workspace_id']);
  });
  await knex.raw('alter table webhooks add constraint webhooks_owner_check check ((user_id is null) <> (workspace_id is null))');
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['webhooks', 'push_subscriptions', 'notifications', 'mention_recipients']) await knex.schema.dropTableIfExists(table);
  await knex.schema.alterTable('chat_members', (t) => {
    t.dropColumn('notify_level');
    t.dropColumn('muted');
  });
  await knex.schema.alterTable('messages', (t) => t.dropColumn('mentions'));
  await knex.schema.alterTable('workspaces', (t) => t.dropColumn('channel_mentions'));
  await knex.raw('drop trigger if exists users_default_username on users');
  await knex.raw('drop function if exists users_default_username()');
  await knex.schema.alterTable('users', (t) => {
    for (const c of ['username', 'status_emoji', 'status_text', 'status_expires_at', 'dnd_until']) t.dropColumn(c);
  });
}
