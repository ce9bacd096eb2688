// The open chat: header (pins, notification settings), the message list (scroll up for older
// history), typing line, "seen by", the composer with files (attach button or drag and drop),
// and the thread panel beside it. The list is patched, never rebuilt: see message-list.ts.
import type { LocalMessage, Message } from '@fechatter/sdk';
import { mentionAutocomplete, type MentionOption } from './autocomplete.js';
import { h, icon, initials } from './dom.js';
import { emojiPicker } from './emoji-picker.js';
import { uploadTray } from './files.js';
import { historyDialog } from './history-dialog.js';
import { KeyedList, type Row } from './message-list.js';
import { messageItem, messageSignature, type MessageContext } from './message-view.js';
import { notificationSettings } from './notify-settings.js';
import { pinsPanel } from './pins-view.js';
import { client } from './session.js';
import type { Store } from './store.js';
import { threadPanel } from './thread-panel.js';

const NEAR_BOTTOM_PX = 60;
const GROUP_MS = 5 * 60_000;

export interface Conversation {
  el: HTMLElement;
  show(chatId: string | null): void;
  focusComposer(): void;
  /** Scrolls to a message of the open chat (loading older history as needed) and focuses it. */
  jumpTo(messageId: string): Promise<void>;
}

export function conversation(store: Store, onMenu: () => void): Conversation {
  const title = h('h1', { class: 'chat-title' });
  const topic = h('span', { class: 'topic' });
  const listEl = h('ol', { class: 'messages', 'aria-label': 'Messages', tabIndex: 0 });
  const list = new KeyedList(listEl);
  const typing = h('div', { class: 'typing', 'aria-live': 'polite' });
  const announcer = h('div', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const input = h('textarea', {
    class: 'composer-input',
    rows: 1,
    maxLength: 4000,
    placeholder: 'Write a message…',
    'aria-label': 'Message',
  });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const fileInput = h('input', { type: 'file', multiple: true, class: 'file-input', tabIndex: -1, 'aria-hidden': 'true' });
  const attach = h(
    'button',
    { type: 'button', class: 'icon attach', 'aria-label': 'Attach files', title: 'Attach files', onclick: () => fileInput.click() },
    icon('attach'),
  );
  const tray = uploadTray(() => chatId);
  const autocomplete = mentionAutocomplete(input, () => mentionOptions());
  const composer = h('form', { class: 'composer' }, autocomplete.el, attach, fileInput, input, send);
  const empty = h('div', { class: 'empty' }, h('p', {}, 'Pick a channel or a person on the left.'));
  const notify = notificationSettings(store, () => chatId);
  const pinsButton = h(
    'button',
    { type: 'button', class: 'icon pins-button', title: 'Pinned messages' },
    icon('pin'),
    h('span', { class: 'sr-only' }, 'Pinned messages'),
    h('span', { class: 'pin-count' }),
  );
  const dropHint = h('div', { class: 'drop-hint', 'aria-hidden': 'true' }, 'Drop files to upload');
  const pane = h(
    'div',
    { class: 'pane', hidden: true },
    h(
      'header',
      { class: 'chat-head' },
      h('button', { class: 'icon menu', 'aria-label': 'Open navigation', onclick: onMenu }, '☰'),
      h('div', { class: 'chat-head-text' }, title, topic),
      pinsButton,
      notify.button,
      notify.panel,
    ),
    listEl,
    typing,
    tray.el,
    composer,
    dropHint,
    announcer,
  );
  let chatId: string | null = null;
  let stick = true;

  const announce = (text: string) => {
    announcer.textContent = '';
    // A new text node each time, so the same message is announced again.
    setTimeout(() => (announcer.textContent = text), 30);
  };
  const picker = emojiPicker();
  const history = historyDialog(() => store.me);
  const editing = new Map<string, string>();
  const base = {
    store,
    picker,
    editing,
    announce,
    openThread: (m: Message, trigger: HTMLElement) => void thread.open(m, trigger),
    showHistory: (m: Message) => void history.show(m),
  };
  const ctx: MessageContext = { ...base, inThread: false, refresh: () => render() };
  const thread = threadPanel(store, base);
  const pins = pinsPanel(store, (cid, mid) => void (cid === chatId ? jumpTo(mid) : undefined));
  pinsButton.addEventListener('click', () => chatId && void pins.show(chatId, pinsButton));

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

  const seenBy = (m: Message): string => {
    const readers = [...(store.receipts.get(m.chat_id) ?? new Map<string, number>()).entries()]
      .filter(([uid, seq]) => uid !== store.me && seq >= m.seq)
      .map(([uid]) => store.name(uid));
    return readers.length ? `Seen by ${readers.join(', ')}` : '';
  };

  const render = () => {
    if (!chatId) return;
    const t = store.timeline(chatId);
    const atBottom = listEl.scrollHeight - listEl.scrollTop - listEl.clientHeight < NEAR_BOTTOM_PX;
    const fromBottom = listEl.scrollHeight - listEl.scrollTop;
    const rows: Row[] = [];
    const start = t.loaded && !t.hasMore ? 'This is the beginning of the conversation.' : t.loading ? 'Loading…' : '';
    if (start) rows.push({ key: 'start', signature: start, build: () => h('li', { class: 'start muted' }, start) });
    const mine = [...t.items].reverse().find((m) => m.sender_id === store.me && !m.deleted);
    let previous: Message | undefined;
    for (const m of t.items) {
      const grouped =
        !!previous && previous.sender_id === m.sender_id && !previous.deleted && Date.parse(m.created_at) - Date.parse(previous.created_at) < GROUP_MS;
      const seen = m === mine ? seenBy(m) : '';
      rows.push({ key: m.id, signature: messageSignature(ctx, m, grouped, seen), build: () => messageItem(ctx, m, grouped, seen) });
      previous = m;
    }
    for (const local of store.local.values()) {
      if (local.chat_id === chatId && !local.thread_root_id)
        rows.push({ key: `local:${local.client_id}`, signature: `${local.state}`, build: () => localItem(local) });
    }
    list.sync(rows);
    // Stay at the bottom when we were there; keep the visible message in place when older ones were prepended.
    if (stick || atBottom) listEl.scrollTop = listEl.scrollHeight;
    else listEl.scrollTop = listEl.scrollHeight - fromBottom;
    stick = false;
    maybeRead();
  };

  const localItem = (l: LocalMessage) =>
    h(
      'li',
      { class: `msg mine local ${l.state}`, 'data-client-id': l.client_id },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(client.user?.display_name ?? '')),
      h(
        'div',
        { class: 'body' },
        h('div', { class: 'meta' }, h('strong', { class: 'sender' }, client.user?.display_name ?? 'You')),
        h('p', { class: 'content' }, l.content),
        l.state === 'failed'
          ? h(
              'span',
              { class: 'state failed', role: 'status' },
              `Not sent: ${l.error?.message ?? 'error'} `,
              h('button', { class: 'link', onclick: () => void client.retry(l).catch(() => {}) }, 'Retry'),
            )
          : h('span', { class: 'state pending', role: 'status' }, '… sending'),
      ),
    );

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
    attach.disabled = archived;
    if (archived) input.placeholder = 'This chat is archived.';
  };

  const renderPinCount = () => {
    const n = chatId ? (store.pins.get(chatId)?.size ?? 0) : 0;
    (pinsButton.querySelector('.pin-count') as HTMLElement).textContent = n ? ` ${n}` : '';
  };

  /** Read marks go out only for what the user can actually see. */
  const maybeRead = () => {
    if (!chatId || document.visibilityState !== 'visible') return;
    if (listEl.scrollHeight - listEl.scrollTop - listEl.clientHeight < NEAR_BOTTOM_PX) store.markRead(chatId);
  };

  const jumpTo = async (messageId: string) => {
    const cid = chatId;
    if (!cid) return;
    for (let i = 0; i < 20 && !list.element(messageId); i++) {
      const t = store.timeline(cid);
      if (!t.loaded) await store.loadHistory(cid);
      else if (t.hasMore) await store.loadHistory(cid, true);
      else break;
      if (chatId !== cid) return;
    }
    const el = list.element(messageId);
    if (!el) return announce('That message is no longer in this chat.');
    el.tabIndex = -1;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 2000);
    el.focus({ preventScroll: true });
  };

  listEl.addEventListener('scroll', () => {
    if (!chatId) return;
    if (listEl.scrollTop < 80) {
      const t = store.timeline(chatId);
      if (t.hasMore && !t.loading && t.loaded) void store.loadHistory(chatId, true);
    }
    maybeRead();
  });
  document.addEventListener('visibilitychange', maybeRead);
  window.addEventListener('focus', maybeRead);

  const submit = () => {
    if (!chatId) return;
    if (tray.busy()) return announce('Wait for the upload to finish, then send.');
    let content = input.value;
    const attachments = tray.take();
    if (!content.trim() && attachments.length === 0) return;
    // The server wants some text with every message: the file names stand in for none.
    if (!content.trim()) content = attachments.map((a) => a.filename).join(', ');
    input.value = '';
    autosize();
    stick = true;
    client.send(chatId, content, attachments.length ? { attachment_ids: attachments.map((a) => a.id) } : {}).catch(() => {
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

  // Files: the attach button's chooser, or dropped anywhere on the conversation.
  fileInput.addEventListener('change', () => {
    if (fileInput.files?.length) tray.add([...fileInput.files]);
    fileInput.value = '';
    input.focus();
  });
  const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  pane.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || attach.disabled) return;
    e.preventDefault();
    pane.classList.add('dragging');
  });
  pane.addEventListener('dragleave', (e) => {
    if (!pane.contains(e.relatedTarget as Node)) pane.classList.remove('dragging');
  });
  pane.addEventListener('drop', (e) => {
    pane.classList.remove('dragging');
    if (!e.dataTransfer?.files.length || attach.disabled) return;
    e.preventDefault();
    tray.add([...e.dataTransfer.files]);
  });

  store.subscribe((change) => {
    if (!chatId) return;
    if (change === `messages:${chatId}` || change === `receipts:${chatId}` || change === 'members' || change === 'saved') {
      render();
      if (change === 'members') renderTyping();
    } else if (change === `typing:${chatId}`) renderTyping();
    if (change === `pins:${chatId}`) renderPinCount();
    if (change === 'chats') {
      renderHead();
      notify.refresh();
    }
  });

  return {
    el: h('section', { class: 'main', 'aria-label': 'Conversation' }, h('div', { class: 'convo' }, empty, pane), thread.el, pins.panel, picker.el, history.el),
    show(id) {
      const changed = id !== chatId;
      chatId = id;
      store.current = id;
      empty.hidden = id !== null;
      pane.hidden = id === null;
      if (changed) {
        list.clear();
        editing.clear();
        tray.clear();
        pins.close();
        picker.close();
        if (thread.rootId) thread.close();
      }
      if (!id) return;
      stick = true;
      typing.textContent = '';
      autocomplete.close();
      notify.close();
      renderHead();
      renderPinCount();
      notify.refresh();
      render();
      const t = store.timeline(id);
      if (!t.loaded) void store.loadHistory(id).then(() => void store.loadReceipts(id));
      else void store.loadReceipts(id);
      void store.loadPins(id).catch(() => {});
    },
    focusComposer() {
      input.focus();
    },
    jumpTo,
  };
}
