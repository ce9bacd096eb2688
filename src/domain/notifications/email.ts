// The email digest: one mail per burst of notifications for a user who was away. The digest
// job clears the "scheduled" flag first (so a notification arriving from now on schedules the
// next digest), then, in one transaction holding its rows (FOR UPDATE SKIP LOCKED, so two
// digests never mail the same notification), skips what was read or deleted meanwhile, sends
// ONE mail listing the rest and marks them sent. A failed send rolls back: the job retries.
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../../config.js';
import type { NotificationDeps } from './notify.js';
import { digestFlagKey } from './notify.js';
import { chatUrl, notificationTitle, snippet } from './push.js';

const transports = new WeakMap<object, Transporter>();
function transport(config: Pick<Config, 'SMTP_URL'>): Transporter {
  let t = transports.get(config);
  if (!t) transports.set(config, (t = nodemailer.createTransport(config.SMTP_URL)));
  return t;
}

interface PendingRow {
  id: string | number;
  chat_id: string | number;
  workspace_id: string | number;
  seq: string | number;
  content: string;
  deleted_at: Date | null;
  created_at: Date;
  last_read_seq: string | number | null;
  type: string;
  name: string | null;
  sender: string;
  workspace: string;
}

export interface DigestOutcome {
  sent: number;
  skipped: number;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function digestMail(rows: PendingRow[], publicUrl: string) {
  const items = rows.map((r) => ({
    title: notificationTitle(r.sender, r),
    workspace: r.workspace,
    text: snippet(r.content, 500),
    url: chatUrl(publicUrl, String(r.workspace_id), String(r.chat_id)),
  }));
  const subject = items.length === 1 ? `${items[0].title}` : `${items.length} new messages`;
  const text = [
    `You have ${items.length === 1 ? 'a new message' : `${items.length} new messages`} on Fechatter:`,
    '',
    ...items.flatMap((i) => [`${i.title} (${i.workspace}):`, `  ${i.text}`, `  ${i.url}`, '']),
  ].join('\n');
  const html =
    `<p>You have ${items.length === 1 ? 'a new message' : `${items.length} new messages`} on Fechatter:</p><ul>` +
    items
      .map(
        (i) =>
          `<li><p><strong>${escapeHtml(i.title)}</strong> (${escapeHtml(i.workspace)})<br>${escapeHtml(i.text)}<br><a href="${escapeHtml(i.url)}">Open</a></p></li>`,
      )
      .join('') +
    '</ul>';
  return { subject, text, html };
}

export async function sendDigest(deps: NotificationDeps, userId: string): Promise<DigestOutcome> {
  await deps.redis.del(digestFlagKey(deps, userId));
  const user = await deps.db('users').where({ id: userId }).first('email');
  return deps.db.transaction(async (trx) => {
    const rows: PendingRow[] = await trx('notifications as n')
      .join('messages as m', 'm.id', 'n.message_id')
      .join('chats as c', 'c.id', 'n.chat_id')
      .join('workspaces as w', 'w.id', 'n.workspace_id')
      .join('users as s', 's.id', 'm.sender_id')
      .leftJoin('chat_members as cm', (j) => j.on('cm.chat_id', 'n.chat_id').andOn('cm.user_id', 'n.user_id'))
      .where({ 'n.user_id': userId, 'n.email_state': 'pending' })
      .orderBy('n.id')
      .forUpdate('n')
      .skipLocked()
      .select(
        'n.id',
        'n.chat_id',
        'n.workspace_id',
        'm.seq',
        'm.content',
        'm.deleted_at',
        'm.created_at',
        'cm.last_read_seq',
        'c.type',
        'c.name',
        's.display_name as sender',
        'w.name as workspace',
      );
    const wanted = (r: PendingRow) => !r.deleted_at && r.last_read_seq !== null && Number(r.last_read_seq) < Number(r.seq);
    const send = deps.config.SMTP_URL && user ? rows.filter(wanted) : [];
    const skip = rows.filter((r) => !send.includes(r));
    if (send.length > 0) {
      const mail = digestMail(send, deps.config.PUBLIC_URL);
      await transport(deps.config).sendMail({ from: deps.config.EMAIL_FROM, to: user.email, ...mail });
      await trx('notifications')
        .whereIn(
          'id',
          send.map((r) => r.id),
        )
        .update({ email_state: 'sent' });
    }
    if (skip.length > 0)
      await trx('notifications')
        .whereIn(
          'id',
          skip.map((r) => r.id),
        )
        .update({ email_state: 'skipped' });
    return { sent: send.length, skipped: skip.length };
  });
}
