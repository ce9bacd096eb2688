// `@` autocomplete for the composer: typing `@` and letters opens a listbox of the chat's
// members (username and display name) plus @channel and @here; arrow keys move, Enter or Tab
// (or a click) inserts `@username `, Escape closes. The textarea is an ARIA 1.2 editable
// combobox: aria-expanded, aria-controls and aria-activedescendant point at the listbox.
import { clear, h } from './dom.js';

export interface MentionOption {
  /** What gets inserted after `@`. */
  handle: string;
  label: string;
  hint?: string;
}

export interface Autocomplete {
  el: HTMLElement;
  /** Call first in the textarea's keydown; true when the key was used (do not submit). */
  keydown(event: KeyboardEvent): boolean;
  /** Re-reads the text before the caret (on input and caret moves). */
  update(): void;
  close(): void;
}

const LIMIT = 8;
// `@` at the start or after a space or opening bracket, then the handle typed so far.
const TRIGGER = /(?:^|[\s(])@([a-z0-9_.-]*)$/i;
let instances = 0;

export function mentionAutocomplete(input: HTMLTextAreaElement, candidates: () => Promise<MentionOption[]>): Autocomplete {
  const id = `mention-list-${++instances}`;
  const list = h('ul', { class: 'mention-list', role: 'listbox', id, 'aria-label': 'People to mention', hidden: true });
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', id);
  input.setAttribute('aria-expanded', 'false');
  let options: MentionOption[] = [];
  let active = 0;
  let start = -1; // index of the `@` being completed
  let run = 0;

  const close = () => {
    list.hidden = true;
    options = [];
    start = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };

  const render = () => {
    clear(list);
    options.forEach((o, i) => {
      list.appendChild(
        h(
          'li',
          {
            role: 'option',
            id: `${id}-${i}`,
            class: `mention-option${i === active ? ' active' : ''}`,
            'aria-selected': i === active ? 'true' : 'false',
            // Keep the focus (and the caret) in the textarea.
            onmousedown: (e: MouseEvent) => e.preventDefault(),
            onclick: () => choose(i),
          },
          h('strong', {}, `@${o.handle}`),
          ' ',
          h('span', { class: 'muted' }, o.label),
          o.hint ? h('span', { class: 'muted small' }, ` ${o.hint}`) : null,
        ),
      );
    });
    list.hidden = options.length === 0;
    input.setAttribute('aria-expanded', String(options.length > 0));
    if (options.length) {
      input.setAttribute('aria-activedescendant', `${id}-${active}`);
      list.children[active]?.scrollIntoView?.({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  };

  const choose = (i: number) => {
    const o = options[i];
    if (!o || start < 0) return;
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, start);
    const after = input.value.slice(caret).replace(/^\S*/, ''); // the rest of a handle being edited
    const inserted = `@${o.handle} `;
    input.value = before + inserted + after.replace(/^ /, '');
    const at = before.length + inserted.length;
    input.setSelectionRange(at, at);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
  };

  const update = async () => {
    const caret = input.selectionStart ?? 0;
    if (caret !== input.selectionEnd) return close();
    const match = TRIGGER.exec(input.value.slice(0, caret));
    if (!match) return close();
    const query = match[1].toLowerCase();
    const mine = ++run;
    const all = await candidates();
    if (mine !== run) return;
    start = caret - query.length - 1;
    const words = (s: string) => s.toLowerCase().split(/[\s_.-]+/);
    options = all
      .filter((o) => o.handle.startsWith(query) || words(o.label).some((w) => w.startsWith(query)))
      // Handles that start with what was typed first, then the rest, each alphabetically.
      .sort((a, b) => Number(!a.handle.startsWith(query)) - Number(!b.handle.startsWith(query)) || a.handle.localeCompare(b.handle))
      .slice(0, LIMIT);
    active = 0;
    render();
  };

  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('click', () => void update());
  input.addEventListener('keyup', (e) => {
    if (e.key === 'ArrowLeft' || e.key === 'ArrowRight' || e.key === 'Home' || e.key === 'End') void update();
  });

  return {
    el: list,
    update: () => void update(),
    close,
    keydown(event) {
      if (list.hidden || options.length === 0) return false;
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        active = (active + (event.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length;
        render();
      } else if ((event.key === 'Enter' && !event.shiftKey && !event.isComposing) || (event.key === 'Tab' && !event.shiftKey)) {
        choose(active);
      } else if (event.key === 'Escape') {
        close();
      } else return false;
      event.preventDefault();
      return true;
    },
  };
}
