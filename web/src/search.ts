// Search across the workspace: results with the server's highlight rendered as text + <mark>.
import { errorText } from './auth-view.js';
import { clear, h, highlight, time } from './dom.js';
import { client } from './session.js';
import type { Store } from './store.js';

export function searchBox(store: Store, open: (chatId: string) => void): { form: HTMLElement; panel: HTMLElement; focus(): void } {
  const input = h('input', { type: 'search', name: 'q', placeholder: 'Search messages (Ctrl+K)', 'aria-label': 'Search messages', autocomplete: 'off' });
  const results = h('ol', { class: 'results' });
  const summary = h('p', { class: 'muted', role: 'status' });
  const panel = h(
    'section',
    { class: 'search-panel', hidden: true, 'aria-label': 'Search results' },
    h('header', {}, h('h2', {}, 'Search'), h('button', { class: 'icon', 'aria-label': 'Close search', onclick: () => close() }, '✕')),
    summary,
    results,
  );
  const close = () => {
    panel.hidden = true;
    input.value = '';
  };
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close();
  });
  const form = h(
    'form',
    {
      class: 'search',
      role: 'search',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault();
        const q = input.value.trim();
        if (!q) return;
        panel.hidden = false;
        clear(results);
        summary.textContent = 'Searching…';
        try {
          const found = await client.api.search(store.wid, { q, limit: 50 });
          summary.textContent = `${found.total}${found.total_exact ? '' : '+'} result${found.total === 1 && found.total_exact ? '' : 's'} for “${q}” (${found.engine}, ${found.took_ms} ms)`;
          for (const hit of found.hits) {
            const chat = store.chats.get(hit.message.chat_id);
            results.appendChild(
              h(
                'li',
                {},
                h(
                  'button',
                  {
                    class: 'hit',
                    onclick: () => {
                      panel.hidden = true;
                      open(hit.message.chat_id);
                    },
                  },
                  h(
                    'span',
                    { class: 'meta' },
                    h('strong', {}, store.name(hit.message.sender_id)),
                    ` in ${chat ? store.chatName(chat) : 'a channel'} · ${time(hit.message.created_at)}`,
                  ),
                  h('span', { class: 'content' }, highlight(hit.highlight)),
                ),
              ),
            );
          }
        } catch (err) {
          summary.textContent = errorText(err);
        }
      },
    },
    input,
  );
  return { form, panel, focus: () => input.focus() };
}
