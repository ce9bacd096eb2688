// Boot and routing (by location.hash): #/invite/<token>, #/w/<wid>[/c/<cid>], #/new.
import type { InvitationPreview } from '@fechatter/sdk';
import { workspaceApp } from './app.js';
import { authView, firstWorkspaceView, inviteView } from './auth-view.js';
import { clear, h } from './dom.js';
import { client } from './session.js';
import './style.css';

const root = document.getElementById('app')!;

function mount(el: HTMLElement): void {
  clear(root);
  root.appendChild(el);
  (el.querySelector('[autofocus], input:not([type=hidden]), textarea, button.primary') as HTMLElement | null)?.focus();
}

async function preview(token: string): Promise<InvitationPreview | null> {
  try {
    return await client.api.previewInvitation(token);
  } catch {
    return null;
  }
}

let routing = 0;

async function route(): Promise<void> {
  const run = ++routing;
  const hash = location.hash.replace(/^#\/?/, '');
  const invite = /^invite\/([^/]+)/.exec(hash);
  const user = client.user ?? (await client.restore());
  if (run !== routing) return;

  if (!user) {
    const inv = invite ? await preview(invite[1]) : null;
    return mount(authView(() => void route(), inv));
  }
  client.connect();
  if (invite) {
    const inv = await preview(invite[1]);
    return mount(
      inviteView(
        invite[1],
        inv,
        (wid) => (location.hash = `#/w/${wid}`),
        () => (location.hash = '#/'),
      ),
    );
  }
  const me = await client.api.me();
  if (run !== routing) return;
  if (hash === 'new' || me.workspaces.length === 0) {
    return mount(firstWorkspaceView((wid) => (location.hash = `#/w/${wid}`)));
  }
  const match = /^w\/([^/]+)(?:\/c\/([^/]+))?/.exec(hash);
  const wid = match && me.workspaces.some((w) => w.id === match[1]) ? match[1] : me.workspaces[0].id;
  const app = await workspaceApp(me, wid, match?.[2] ?? null);
  if (run !== routing) return;
  mount(app);
}

// A workspace switch rebuilds the page from scratch; a chat switch inside one does not.
// (A notification click sets the hash to a chat: the open workspace switches to it itself.)
window.addEventListener('hashchange', () => {
  const chat = /^#\/w\/([^/]+)\/c\//.exec(location.hash);
  if (chat && root.querySelector<HTMLElement>('.app')?.dataset.wid === chat[1]) return;
  location.reload();
});
client.on('session', (user) => {
  if (user === null) location.reload();
});

route().catch((err: Error) =>
  mount(
    h(
      'main',
      { class: 'center' },
      h(
        'div',
        { class: 'card' },
        h('h1', {}, 'Something went wrong'),
        h('p', { class: 'error' }, err.message),
        h('button', { onclick: () => location.reload() }, 'Reload'),
      ),
    ),
  ),
);
