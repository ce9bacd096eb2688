// Per-chat notification settings in the chat header: a level (default / all / mentions /
// none) and a mute toggle, saved with PATCH /chats/:cid/notifications. Other tabs follow via
// the user-scoped `notifications.updated` event (the Store applies it to the chat).
import type { NotificationSettings, NotifyLevel } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { clear, h, icon } from './dom.js';
import { client } from './session.js';
import type { Store } from './store.js';

const EFFECTIVE: Record<NotificationSettings['effective_level'], string> = {
  all: 'You are notified of every message.',
  mentions: 'You are notified when someone mentions you.',
  none: 'You get no notifications from this chat.',
};

export function notificationSettings(
  store: Store,
  currentChat: () => string | null,
): { button: HTMLButtonElement; panel: HTMLElement; refresh(): void; close(): void } {
  const level = h(
    'select',
    { name: 'notify_level', 'aria-label': 'Notify me about' },
    h('option', { value: 'default' }, 'Default'),
    h('option', { value: 'all' }, 'All messages'),
    h('option', { value: 'mentions' }, 'Mentions only'),
    h('option', { value: 'none' }, 'Nothing'),
  );
  const muted = h('input', { type: 'checkbox', name: 'muted' });
  const effective = h('p', { class: 'muted small', role: 'status' });
  const error = h('p', { class: 'error', role: 'alert' });
  const panel = h(
    'div',
    { class: 'popover notify-panel', role: 'dialog', 'aria-label': 'Notification settings', hidden: true },
    h('label', {}, 'Notify me about', level),
    h('label', { class: 'check' }, muted, ' Mute this chat'),
    effective,
    error,
  );
  const button = h(
    'button',
    { type: 'button', class: 'icon bell', 'aria-label': 'Notification settings', 'aria-expanded': 'false', title: 'Notification settings' },
    icon('bell'),
  );

  const show = (s: NotificationSettings) => {
    level.value = s.level;
    muted.checked = s.muted;
    effective.textContent = EFFECTIVE[s.effective_level] ?? '';
  };
  const refresh = () => {
    const chat = currentChat() ? store.chats.get(currentChat()!) : undefined;
    const off = chat?.muted || chat?.notify_level === 'none';
    if (button.dataset.icon !== (off ? 'off' : 'on')) {
      button.dataset.icon = off ? 'off' : 'on';
      clear(button);
      button.appendChild(icon(off ? 'bell-off' : 'bell'));
    }
    if (!panel.hidden && chat) {
      if (chat.notify_level) level.value = chat.notify_level;
      if (chat.muted !== undefined) muted.checked = chat.muted;
    }
  };
  const load = async () => {
    const cid = currentChat();
    if (!cid) return;
    error.textContent = '';
    try {
      show(await client.api.chatNotifications(cid));
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  const save = async (body: { level?: NotifyLevel; muted?: boolean }) => {
    const cid = currentChat();
    if (!cid) return;
    error.textContent = '';
    try {
      const s = await client.api.updateChatNotifications(cid, body);
      show(s);
      const chat = store.chats.get(cid);
      if (chat) Object.assign(chat, { notify_level: s.level, muted: s.muted });
      store.changed('chats');
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  const toggle = (open: boolean) => {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) {
      void load();
      level.focus();
    }
  };
  button.addEventListener('click', () => toggle(panel.hidden));
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      toggle(false);
      button.focus();
    }
  });
  level.addEventListener('change', () => void save({ level: level.value as NotifyLevel }));
  muted.addEventListener('change', () => void save({ muted: muted.checked }));
  return {
    button,
    panel,
    refresh,
    close: () => toggle(false),
  };
}
