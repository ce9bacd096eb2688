// One message as a list item: sender, rendered content with mentions, "(edited)" (opens the
// history), files, link previews, reactions, the thread's reply count, and a toolbar of actions
// (shown on hover and on keyboard focus). Used by the chat's list and the thread panel.
import type { Message } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { h, icon, initials, time, type IconName } from './dom.js';
import type { EmojiPicker } from './emoji-picker.js';
import { attachmentView, previewCard } from './files.js';
import { renderRich } from './mention-text.js';
import { client } from './session.js';
import { mentionsUser, type Store } from './store.js';

export interface MessageContext {
  store: Store;
  picker: EmojiPicker;
  /** Shown in the thread panel: no "reply in thread" and no reply count. */
  inThread: boolean;
  /** Messages being edited here, with their drafts. */
  editing: Map<string, string>;
  openThread(m: Message, trigger: HTMLElement): void;
  showHistory(m: Message, trigger: HTMLElement): void;
  /** Something about the message's own view changed (editing began or ended). */
  refresh(): void;
  /** Tells the user what an action did or why it failed (a polite live region). */
  announce(text: string): void;
}

/** What decides how a message looks: the element is rebuilt only when this changes. */
export function messageSignature(ctx: MessageContext, m: Message, grouped: boolean, seen: string): string {
  const s = ctx.store;
  return JSON.stringify([
    m.content,
    m.rendered,
    m.edited_at,
    m.deleted,
    m.reactions,
    m.reply_count,
    m.link_previews,
    m.attachments?.map((a) => a.id),
    s.isPinned(m),
    s.saved.has(m.id),
    grouped,
    seen,
    ctx.editing.has(m.id),
    s.name(m.sender_id),
    s.statusEmoji(m.sender_id),
  ]);
}

const fail = (ctx: MessageContext, what: string) => (err: unknown) => ctx.announce(`Could not ${what}: ${errorText(err)}`);

export function toggleReaction(ctx: MessageContext, m: Message, emoji: string): void {
  const mine = m.reactions?.find((r) => r.emoji === emoji)?.user_ids.includes(ctx.store.me);
  (mine ? client.api.unreact(m.id, emoji) : client.api.react(m.id, emoji)).catch(fail(ctx, 'react'));
}

export function messageItem(ctx: MessageContext, m: Message, grouped: boolean, seen: string): HTMLLIElement {
  const { store } = ctx;
  const name = store.name(m.sender_id);
  const mine = m.sender_id === store.me;
  const pinned = store.isPinned(m);
  const li = h('li', {
    class: `msg${grouped ? ' grouped' : ''}${mine ? ' mine' : ''}${mentionsUser(m, store.me) ? ' mentions-me' : ''}${pinned ? ' pinned' : ''}${m.deleted ? ' deleted' : ''}`,
    'data-seq': m.seq,
    'data-id': m.id,
  });
  const body = h('div', { class: 'body' });
  li.append(grouped ? '' : h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(name)), body);
  if (!grouped || pinned) {
    body.appendChild(
      h(
        'div',
        { class: 'meta' },
        grouped ? null : h('strong', { class: 'sender' }, name),
        !grouped && store.statusEmoji(m.sender_id)
          ? h('span', { class: 'status-emoji', title: store.user(m.sender_id)?.status?.text ?? '' }, ` ${store.statusEmoji(m.sender_id)}`)
          : null,
        ' ',
        grouped ? null : h('time', { dateTime: m.created_at, title: m.created_at }, time(m.created_at)),
        pinned ? h('span', { class: 'pin-flag small' }, ' ', icon('pin'), 'Pinned') : null,
      ),
    );
  }
  if (m.deleted) {
    body.appendChild(h('p', { class: 'content deleted' }, 'This message was deleted'));
    return li;
  }
  if (ctx.editing.has(m.id)) body.appendChild(editor(ctx, m));
  else body.appendChild(h('div', { class: 'content rich' }, renderRich(m, store.me)));
  if (m.edited_at && !ctx.editing.has(m.id)) {
    body.appendChild(
      h(
        'button',
        {
          type: 'button',
          class: 'link edited small',
          'aria-label': 'Edited: show the edit history',
          onclick: (e: MouseEvent) => ctx.showHistory(m, e.currentTarget as HTMLElement),
        },
        '(edited)',
      ),
    );
  }
  if (m.attachments?.length) body.appendChild(h('div', { class: 'attachments' }, ...m.attachments.map(attachmentView)));
  for (const p of m.link_previews ?? []) {
    const card = previewCard(p);
    if (card) body.appendChild(card);
  }
  if (m.reactions?.length) {
    body.appendChild(
      h(
        'div',
        { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
        ...m.reactions.map((r) => {
          const me = r.user_ids.includes(store.me);
          const who = r.user_ids.map((u) => store.name(u)).join(', ');
          return h(
            'button',
            {
              type: 'button',
              class: `reaction${me ? ' mine' : ''}`,
              'aria-pressed': me ? 'true' : 'false',
              'aria-label': `${r.emoji} ${r.count}: ${who}${me ? ' (click to remove yours)' : ''}`,
              title: who,
              'data-emoji': r.emoji,
              onclick: () => toggleReaction(ctx, m, r.emoji),
            },
            h('span', { 'aria-hidden': 'true' }, r.emoji),
            h('span', { class: 'count' }, String(r.count)),
          );
        }),
      ),
    );
  }
  if (!ctx.inThread && m.reply_count > 0) {
    body.appendChild(
      h(
        'button',
        { type: 'button', class: 'link replies', onclick: (e: MouseEvent) => ctx.openThread(m, e.currentTarget as HTMLElement) },
        `${m.reply_count} ${m.reply_count === 1 ? 'reply' : 'replies'}`,
        m.last_reply_at ? h('span', { class: 'muted small' }, ` · last ${time(m.last_reply_at)}`) : null,
      ),
    );
  }
  if (mine) body.appendChild(h('span', { class: 'state sent', 'aria-label': 'sent' }, '✓ sent'));
  if (seen) body.appendChild(h('div', { class: 'seen-by' }, seen));
  li.appendChild(toolbar(ctx, m));
  return li;
}

