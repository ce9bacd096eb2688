// The "Mentions" view: GET /me/mentions for this workspace, newest first, with "Load more"
// following next_cursor. A click opens the chat. Refreshed while open when a new mention
// arrives or one is read.
import type { MentionItem } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { clear, h, time } from './dom.js';
import { renderContent } from './mention-text.js';
import { client } from './session.js';
import type { Store } from './store.js';

const KIND: Record<MentionItem['kind'], string> = { user: 'mentioned you', channel: '@channel', here: '@here' };

export function mentionsView(store: Store, open: (chatId: string) => void): { panel: HTMLElement; show(): void } {
  const list = h('ol', { class: 'results mention-feed', 'aria-label': 'Messages that mention you' });
  const summary = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const panel = h(
    'section',
    { class: 'search-panel mentions-panel', hidden: true, 'aria-label': 'Mentions' },
    h('header', {}, h('h2', {}, 'Mentions'), h('button', { class: 'icon', 'aria-label': 'Close mentions', onclick: () => close() }, '✕')),
    summary,
    list,
    more,
  );
  let cursor: string | null = null;
  let run = 0;
  const close = () => {
    panel.hidden = true;
  };
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close();
  });

  const item = (x: MentionItem) => {
    const chat = store.chats.get(x.chat_id);
    return h(
      'li',
      {},
      h(
        'button',
        {
          class: `hit mention-hit${x.read ? '' : ' unread'}`,
          'data-message-id': x.message.id,
          onclick: () => {
            close();
            open(x.chat_id);
          },
        },
        h(
          'span',
          { class: 'meta' },
          h('strong', {}, store.name(x.message.sender_id)),
          ` ${KIND[x.kind] ?? ''} in ${chat ? store.chatName(chat) : 'a chat'} · ${time(x.message.created_at)}`,
          x.read ? null : h('span', { class: 'badge mention-badge', 'aria-label': 'unread' }, 'new'),
        ),
        h('span', { class: 'content' }, x.message.deleted ? 'message deleted' : renderContent(x.message, store.me)),
      ),
    );
  };

  const load = async (reset: boolean) => {
    const mine = ++run;
    if (reset) cursor = null;
    more.disabled = true;
    try {
      const page = await client.api.mentions({ workspace_id: store.wid, limit: 30, cursor: cursor ?? undefined });
      if (mine !== run) return;
      if (reset) clear(list);
      for (const x of page.items) list.appendChild(item(x));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      summary.textContent = list.children.length ? '' : 'Nobody has mentioned you yet.';
    } catch (err) {
      if (mine === run) summary.textContent = errorText(err);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => void load(false));
  store.subscribe((change) => {
    if (change === 'mentions' && !panel.hidden) void load(true);
  });

  return {
    panel,
    show() {
      panel.hidden = false;
      summary.textContent = 'Loading…';
      void load(true);
      (panel.querySelector('button') as HTMLElement | null)?.focus();
    },
  };
}
