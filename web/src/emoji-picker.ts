// A small reaction picker: a dialog of common emoji, opened from a message's toolbar. Arrow
// keys move between them, Enter picks, Escape closes; focus returns to the button that opened it.
import { h } from './dom.js';

export const EMOJI: Array<[string, string]> = [
  ['👍', 'thumbs up'],
  ['❤️', 'red heart'],
  ['😂', 'face with tears of joy'],
  ['🎉', 'party popper'],
  ['😮', 'face with open mouth'],
  ['😢', 'crying face'],
  ['🙏', 'folded hands'],
  ['👀', 'eyes'],
  ['🔥', 'fire'],
  ['✅', 'check mark'],
  ['🚀', 'rocket'],
  ['👎', 'thumbs down'],
];
const COLUMNS = 6;

export interface EmojiPicker {
  el: HTMLElement;
  open(anchor: HTMLElement, onPick: (emoji: string) => void): void;
  close(): void;
}

export function emojiPicker(): EmojiPicker {
  let pick: ((emoji: string) => void) | null = null;
  let opener: HTMLElement | null = null;
  const buttons = EMOJI.map(([emoji, name]) =>
    h('button', { type: 'button', class: 'emoji-choice', 'aria-label': name, title: name, tabIndex: -1, onclick: () => choose(emoji) }, emoji),
  );
  const el = h(
    'div',
    { class: 'popover emoji-picker', role: 'dialog', 'aria-label': 'Choose a reaction', hidden: true },
    h('div', { class: 'emoji-grid', role: 'group', 'aria-label': 'Emoji' }, ...buttons),
  );
  const choose = (emoji: string) => {
    const fn = pick;
    close();
    fn?.(emoji);
  };
  const close = () => {
    if (el.hidden) return;
    el.hidden = true;
    pick = null;
    const back = opener;
    opener = null;
    if (back?.isConnected) back.focus();
  };
  el.addEventListener('keydown', (event) => {
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS, Home: -i, End: buttons.length - 1 - i }[event.key];
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === 'Tab') {
      // A dialog: focus stays inside until it is closed.
      event.preventDefault();
    } else if (move !== undefined && i >= 0) {
      event.preventDefault();
      const next = buttons[Math.min(buttons.length - 1, Math.max(0, i + move))];
      focusOnly(next);
    }
  });
  const focusOnly = (b: HTMLButtonElement) => {
    for (const x of buttons) x.tabIndex = x === b ? 0 : -1;
    b.focus();
  };
  document.addEventListener('mousedown', (event) => {
    if (!el.hidden && !el.contains(event.target as Node) && event.target !== opener) close();
  });
  return {
    el,
    open(anchor, onPick) {
      pick = onPick;
      opener = anchor;
      el.hidden = false;
      // Placed by the anchor, inside the viewport.
      const r = anchor.getBoundingClientRect();
      const width = el.offsetWidth || 260;
      el.style.position = 'fixed';
      el.style.left = `${Math.max(8, Math.min(window.innerWidth - width - 8, r.right - width))}px`;
      const below = r.bottom + 6;
      el.style.top = `${below + el.offsetHeight > window.innerHeight ? Math.max(8, r.top - el.offsetHeight - 6) : below}px`;
      focusOnly(buttons[0]);
    },
    close,
  };
}
