// Renders the Markdown of messages stored before rendering existed (messages.rendered is set by
// the persist worker for every message since), so history pages never render on read. Batches
// of 2000 by id; deleted messages keep '' like the worker leaves them.
import type { Knex } from 'knex';
import { renderMarkdown } from '../src/domain/markdown.js';

const BATCH = 2000;

export async function up(knex: Knex): Promise<void> {
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const rows: Array<{ id: string; content: string; deleted_at: Date | null }> = await knex('messages')
      .whereNull('rendered')
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .select('id', 'content', 'deleted_at');
    if (rows.length === 0) return;
    await knex.raw('update messages m set rendered = v.rendered from unnest(?::uuid[], ?::text[]) as v(id, rendered) where m.id = v.id', [
      rows.map((r) => r.id),
      rows.map((r) => (r.deleted_at ? '' : renderMarkdown(r.content))),
    ]);
    after = rows[rows.length - 1].id;
  }
}

export async function down(): Promise<void> {
  // Nothing to undo: rendered stays a cache of the content.
}
