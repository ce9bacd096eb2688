// Sign up / log in, and the invitation preview shown to someone following an invite link.
import { FechatterError, type InvitationPreview } from '@fechatter/sdk';
import { h } from './dom.js';
import { client } from './session.js';

export function errorText(err: unknown): string {
  if (err instanceof FechatterError) {
    const details = (err.details as Array<{ path?: string; message?: string }>).map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).filter(Boolean);
    return details.length ? `${err.message} (${details.join('; ')})` : err.message;
  }
  return (err as Error)?.message ?? String(err);
}

export function authView(onDone: () => void, invitation?: InvitationPreview | null): HTMLElement {
  let mode: 'login' | 'signup' = invitation ? 'signup' : 'login';
  const error = h('p', { class: 'error', role: 'alert' });
  const name = h('input', { name: 'display_name', autocomplete: 'name', required: true, maxLength: 100, placeholder: 'Ann Lee' });
  const username = h('input', {
    name: 'username',
    autocomplete: 'username',
    maxLength: 32,
    pattern: '[a-z0-9](?:[a-z0-9_.\\-]{0,30}[a-z0-9])?',
    title: 'Lower case letters, digits and _ . - (how people @mention you)',
    placeholder: 'ann.lee (optional)',
  });
  const usernameRow = h('label', {}, 'Username', username);
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true, placeholder: 'you@example.com' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, minLength: 8 });
  const nameRow = h('label', {}, 'Display name', name);
  const submit = h('button', { type: 'submit', class: 'primary' });
  const toggle = h('button', { type: 'button', class: 'link' });

  const sync = () => {
    nameRow.hidden = mode === 'login';
    usernameRow.hidden = mode === 'login';
    name.required = mode === 'signup';
    password.autocomplete = mode === 'login' ? 'current-password' : 'new-password';
    submit.textContent = mode === 'login' ? 'Log in' : 'Create account';
    toggle.textContent = mode === 'login' ? 'New here? Create an account' : 'Have an account? Log in';
    heading.textContent = mode === 'login' ? 'Log in to Fechatter' : 'Create your Fechatter account';
    error.textContent = '';
  };
  toggle.addEventListener('click', () => {
    mode = mode === 'login' ? 'signup' : 'login';
    sync();
  });
  const heading = h('h1', {});
  const form = h(
    'form',
    {
      class: 'card auth',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault();
        submit.disabled = true;
        error.textContent = '';
        try {
          if (mode === 'login') await client.login({ email: email.value, password: password.value });
          else {
            const handle = username.value.trim().toLowerCase();
            await client.signup({ email: email.value, password: password.value, display_name: name.value.trim(), ...(handle ? { username: handle } : {}) });
          }
          onDone();
        } catch (err) {
          error.textContent = errorText(err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('div', { class: 'brand' }, 'Fechatter'),
    heading,
    invitation ? h('p', { class: 'invite-note' }, 'You are invited to join ', h('strong', {}, invitation.workspace.name), ` as ${invitation.role}.`) : null,
    nameRow,
    usernameRow,
    h('label', {}, 'Email', email),
    h('label', {}, 'Password', password),
    error,
    submit,
    toggle,
  );
  sync();
  return h('main', { class: 'center' }, form);
}

/** A logged-in user following an invite link. */
export function inviteView(token: string, preview: InvitationPreview | null, onJoined: (wid: string) => void, onCancel: () => void): HTMLElement {
  const error = h('p', { class: 'error', role: 'alert' });
  if (!preview) {
    return h(
      'main',
      { class: 'center' },
      h(
        'div',
        { class: 'card' },
        h('h1', {}, 'Invitation not valid'),
        h('p', {}, 'This link is unknown, expired, used up or revoked.'),
        h('button', { onclick: onCancel }, 'Continue'),
      ),
    );
  }
  const accept = h(
    'button',
    {
      class: 'primary',
      onclick: async () => {
        accept.disabled = true;
        try {
          const result = await client.api.acceptInvitation(token);
          onJoined(result.workspace.id);
        } catch (err) {
          error.textContent = errorText(err);
          accept.disabled = false;
        }
      },
    },
    `Join ${preview.workspace.name}`,
  );
  return h(
    'main',
    { class: 'center' },
    h(
      'div',
      { class: 'card' },
      h('h1', {}, 'Join ', preview.workspace.name),
      h('p', {}, `You are invited as ${preview.role}.`),
      error,
      accept,
      h('button', { class: 'link', onclick: onCancel }, 'Not now'),
    ),
  );
}

/** No workspace yet: create one (or paste an invitation link). */
export function firstWorkspaceView(onCreated: (wid: string) => void): HTMLElement {
  const error = h('p', { class: 'error', role: 'alert' });
  const name = h('input', { name: 'workspace', required: true, maxLength: 80, placeholder: 'Acme Inc.' });
  const link = h('input', { name: 'invite', placeholder: 'https://…/#/invite/…' });
  return h(
    'main',
    { class: 'center' },
    h(
      'div',
      { class: 'card' },
      h('h1', {}, 'Welcome, ', client.user?.display_name ?? ''),
      h(
        'form',
        {
          onsubmit: async (event: SubmitEvent) => {
            event.preventDefault();
            try {
              const ws = await client.api.createWorkspace(name.value.trim());
              onCreated(ws.id);
            } catch (err) {
              error.textContent = errorText(err);
            }
          },
        },
        h('label', {}, 'Create a workspace', name),
        h('button', { type: 'submit', class: 'primary' }, 'Create workspace'),
      ),
      h(
        'form',
        {
          onsubmit: (event: SubmitEvent) => {
            event.preventDefault();
            const match = /invite\/([^/?#\s]+)/.exec(link.value);
            if (match) location.hash = `#/invite/${match[1]}`;
            else error.textContent = 'That does not look like an invitation link.';
          },
        },
        h('label', {}, '…or join one with an invitation link', link),
        h('button', { type: 'submit' }, 'Open invitation'),
      ),
      error,
      h('button', { class: 'link', onclick: () => void client.logout().finally(() => location.reload()) }, 'Log out'),
    ),
  );
}
