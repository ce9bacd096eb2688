// The open chat: header, message list (scroll up for older history), typing line, "seen by",
// and the composer with each message's pending / sent / failed state.
import type { LocalMessage, Message } from '@fechatter/sdk';
import { mentionAutocomplete, type MentionOption } from './autocomplete.js';
import { clear, h, initials, time } from './dom.js';
import { renderContent } from './mention-text.js';
import { notificationSettings } from './notify-settings.js';
import { client } from './session.js';
import { mentionsUser, type Store } from './store.js';

const NEAR_BOTTOM_PX = 60;

export interface Conversation {
  el: HTMLElement;
  show(chatId: string | null): void;
  focusComposer(): void;
}

export function conversation(store: Store, onMenu: () => void): Conversation {
  const title = h('h1', { class: 'chat-title' });
  const topic = h('span', { class: 'topic' });
  const list = h('ol', { class: 'messages', 'aria-label': 'Messages', tabIndex: 0 });
  const typing = h('div', { class: 'typing', 'aria-live': 'polite' });
  const input = h('textarea', {
    class: 'composer-input',
    rows: 1,
    maxLength: 4000,
    placeholder: 'Write a message…',
    'aria-label': 'Message',
  });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const autocomplete = mentionAutocomplete(input, () => mentionOptions());
  const composer = h('form', { class: 'composer' }, autocomplete.el, input, send);
  const empty = h('div', { class: 'empty' }, h('p', {}, 'Pick a channel or a person on the left.'));
  const notify = notificationSettings(store, () => chatId);
  const pane = h('div', { class: 'pane', hidden: true },
    h('header', { class: 'chat-head' },
      h('button', { class: 'icon menu', 'aria-label': 'Open navigation', onclick: onMenu }, '☰'),
      h('div', { class: 'chat-head-text' }, title, topic),
      notify.button,
      notify.panel,
    ),
    list,
    typing,
    composer,
  );
  let chatId: string | null = null;
  let stick = true;

  /** The chat's members (not me) and, outside direct chats, @channel and @here. */
  const mentionOptions = async (): Promise<MentionOption[]> => {
    const cid = chatId;
    if (!cid) return [];
    const ids = await store.chatMemberIds(cid).catch(() => [] as string[]);
    const options: MentionOption[] = [];
    for (const id of ids) {
      const user = store.user(id);
      if (id === store.me || !user) continue;
      options.push({ handle: user.username, label: `${user.display_name}${store.statusEmoji(id) ? ` ${store.statusEmoji(id)}` : ''}` });
    }
    if (store.chats.get(cid)?.type !== 'direct') {
      options.push({ handle: 'channel', label: 'Everyone in this chat' }, { handle: 'here', label: 'Everyone online in this chat' });
    }
    return options;
  };

  const render = () => {
    if (!chatId) return;
    const t = store.timeline(chatId);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
    const fromBottom = list.scrollHeight - list.scrollTop;
    clear(list);
    if (t.loaded && !t.hasMore) list.appendChild(h('li', { class: 'start muted' }, 'This is the beginning of the conversation.'));
    else if (t.loading) list.appendChild(h('li', { class: 'start muted' }, 'Loading…'));
    let previous: Message | undefined;
    const mine = [...t.items].reverse().find((m) => m.sender_id === store.me && !m.deleted);
    for (const m of t.items) {
      list.appendChild(messageItem(m, previous, m === mine ? seenBy(m) : null));
      previous = m;
    }
    for (const local of store.local.values()) if (local.chat_id === chatId) list.appendChild(localItem(local));
    // Stay at the bottom when we were there; keep the visible message in place when older ones were prepended.
    if (stick || atBottom) list.scrollTop = list.scrollHeight;
    else list.scrollTop = list.scrollHeight - fromBottom;
    stick = false;
    maybeRead();
  };

  const messageItem = (m: Message, previous: Message | undefined, seen: Node | null) => {
    const grouped = previous && previous.sender_id === m.sender_id && Date.parse(m.created_at) - Date.parse(previous.created_at) < 5 * 60_000;
    const name = store.name(m.sender_id);
    return h(
      'li',
      { class: `msg${grouped ? ' grouped' : ''}${m.sender_id === store.me ? ' mine' : ''}${mentionsUser(m, store.me) ? ' mentions-me' : ''}`, 'data-seq': m.seq, 'data-id': m.id },
      grouped ? null : h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(name)),
      h('div', { class: 'body' },
        grouped ? null : h('div', { class: 'meta' }, h('strong', { class: 'sender' }, name), store.statusEmoji(m.sender_id) ? h('span', { class: 'status-emoji', title: store.user(m.sender_id)?.status?.text ?? '' }, ` ${store.statusEmoji(m.sender_id)}`) : null, ' ', h('time', { dateTime: m.created_at, title: m.created_at }, time(m.created_at))),
        m.deleted ? h('p', { class: 'content deleted' }, 'message deleted') : h('p', { class: 'content' }, renderContent(m, store.me)),
        m.edited_at && !m.deleted ? h('span', { class: 'muted small' }, '(edited)') : null,
        m.sender_id === store.me ? h('span', { class: 'state sent', 'aria-label': 'sent' }, '✓ sent') : null,
        seen,
      ),
    );
  };

  const localItem = (l: LocalMessage) =>
    h(
      'li',
      { class: `msg mine local ${l.state}`, 'data-client-id': l.client_id },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(client.user?.display_name ?? '')),
      h('div', { class: 'body' },
        h('div', { class: 'meta' }, h('strong', { class: 'sender' }, client.user?.display_name ?? 'You')),
        h('p', { class: 'content' }, l.content),
        l.state === 'failed'
          ? h('span', { class: 'state failed', role: 'status' }, `Not sent: ${l.error?.message ?? 'error'} `, h('button', { class: 'link', onclick: () => void client.retry(l).catch(() => {}) }, 'Retry'))
          : h('span', { class: 'state pending', role: 'status' }, '… sending'),
      ),
    );

  const seenBy = (m: Message): Node | null => {
    const readers = [...(store.receipts.get(m.chat_id) ?? new Map<string, number>()).entries()]
      .filter(([uid, seq]) => uid !== store.me && seq >= m.seq)
      .map(([uid]) => store.name(uid));
    return readers.length ? h('div', { class: 'seen-by' }, `Seen by ${readers.join(', ')}`) : null;
  };

  const renderTyping = () => {
    if (!chatId) return;
    const now = Date.now();
    const who = [...(store.typing.get(chatId) ?? new Map<string, number>()).entries()].filter(([, until]) => until > now).map(([uid]) => store.name(uid));
    typing.textContent = who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…` : `${who.join(', ')} are typing…`;
  };

  const renderHead = () => {
    const chat = chatId ? store.chats.get(chatId) : undefined;
    if (!chat) return;
    title.textContent = (chat.type === 'public' ? '# ' : chat.type === 'private' ? '🔒 ' : '') + store.chatName(chat);
    topic.textContent = chat.topic ? ` — ${chat.topic}` : ` · ${chat.member_count} member${chat.member_count === 1 ? '' : 's'}`;
    input.placeholder = `Message ${store.chatName(chat)}`;
    const archived = chat.archived_at !== null;
    input.disabled = archived;
    send.disabled = archived;
    if (archived) input.placeholder = 'This chat is archived.';
  };

  /** Read marks go out only for what the user can actually see. */
  const maybeRead = () => {
    if (!chatId || document.visibilityState !== 'visible') return;
    if (list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX) store.markRead(chatId);
  };

  list.addEventListener('scroll', () => {
    if (!chatId) return;
    if (list.scrollTop < 80) {
      const t = store.timeline(chatId);
      if (t.hasMore && !t.loading && t.loaded) void store.loadHistory(chatId, true);
    }
    maybeRead();
  });
  document.addEventListener('visibilitychange', maybeRead);
  window.addEventListener('focus', maybeRead);

  const submit = () => {
    const content = input.value;
    if (!chatId || !content.trim()) return;
    input.value = '';
    autosize();
    stick = true;
    client.send(chatId, content).catch(() => {
      // The failed state (with Retry) is shown from the local echo.
    });
  };
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  };
  input.addEventListener('keydown', (event) => {
    if (autocomplete.keydown(event)) return;
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    autocomplete.update();
    if (chatId && input.value.trim()) client.typing(chatId);
  });

  store.subscribe((change) => {
    if (!chatId) return;
    if (change === `messages:${chatId}` || change === `receipts:${chatId}` || change === 'members') {
      render();
      if (change === 'members') renderTyping();
    }
    else if (change === `typing:${chatId}`) renderTyping();
    if (change === 'chats') {
      renderHead();
      notify.refresh();
    }
  });

  return {
    el: h('section', { class: 'main', 'aria-label': 'Conversation' }, empty, pane),
    show(id) {
      chatId = id;
      store.current = id;
      empty.hidden = id !== null;
      pane.hidden = id === null;
      if (!id) return;
      stick = true;
      typing.textContent = '';
      autocomplete.close();
      notify.close();
      renderHead();
      notify.refresh();
      render();
      const t = store.timeline(id);
      if (!t.loaded) void store.loadHistory(id).then(() => void store.loadReceipts(id));
      else void store.loadReceipts(id);
    },
    focusComposer() {
      input.focus();
    },
  };
}
