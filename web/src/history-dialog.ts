// The edit history of a message (GET /messages/:mid/edits) in a modal dialog: the current
// text first, then each earlier version, newest first. Native <dialog>: it traps focus,
// closes on Escape and gives focus back to the "(edited)" button.
import type { Message, MessageVersion } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { h, time } from './dom.js';
import { renderRich } from './mention-text.js';
import { client } from './session.js';

export function historyDialog(me: () => string) {
  const list = h('ol', { class: 'versions' });
  const status = h('p', { class: 'muted', role: 'status' });
  const close = h('button', { type: 'button', class: 'icon', 'aria-label': 'Close edit history', onclick: () => dialog.close() }, '✕');
  const dialog = h(
    'dialog',
    { class: 'history-dialog', 'aria-labelledby': 'history-title' },
    h('header', {}, h('h2', { id: 'history-title' }, 'Edit history'), close),
    status,
    list,
  );
  const version = (label: string, at: string, m: Message) =>
    h(
      'li',
      { class: 'version' },
      h('div', { class: 'meta small muted' }, `${label} · `, h('time', { dateTime: at }, time(at))),
      h('div', { class: 'content rich' }, renderRich(m, me())),
    );
  return {
    el: dialog,
    async show(m: Message) {
      list.replaceChildren(version('Current', m.edited_at ?? m.created_at, m));
      status.textContent = 'Loading…';
      if (!dialog.open) dialog.showModal();
      close.focus();
      try {
        const { items } = await client.api.listEdits(m.id);
        list.append(
          ...items.map((v: MessageVersion) =>
            version(v.version === 1 ? 'Original' : `Version ${v.version}`, v.written_at, { ...m, content: v.content, rendered: v.rendered }),
          ),
        );
        status.textContent = items.length ? `${items.length} earlier version${items.length === 1 ? '' : 's'}` : 'No earlier versions.';
      } catch (err) {
        status.textContent = errorText(err);
      }
    },
  };
}
