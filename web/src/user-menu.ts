// The user menu in the sidebar footer: a custom status (emoji, text, when to clear it),
// do-not-disturb (1 hour, until tomorrow, off) and "Enable notifications" for Web Push.
// Saved with PATCH /me; the SDK keeps client.user current (also from other tabs' user.updated).
import type { User } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { h, time } from './dom.js';
import { setupPush, type PushStatus } from './push.js';
import { client } from './session.js';

const HOUR = 3600_000;

/** Tomorrow at 9:00 local time: "until tomorrow" means until the working day starts. */
function tomorrowMorning(): Date {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(9, 0, 0, 0);
  return d;
}

function endOfToday(): Date {
  const d = new Date();
  d.setHours(23, 59, 59, 0);
  return d;
}

const EXPIRY: Record<string, () => string | null> = {
  never: () => null,
  '1h': () => new Date(Date.now() + HOUR).toISOString(),
  '4h': () => new Date(Date.now() + 4 * HOUR).toISOString(),
  today: () => endOfToday().toISOString(),
  week: () => new Date(Date.now() + 7 * 24 * HOUR).toISOString(),
};

export function dndActive(user: User | null): boolean {
  return !!user?.dnd_until && Date.parse(user.dnd_until) > Date.now();
}

export function userMenu(): { el: HTMLElement; enableButton: HTMLElement; start(): void } {
  const name = h('strong', {});
  const emojiShown = h('span', { class: 'status-emoji' });
  const dndShown = h('span', { class: 'dnd-flag', title: 'Do not disturb', hidden: true }, ' 🌙');
  // The name is the visible text, so it leads the accessible name too (WCAG 2.5.3).
  const button = h(
    'button',
    { type: 'button', class: 'user-button', 'aria-expanded': 'false', 'aria-haspopup': 'dialog' },
    h('span', { class: 'dot online', 'aria-hidden': 'true' }),
    ' ',
    name,
    emojiShown,
    dndShown,
    h('span', { class: 'sr-only' }, ' — User menu'),
  );
  const error = h('p', { class: 'error', role: 'alert' });

  const emoji = h('input', { name: 'status_emoji', maxLength: 16, placeholder: '🌴', 'aria-label': 'Status emoji', class: 'emoji-input' });
  const text = h('input', { name: 'status_text', maxLength: 100, placeholder: 'What’s your status?', 'aria-label': 'Status text' });
  const expiry = h(
    'select',
    { name: 'status_expiry', 'aria-label': 'Clear status after' },
    h('option', { value: 'never' }, 'Don’t clear'),
    h('option', { value: '1h' }, '1 hour'),
    h('option', { value: '4h' }, '4 hours'),
    h('option', { value: 'today' }, 'Today'),
    h('option', { value: 'week' }, 'This week'),
  );
  const statusNow = h('p', { class: 'muted small' });
  const dndNow = h('p', { class: 'muted small', role: 'status' });
  const pushLine = h('p', { class: 'muted small push-status', role: 'status' });
  const enable = h('button', { type: 'button', hidden: true }, 'Enable notifications');
  // Also right in the footer while the browser has not been asked yet.
  const enableShortcut = h('button', { type: 'button', class: 'link enable-notifications', hidden: true }, 'Enable notifications');

  const save = async (body: Parameters<typeof client.updateMe>[0]) => {
    error.textContent = '';
    try {
      await client.updateMe(body);
    } catch (err) {
      error.textContent = errorText(err);
    }
  };

  const statusForm = h(
    'form',
    {
      class: 'status-form',
      onsubmit: (e: SubmitEvent) => {
        e.preventDefault();
        const hasAny = emoji.value.trim() || text.value.trim();
        void save({ status: hasAny ? { emoji: emoji.value.trim() || null, text: text.value.trim() || null, expires_at: EXPIRY[expiry.value]!() } : null });
      },
    },
    h('div', { class: 'row' }, emoji, text),
    expiry,
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Save status'),
      h('button', { type: 'button', onclick: () => void save({ status: null }) }, 'Clear status'),
    ),
    statusNow,
  );
  const dnd = h(
    'div',
    { class: 'dnd', role: 'group', 'aria-label': 'Do not disturb' },
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', onclick: () => void save({ dnd_until: new Date(Date.now() + HOUR).toISOString() }) }, 'Pause 1 hour'),
      h('button', { type: 'button', onclick: () => void save({ dnd_until: tomorrowMorning().toISOString() }) }, 'Until tomorrow'),
      h('button', { type: 'button', class: 'dnd-off', onclick: () => void save({ dnd_until: null }) }, 'Resume'),
    ),
    dndNow,
  );
  const menu = h(
    'div',
    { class: 'popover user-menu', role: 'dialog', 'aria-label': 'Status and notifications', hidden: true },
    h('h3', {}, 'Status'),
    statusForm,
    h('h3', {}, 'Do not disturb'),
    dnd,
    h('h3', {}, 'Browser notifications'),
    enable,
    pushLine,
    error,
  );

  const render = () => {
    const user = client.user;
    name.textContent = user?.display_name ?? '';
    const status = user?.status && (!user.status.expires_at || Date.parse(user.status.expires_at) > Date.now()) ? user.status : null;
    emojiShown.textContent = status?.emoji ? ` ${status.emoji}` : '';
    emojiShown.title = status?.text ?? '';
    button.title = `@${user?.username ?? ''}${status?.text ? ` — ${status.text}` : ''}`;
    statusNow.textContent = status
      ? `Now: ${[status.emoji, status.text].filter(Boolean).join(' ')}${status.expires_at ? ` (until ${time(status.expires_at)})` : ''}`
      : 'No status set.';
    const on = dndActive(user);
    dndShown.hidden = !on;
    dndNow.textContent = on ? `Notifications paused until ${time(user!.dnd_until!)}.` : 'Notifications are not paused.';
  };
  const showPush = (s: PushStatus) => {
    pushLine.textContent = s.text;
    enable.hidden = !(s.state === 'ask' || s.state === 'off');
    enable.textContent = s.state === 'off' ? 'Try again' : 'Enable notifications';
    enableShortcut.hidden = s.state !== 'ask';
  };
  const turnOn = async () => {
    enable.disabled = enableShortcut.disabled = true;
    pushLine.textContent = Notification.permission === 'default' ? 'Answer the browser’s prompt to allow notifications…' : 'Enabling…';
    showPush(await setupPush(true));
    enable.disabled = enableShortcut.disabled = false;
  };
  enable.addEventListener('click', () => void turnOn());
  enableShortcut.addEventListener('click', () => void turnOn());

  const toggle = (open: boolean) => {
    menu.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) {
      const s = client.user?.status;
      emoji.value = s?.emoji ?? '';
      text.value = s?.text ?? '';
      error.textContent = '';
      render();
      emoji.focus();
    }
  };
  button.addEventListener('click', () => toggle(menu.hidden));
  menu.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      toggle(false);
      button.focus();
    }
  });
  client.on('user', render);
  // Status expiry and the end of DND happen without an event: re-check now and then.
  setInterval(render, 30_000);
  render();

  const el = h('div', { class: 'user-area' }, button, menu);
  return {
    el,
    enableButton: enableShortcut,
    start() {
      // Registers the worker; subscribes only when notifications are already allowed.
      void setupPush(false).then(showPush);
    },
  };
}
