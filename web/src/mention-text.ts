// Message text with its mentions marked up: `@username` becomes a `.mention` span when the
// server listed that user in message.mentions (`.mention.me` when it is me), `@channel`,
// `@all`, `@everyone` and `@here` when the server kept them. Like the server, code spans and
// blocks and e-mail addresses are left alone. Text only: nothing is parsed as HTML.
import type { Message } from '@fechatter/sdk';
import { h } from './dom.js';

const CODE = /(```[\s\S]*?```|`[^`\n]*`)/;
// The character before `@` must not be part of a word or address (x@y is an e-mail address).
const HANDLE = /(^|[^A-Za-z0-9_.+-])@([A-Za-z0-9](?:[A-Za-z0-9_.-]{0,30}[A-Za-z0-9])?)/g;
const CHANNEL = new Set(['channel', 'all', 'everyone']);

export function renderContent(m: Message, me: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  const users = new Map<string, string>();
  let channel = false;
  let here = false;
  for (const x of m.mentions ?? []) {
    if (x.type === 'user') users.set(x.username.toLowerCase(), x.user_id);
    else if (x.type === 'channel') channel = true;
    else here = true;
  }
  if (users.size === 0 && !channel && !here) {
    fragment.appendChild(document.createTextNode(m.content));
    return fragment;
  }
  m.content.split(CODE).forEach((part, i) => {
    if (i % 2 === 1) return void fragment.appendChild(document.createTextNode(part));
    let last = 0;
    for (const match of part.matchAll(HANDLE)) {
      const name = match[2].toLowerCase();
      const userId = users.get(name);
      const broadcast = (CHANNEL.has(name) && channel) || (name === 'here' && here);
      if (!userId && !broadcast) continue;
      const at = match.index + match[1].length;
      if (at > last) fragment.appendChild(document.createTextNode(part.slice(last, at)));
      const text = `@${match[2]}`;
      fragment.appendChild(
        userId ? h('span', { class: `mention${userId === me ? ' me' : ''}`, 'data-user-id': userId }, text) : h('span', { class: 'mention broadcast' }, text),
      );
      last = at + text.length;
    }
    if (last < part.length) fragment.appendChild(document.createTextNode(part.slice(last)));
  });
  return fragment;
}

/**
 * The message as the server rendered it (`rendered`: Markdown turned into HTML and sanitized by
 * the server against a short allow-list of tags) with its mentions marked up in the text nodes,
 * outside code and links. `rendered` is the only server field ever parsed as HTML; without it
 * (older messages) the plain text is shown.
 */
export function renderRich(m: Message, me: string): DocumentFragment {
  if (!m.rendered) return renderContent(m, me);
  const template = document.createElement('template');
  // The server's sanitized output (src/domain/markdown.ts); see the comment above.
  template.innerHTML = m.rendered;
  const fragment = template.content;
  // Links open outside the app and give the target no handle on this page.
  for (const a of fragment.querySelectorAll('a')) {
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
  }
  const plain = { ...m };
  const walker = document.createTreeWalker(fragment, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement?.closest('code, pre, a') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const texts: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) texts.push(n as Text);
  for (const text of texts) {
    if (!text.data.includes('@')) continue;
    const marked = renderContent({ ...plain, content: text.data }, me);
    if (marked.childNodes.length > 1 || marked.firstChild?.nodeType !== Node.TEXT_NODE) text.replaceWith(marked);
  }
  return fragment;
}
