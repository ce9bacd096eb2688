// The sidebar: workspace switcher, channels and direct messages with unread badges and
// presence dots, and the forms to create a channel, start a DM, browse and invite.
import type { Chat, LiveStatus, Me } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { clear, h, icon } from './dom.js';
import { client } from './session.js';
import type { Store } from './store.js';
import { userMenu } from './user-menu.js';

export interface SidebarActions {
  open(chatId: string): void;
  switchWorkspace(wid: string): void;
  showMentions(): void;
  showSaved(trigger: HTMLElement): void;
}

export function sidebar(store: Store, me: Me, actions: SidebarActions): HTMLElement {
  const channels = h('ul', { class: 'chat-list', 'aria-label': 'Channels' });
  const dms = h('ul', { class: 'chat-list', 'aria-label': 'Direct messages' });
  const panel = h('div', { class: 'panel' });
  const status = h('span', { class: 'conn', title: 'Live connection' });
  const isAdmin = store.role === 'owner' || store.role === 'admin';

  const item = (chat: Chat) => {
    const unread = chat.unread_count ?? 0;
    const mentions = chat.mention_count ?? 0;
    const peer = store.peer(chat);
    const peerEmoji = peer ? store.statusEmoji(peer) : '';
    const label = store.chatName(chat);
    return h(
      'li',
      {},
      h(
        'button',
        {
          class: `chat-item${chat.id === store.current ? ' active' : ''}${unread ? ' has-unread' : ''}`,
          'data-chat-id': chat.id,
          'aria-current': chat.id === store.current ? 'page' : null,
          onclick: () => actions.open(chat.id),
        },
        peer
          ? h('span', {
              class: `dot ${store.presence.get(peer) === 'online' ? 'online' : 'offline'}`,
              title: store.presence.get(peer) ?? 'offline',
              'aria-label': store.presence.get(peer) ?? 'offline',
            })
          : h('span', { class: 'hash', 'aria-hidden': 'true' }, chat.type === 'private' ? '🔒' : chat.type === 'public' ? '#' : '👥'),
        h(
          'span',
          { class: 'chat-name' },
          label,
          peerEmoji ? h('span', { class: 'status-emoji', title: store.user(peer!)?.status?.text ?? '' }, ` ${peerEmoji}`) : null,
        ),
        chat.muted ? h('span', { class: 'muted-flag', title: 'Muted', role: 'img', 'aria-label': 'muted' }, icon('bell-off')) : null,
        mentions
          ? h('span', { class: 'badge mention-badge', 'aria-label': `${mentions} mention${mentions === 1 ? '' : 's'}` }, `@${mentions > 99 ? '99+' : mentions}`)
          : null,
        unread ? h('span', { class: 'badge', 'aria-label': `${unread} unread` }, unread > 99 ? '99+' : unread) : null,
      ),
    );
  };

  const mentionsButton = h('button', { type: 'button', class: 'chat-item mentions-link', onclick: () => actions.showMentions() });
  const savedButton = h(
    'button',
    { type: 'button', class: 'chat-item saved-link', onclick: () => actions.showSaved(savedButton) },
    h('span', { class: 'hash', 'aria-hidden': 'true' }, '★'),
    h('span', { class: 'chat-name' }, 'Saved'),
  );
  const renderMentionsButton = () => {
    const total = [...store.chats.values()].reduce((sum, c) => sum + (c.mention_count ?? 0), 0);
    clear(mentionsButton);
    mentionsButton.append(
      h('span', { class: 'hash', 'aria-hidden': 'true' }, '@'),
      h('span', { class: 'chat-name' }, 'Mentions'),
      total ? h('span', { class: 'badge mention-badge', 'aria-label': `${total} unread mention${total === 1 ? '' : 's'}` }, total > 99 ? '99+' : total) : '',
    );
  };

  const render = () => {
    renderMentionsButton();
    clear(channels);
    clear(dms);
    const all = [...store.chats.values()].sort((a, b) => store.chatName(a).localeCompare(store.chatName(b)));
    for (const chat of all) (chat.type === 'public' || chat.type === 'private' ? channels : dms).appendChild(item(chat));
    if (!channels.firstChild) channels.appendChild(h('li', { class: 'muted' }, 'No channels yet'));
    if (!dms.firstChild) dms.appendChild(h('li', { class: 'muted' }, 'No conversations yet'));
  };
  store.subscribe((change) => {
    if (change === 'chats' || change === 'presence' || change === 'members') render();
  });
  const showStatus = (s: LiveStatus) => {
    status.className = `conn ${s.state}`;
    status.textContent = s.state === 'open' ? `live (${s.transport})` : s.state === 'reconnecting' ? 'reconnecting…' : s.state;
  };
  client.on('status', showStatus);
  showStatus(client.live.status);

  const showPanel = (...children: Array<Node | null>) => {
    clear(panel);
    for (const c of children) if (c) panel.appendChild(c);
    (panel.querySelector('input, select, button') as HTMLElement | null)?.focus();
  };
  const closeButton = () => h('button', { type: 'button', class: 'link', onclick: () => clear(panel) }, 'Cancel');

  // A panel form that creates a chat from its fields and opens it; errors show in the form.
  const createChatForm = (label: string, body: () => Parameters<typeof client.api.createChat>[1], ...fields: Node[]) => {
    const error = h('p', { class: 'error', role: 'alert' });
    return h(
      'form',
      {
        class: 'inline-form',
        onsubmit: async (event: SubmitEvent) => {
          event.preventDefault();
          try {
            const chat = await client.api.createChat(store.wid, body());
            clear(panel);
            await store.loadChats();
            actions.open(chat.id);
          } catch (err) {
            error.textContent = errorText(err);
          }
        },
      },
      ...fields,
      h('button', { type: 'submit', class: 'primary' }, label),
      closeButton(),
      error,
    );
  };

  const newChannel = () => {
    const name = h('input', { name: 'channel', required: true, maxLength: 80, placeholder: 'new-channel', 'aria-label': 'Channel name' });
    const type = h(
      'select',
      { name: 'type', 'aria-label': 'Visibility' },
      h('option', { value: 'public' }, 'Public'),
      h('option', { value: 'private' }, 'Private'),
    );
    showPanel(createChatForm('Create', () => ({ type: type.value as 'public' | 'private', name: name.value.trim() }), name, type));
  };

  const browse = async () => {
    const list = h('ul', { class: 'browse' });
    showPanel(h('p', { class: 'muted' }, 'Public channels you can join'), list, closeButton());
    try {
      const { items } = await client.api.browsePublicChats(store.wid);
      if (!items.length) list.appendChild(h('li', { class: 'muted' }, 'Nothing new to join'));
      for (const chat of items) {
        list.appendChild(
          h(
            'li',
            {},
            `# ${chat.name}`,
            h(
              'button',
              {
                onclick: async () => {
                  await client.api.joinChat(chat.id);
                  clear(panel);
                  await store.loadChats();
                  actions.open(chat.id);
                },
              },
              'Join',
            ),
          ),
        );
      }
    } catch (err) {
      list.appendChild(h('li', { class: 'error' }, errorText(err)));
    }
  };

  const newDm = () => {
    const select = h('select', { name: 'member', 'aria-label': 'Person' });
    for (const m of [...store.members.values()].filter((m) => m.user.id !== store.me))
      select.appendChild(h('option', { value: m.user.id }, m.user.display_name));
    if (!select.firstChild) return showPanel(h('p', { class: 'muted' }, 'Invite someone first.'), closeButton());
    showPanel(createChatForm('Message', () => ({ type: 'direct', member_ids: [select.value] }), select));
  };

  const invite = async () => {
    try {
      const inv = await client.api.createInvitation(store.wid, { role: 'member', max_uses: 25, expires_in_seconds: 7 * 86400 });
      const link = `${location.origin}/#/invite/${inv.token}`;
      const input = h('input', { readOnly: true, value: link, class: 'invite-link', 'aria-label': 'Invitation link' });
      showPanel(
        h('p', {}, 'Share this link (25 uses, 7 days):'),
        input,
        h('button', { onclick: () => void navigator.clipboard?.writeText(link).catch(() => input.select()) }, 'Copy'),
        closeButton(),
      );
      input.select();
    } catch (err) {
      showPanel(h('p', { class: 'error' }, errorText(err)), closeButton());
    }
  };

  const switcher = h(
    'select',
    { class: 'ws-switch', 'aria-label': 'Workspace', onchange: (e: Event) => actions.switchWorkspace((e.target as HTMLSelectElement).value) },
    ...me.workspaces.map((w) => h('option', { value: w.id, selected: w.id === store.wid }, w.name)),
    h('option', { value: '__new__' }, '+ New workspace…'),
  );

  const user = userMenu();
  user.start();
  render();
  return h(
    'aside',
    { class: 'sidebar', 'aria-label': 'Workspace navigation' },
    h('div', { class: 'ws-head' }, switcher),
    h(
      'nav',
      {},
      h('ul', { class: 'chat-list' }, h('li', {}, mentionsButton), h('li', {}, savedButton)),
      h(
        'div',
        { class: 'section' },
        h('h2', {}, 'Channels'),
        h('button', { class: 'icon', title: 'New channel', 'aria-label': 'New channel', onclick: newChannel }, '+'),
        h('button', { class: 'icon', title: 'Browse channels', 'aria-label': 'Browse channels', onclick: () => void browse() }, '⌕'),
      ),
      channels,
      h(
        'div',
        { class: 'section' },
        h('h2', {}, 'Direct messages'),
        h('button', { class: 'icon', title: 'New direct message', 'aria-label': 'New direct message', onclick: newDm }, '+'),
      ),
      dms,
    ),
    panel,
    h(
      'footer',
      { class: 'me' },
      h('div', { class: 'me-line' }, user.el, ' ', status),
      h(
        'div',
        { class: 'me-actions' },
        user.enableButton,
        isAdmin ? h('button', { class: 'link', onclick: () => void invite() }, 'Invite people') : null,
        isAdmin ? h('a', { href: '/admin/queues', target: '_blank', rel: 'noopener', class: 'link' }, 'Queues (Bull Board)') : null,
        h('button', { class: 'link', onclick: () => void client.logout().finally(() => location.replace('/')) }, 'Log out'),
      ),
    ),
  );
}
