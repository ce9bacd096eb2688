// Two side panels listing messages to jump to: the open chat's pins, and my saved messages
// across the workspace's chats (GET /me/saved; the server drops what I can no longer read).
import type { Message } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { clear, h, time } from './dom.js';
import { renderRich } from './mention-text.js';
import { client } from './session.js';
import type { Store } from './store.js';

type Jump = (chatId: string, messageId: string) => void;

function panelShell(label: string, closeLabel: string, onClose: () => void) {
  const list = h('ul', { class: 'results', 'aria-label': label });
  const summary = h('p', { class: 'muted', role: 'status' });
  const close = h('button', { type: 'button', class: 'icon', 'aria-label': closeLabel, onclick: onClose }, '✕');
  const panel = h(
    'section',
    { class: 'search-panel', role: 'complementary', 'aria-label': label, hidden: true },
    h('header', {}, h('h2', {}, label), close),
    summary,
    list,
  );
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') onClose();
  });
  return { list, summary, panel, close };
}

function hit(store: Store, m: Message, line: string, onClick: () => void): HTMLElement {
  return h(
    'li',
    {},
    h(
      'button',
      { type: 'button', class: 'hit', 'data-message-id': m.id, onclick: onClick },
      h('span', { class: 'meta' }, h('strong', {}, store.name(m.sender_id)), ` ${line}`),
      h('span', { class: 'content rich' }, m.deleted ? 'This message was deleted' : renderRich(m, store.me)),
    ),
  );
}

export function pinsPanel(store: Store, jump: Jump) {
  let chatId: string | null = null;
  let opener: HTMLElement | null = null;
  const close = () => {
    if (shell.panel.hidden) return;
    shell.panel.hidden = true;
    if (opener?.isConnected) opener.focus();
  };
  const shell = panelShell('Pinned messages', 'Close pinned messages', close);
  const render = () => {
    if (!chatId) return;
    const pins = [...(store.pins.get(chatId)?.values() ?? [])].sort((a, b) => b.pinned_at.localeCompare(a.pinned_at));
    clear(shell.list);
    for (const p of pins)
      shell.list.appendChild(
        hit(store, p.message, `· pinned by ${store.name(p.pinned_by)} ${time(p.pinned_at)}`, () => {
          close();
          jump(p.message.chat_id, p.message.id);
        }),
      );
    shell.summary.textContent = pins.length ? `${pins.length} pinned` : 'Nothing is pinned in this chat yet.';
  };
  store.subscribe((change) => {
    if (chatId && change === `pins:${chatId}` && !shell.panel.hidden) render();
  });
  return {
    panel: shell.panel,
    async show(id: string, trigger: HTMLElement | null) {
      chatId = id;
      opener = trigger;
      shell.panel.hidden = false;
      shell.summary.textContent = 'Loading…';
      shell.close.focus();
      try {
        await store.loadPins(id);
        render();
      } catch (err) {
        shell.summary.textContent = errorText(err);
      }
    },
    close,
  };
}

export function savedPanel(store: Store, jump: Jump) {
  let opener: HTMLElement | null = null;
  const close = () => {
    if (shell.panel.hidden) return;
    shell.panel.hidden = true;
    if (opener?.isConnected) opener.focus();
  };
  const shell = panelShell('Saved messages', 'Close saved messages', close);
  const load = async () => {
    try {
      const { items } = await client.api.listSaved({ limit: 100 });
      const here = items.filter((s) => s.message.workspace_id === store.wid);
      clear(shell.list);
      for (const s of here) {
        const chat = store.chats.get(s.message.chat_id);
        shell.list.appendChild(
          hit(store, s.message, `in ${chat ? store.chatName(chat) : 'a chat'} · saved ${time(s.saved_at)}`, () => {
            close();
            jump(s.message.chat_id, s.message.id);
          }),
        );
      }
      shell.summary.textContent = here.length ? `${here.length} saved` : 'Nothing saved yet: use ☆ on a message to keep it here.';
    } catch (err) {
      shell.summary.textContent = errorText(err);
    }
  };
  store.subscribe((change) => {
    if (change === 'saved' && !shell.panel.hidden) void load();
  });
  return {
    panel: shell.panel,
    show(trigger: HTMLElement | null) {
      opener = trigger;
      shell.panel.hidden = false;
      shell.summary.textContent = 'Loading…';
      shell.close.focus();
      void load();
    },
    close,
  };
}