function toolbar(ctx: MessageContext, m: Message): HTMLElement {
  const { store } = ctx;
  const mine = m.sender_id === store.me;
  const admin = store.role === 'owner' || store.role === 'admin';
  const pinned = store.isPinned(m);
  const saved = store.saved.has(m.id);
  const archived = store.chats.get(m.chat_id)?.archived_at != null;
  const button = (action: string, label: string, glyph: IconName, onclick: (e: MouseEvent) => void, pressed?: boolean) =>
    h(
      'button',
      {
        type: 'button',
        class: 'icon action',
        'data-action': action,
        'aria-label': label,
        title: label,
        'aria-pressed': pressed === undefined ? null : String(pressed),
        onclick,
      },
      icon(glyph),
    );
  return h(
    'div',
    { class: 'actions', role: 'toolbar', 'aria-label': 'Message actions' },
    archived
      ? null
      : button('react', 'Add reaction', 'smile', (e) => ctx.picker.open(e.currentTarget as HTMLElement, (emoji) => toggleReaction(ctx, m, emoji))),
    ctx.inThread || m.thread_root_id || archived
      ? null
      : button('thread', 'Reply in thread', 'thread', (e) => ctx.openThread(m, e.currentTarget as HTMLElement)),
    mine && !archived
      ? button('edit', 'Edit message', 'edit', () => {
          ctx.editing.set(m.id, m.content);
          ctx.refresh();
        })
      : null,
    (mine || admin) && !archived
      ? button('delete', 'Delete message', 'trash', () => {
          if (!confirm('Delete this message for everyone?')) return;
          client.api.deleteMessage(m.id).then(() => ctx.announce('Message deleted.'), fail(ctx, 'delete'));
        })
      : null,
    archived || m.thread_root_id
      ? null
      : button(
          'pin',
          pinned ? 'Unpin message' : 'Pin message',
          'pin',
          () => {
            (pinned ? client.api.unpin(m.id) : client.api.pin(m.id)).then(
              () => ctx.announce(pinned ? 'Unpinned.' : 'Pinned.'),
              fail(ctx, pinned ? 'unpin' : 'pin'),
            );
          },
          pinned,
        ),
    button(
      'save',
      saved ? 'Remove from saved' : 'Save message',
      saved ? 'star' : 'star-outline',
      () => {
        (saved ? client.api.unsave(m.id) : client.api.save(m.id)).then(() => ctx.announce(saved ? 'Removed from saved.' : 'Saved.'), fail(ctx, 'save'));
      },
      saved,
    ),
  );
}

/** Inline editing: Enter saves, Shift+Enter is a new line, Escape cancels. */
function editor(ctx: MessageContext, m: Message): HTMLElement {
  const input = h('textarea', { class: 'edit-input', 'aria-label': 'Edited text', maxLength: 4000, rows: 2, value: ctx.editing.get(m.id) ?? m.content });
  const error = h('p', { class: 'error small', role: 'alert' });
  const done = () => {
    ctx.editing.delete(m.id);
    ctx.refresh();
  };
  const save = () => {
    const content = input.value;
    if (!content.trim()) return void (error.textContent = 'A message needs some text.');
    if (content === m.content) return done();
    client.api.editMessage(m.id, content).then(done, (err) => (error.textContent = errorText(err)));
  };
  input.addEventListener('input', () => ctx.editing.set(m.id, input.value));
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      save();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      done();
    }
  });
  queueMicrotask(() => {
    if (input.isConnected) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  });
  return h(
    'form',
    { class: 'edit-form', onsubmit: (e: SubmitEvent) => (e.preventDefault(), save()) },
    input,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), h('button', { type: 'button', onclick: done }, 'Cancel')),
    error,
  );
}
