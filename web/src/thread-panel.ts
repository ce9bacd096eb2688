// The thread side panel: the root, its replies (live), a composer that replies in the thread,
// follow/unfollow, and the read mark moved forward while it is open. Focus goes to the reply
// box on open and back to what opened it on close.
import type { Message } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { h } from './dom.js';
import { KeyedList } from './message-list.js';
import { messageItem, messageSignature, type MessageContext } from './message-view.js';
import { client } from './session.js';
import type { Store } from './store.js';

export function threadPanel(store: Store, base: Omit<MessageContext, 'inThread' | 'refresh'>) {
  const title = h('h2', { id: 'thread-title' }, 'Thread');
  const follow = h('button', { type: 'button', class: 'follow', 'aria-pressed': 'false' }, 'Follow thread');
  const close = h('button', { type: 'button', class: 'icon', 'aria-label': 'Close thread' }, '✕');
  const rootList = new KeyedList(h('ol', { class: 'thread-root', 'aria-label': 'Thread root' }));
  const replies = new KeyedList(h('ol', { class: 'thread-messages', 'aria-label': 'Replies', tabIndex: 0 }));
  const count = h('p', { class: 'muted small reply-count', role: 'status' });
  const input = h('textarea', { class: 'composer-input', rows: 1, maxLength: 4000, placeholder: 'Reply…', 'aria-label': 'Thread reply' });
  const error = h('p', { class: 'error small', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Reply');
  const form = h('form', { class: 'composer thread-composer' }, input, send);
  const el = h(
    'aside',
    { class: 'thread-panel', role: 'complementary', 'aria-labelledby': 'thread-title', hidden: true },
    h('header', { class: 'thread-head' }, title, follow, close),
    rootList.el,
    count,
    replies.el,
    error,
    form,
  );
  let rootId: string | null = null;
  let opener: HTMLElement | null = null;
  const ctx: MessageContext = { ...base, inThread: true, refresh: () => render() };

  const rows = (items: Message[]) =>
    items.map((m) => ({ key: m.id, signature: messageSignature(ctx, m, false, ''), build: () => messageItem(ctx, m, false, '') }));

  // Replying (or being the root's author, or mentioned) makes the server follow the thread for
  // me without an event: read my state again after such a reply.
  let seenReplies = new Set<string>();
  let stateTimer: ReturnType<typeof setTimeout> | undefined;
  const refreshState = (id: string) => {
    clearTimeout(stateTimer);
    stateTimer = setTimeout(() => {
      const after = store.thread(id).items.at(-1)?.seq;
      client.api.getThread(id, { after, limit: 1 }).then(
        (page) => {
          store.threadStates.set(id, page.thread);
          if (rootId === id) render();
        },
        () => {},
      );
    }, 150);
  };
  const watchFollows = (id: string) => {
    const t = store.thread(id);
    const state = store.threadStates.get(id);
    const fresh = t.items.filter((m) => !seenReplies.has(m.id));
    for (const m of t.items) seenReplies.add(m.id);
    if (!t.loaded || !state || state.following) return;
    const me = store.me;
    if (fresh.some((m) => m.sender_id === me || t.root?.sender_id === me || m.mentions?.some((x) => x.type === 'user' && x.user_id === me))) refreshState(id);
  };

  const render = () => {
    if (!rootId) return;
    const t = store.thread(rootId);
    watchFollows(rootId);
    const root = t.root;
    rootList.sync(root ? rows([root]) : []);
    const local = [...store.local.values()].filter((l) => l.thread_root_id === rootId);
    replies.sync([
      ...rows(t.items),
      ...local.map((l) => ({
        key: `local:${l.client_id}`,
        signature: l.state,
        build: () =>
          h(
            'li',
            { class: `msg mine local ${l.state}` },
            h('span', { class: 'avatar', 'aria-hidden': 'true' }),
            h(
              'div',
              { class: 'body' },
              h('p', { class: 'content' }, l.content),
              h('span', { class: `state ${l.state}`, role: 'status' }, l.state === 'failed' ? `Not sent: ${l.error?.message ?? 'error'}` : '… sending'),
            ),
          ),
      })),
    ]);
    const n = t.items.filter((m) => !m.deleted).length;
    count.textContent = t.loaded ? `${n} ${n === 1 ? 'reply' : 'replies'}` : 'Loading…';
    const state = store.threadStates.get(rootId);
    follow.textContent = state?.following ? 'Unfollow thread' : 'Follow thread';
    follow.setAttribute('aria-pressed', String(state?.following ?? false));
    const archived = root ? store.chats.get(root.chat_id)?.archived_at != null : false;
    input.disabled = archived || !root || root.deleted;
    send.disabled = input.disabled;
    markRead();
  };

  /**
   * While the panel is open and the page visible, the newest reply counts as read, in threads I
   * follow (only those have an unread count). Not in others: the server would record a read
   * mark as "not following", and replying later would then not follow the thread.
   */
  const markRead = () => {
    if (!rootId || el.hidden || document.visibilityState !== 'visible') return;
    const newest = store.thread(rootId).items.at(-1)?.seq ?? 0;
    const state = store.threadStates.get(rootId);
    if (!state || !state.following || newest <= state.last_read_seq) return;
    state.last_read_seq = newest;
    state.unread_count = 0;
    client.api.markThreadRead(rootId, newest).catch(() => {
      // The next reply moves it again.
    });
  };
  document.addEventListener('visibilitychange', markRead);

  follow.addEventListener('click', async () => {
    if (!rootId) return;
    const on = !store.threadStates.get(rootId)?.following;
    try {
      const state = await (on ? client.api.followThread(rootId) : client.api.unfollowThread(rootId));
      store.threadStates.set(rootId, state);
      render();
      base.announce(on ? 'Following the thread.' : 'No longer following the thread.');
    } catch (err) {
      error.textContent = errorText(err);
    }
  });

  const hide = () => {
    if (el.hidden) return;
    el.hidden = true;
    const closed = rootId;
    rootId = null;
    rootList.clear();
    replies.clear();
    // The button that opened the panel may have been rebuilt since (its count changed): its twin.
    const row = closed ? document.querySelector(`.messages [data-id="${CSS.escape(closed)}"]`) : null;
    const back = opener?.isConnected ? opener : (row?.querySelector('.replies, [data-action="thread"]') as HTMLElement | null);
    opener = null;
    back?.focus();
  };
  close.addEventListener('click', hide);
  el.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !(event.target as HTMLElement).closest('.edit-form, .emoji-picker')) {
      event.preventDefault();
      hide();
    }
  });

  const submit = () => {
    const content = input.value;
    const root = rootId ? store.thread(rootId).root : null;
    if (!root || !content.trim()) return;
    input.value = '';
    error.textContent = '';
    client.send(root.chat_id, content, { thread_root_id: root.id }).catch(() => {
      // Shown from the local echo.
    });
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });

  store.subscribe((change) => {
    if (!rootId) return;
    const root = store.thread(rootId).root;
    if (
      change === `thread:${rootId}` ||
      change === 'members' ||
      change === 'saved' ||
      (root && (change === `messages:${root.chat_id}` || change === `pins:${root.chat_id}`))
    )
      render();
  });

  return {
    el,
    get rootId() {
      return rootId;
    },
    async open(m: Message, trigger: HTMLElement | null) {
      const id = m.thread_root_id ?? m.id;
      if (rootId !== id) {
        rootList.clear();
        replies.clear();
        seenReplies = new Set();
      }
      rootId = id;
      opener = trigger;
      el.hidden = false;
      error.textContent = '';
      const t = store.thread(id);
      if (!t.root) t.root = m;
      render();
      input.focus();
      try {
        await store.loadThread(id);
      } catch (err) {
        error.textContent = errorText(err);
      }
    },
    close: hide,
  };
}
