// The signed-in workspace screen: sidebar + conversation + search, wired to one Store.
import type { LiveStatus, Me } from '@fechatter/sdk';
import { conversation } from './conversation.js';
import { h } from './dom.js';
import { mentionsView } from './mentions-view.js';
import { savedPanel } from './pins-view.js';
import { searchBox } from './search.js';
import { client } from './session.js';
import { sidebar } from './sidebar.js';
import { Store } from './store.js';

export async function workspaceApp(me: Me, wid: string, chatId: string | null): Promise<HTMLElement> {
  const role = me.workspaces.find((w) => w.id === wid)!.role;
  const store = new Store(wid, role);
  await store.load();
  const root = h('div', { class: 'app', 'data-wid': wid });
  const open = (id: string) => {
    history.replaceState(null, '', `#/w/${wid}/c/${id}`);
    root.classList.remove('show-sidebar');
    convo.show(id);
    store.changed('chats');
    convo.focusComposer();
  };
  const convo = conversation(store, () => root.classList.toggle('show-sidebar'));
  const search = searchBox(store, open);
  const mentions = mentionsView(store, open);
  // A saved message of another chat: open that chat, then find the message in it.
  const saved = savedPanel(store, (cid, mid) => {
    if (cid !== store.current) open(cid);
    void convo.jumpTo(mid);
  });
  const side = sidebar(store, me, {
    open,
    showMentions() {
      search.panel.hidden = true;
      root.classList.remove('show-sidebar');
      saved.close();
      mentions.show();
    },
    showSaved(trigger) {
      search.panel.hidden = true;
      mentions.panel.hidden = true;
      root.classList.remove('show-sidebar');
      saved.show(trigger);
    },
    switchWorkspace(id) {
      location.hash = id === '__new__' ? '#/new' : `#/w/${id}`;
    },
  });
  side.insertBefore(search.form, side.children[1]!);
  search.form.addEventListener('submit', () => (mentions.panel.hidden = true));
  const banner = h('div', { class: 'banner', role: 'status', hidden: true });
  const showStatus = (s: LiveStatus) => {
    banner.hidden = s.state === 'open' || s.state === 'connecting' || s.state === 'idle';
    banner.textContent = s.state === 'reconnecting' ? 'Connection lost. Reconnecting…' : s.state === 'closed' ? 'Disconnected.' : '';
  };
  client.on('status', showStatus);
  showStatus(client.live.status);
  root.append(
    side,
    h('div', { class: 'scrim', onclick: () => root.classList.remove('show-sidebar') }),
    convo.el,
    search.panel,
    mentions.panel,
    saved.panel,
    banner,
  );
  // The hash names another chat of this workspace (a notification was clicked): go there.
  window.addEventListener('hashchange', async () => {
    const match = /^#\/w\/([^/]+)\/c\/([^/?]+)/.exec(location.hash);
    const target = match && match[1] === wid ? match[2] : null;
    if (!target || target === store.current) return;
    if (!store.chats.has(target)) await store.loadChats().catch(() => {});
    if (store.chats.has(target)) open(target);
  });
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      root.classList.add('show-sidebar');
      search.focus();
    }
  });
  const first =
    chatId && store.chats.has(chatId)
      ? chatId
      : ([...store.chats.values()].find((c) => c.type === 'public' || c.type === 'private')?.id ?? [...store.chats.keys()][0]);
  if (first) queueMicrotask(() => open(first));
  else {
    convo.show(null);
    root.classList.add('show-sidebar');
  }
  return root;
}
