// Keeps a list element in step with an array of messages without rebuilding it: a Map of key →
// element remembers what each row was built from (its signature); a sync rebuilds only rows
// whose signature changed, inserts new ones where they belong and removes the ones gone.
export interface Row {
  key: string;
  signature: string;
  build(): HTMLElement;
}

export class KeyedList {
  private readonly rows = new Map<string, { el: HTMLElement; signature: string }>();

  constructor(readonly el: HTMLElement) {}

  element(key: string): HTMLElement | undefined {
    return this.rows.get(key)?.el;
  }

  sync(wanted: Row[]): void {
    const keep = new Set<string>();
    let at: ChildNode | null = this.el.firstChild;
    for (const row of wanted) {
      keep.add(row.key);
      let entry = this.rows.get(row.key);
      if (!entry || entry.signature !== row.signature) {
        const el = row.build();
        el.dataset.key = row.key;
        if (entry) {
          const focusedAction = focusedKey(entry.el);
          entry.el.replaceWith(el);
          if (focusedAction) (el.querySelector(focusedAction) as HTMLElement | null)?.focus();
          if (at === entry.el) at = el;
        }
        entry = { el, signature: row.signature };
        this.rows.set(row.key, entry);
      }
      if (at !== entry.el) this.el.insertBefore(entry.el, at);
      else at = at.nextSibling;
      if (at === entry.el) at = entry.el.nextSibling;
    }
    for (const [key, entry] of this.rows) {
      if (!keep.has(key)) {
        entry.el.remove();
        this.rows.delete(key);
      }
    }
  }

  clear(): void {
    this.rows.clear();
    this.el.replaceChildren();
  }
}

/** A selector for the focused control inside a row, to focus its twin in the rebuilt row. */
function focusedKey(el: HTMLElement): string | null {
  const active = document.activeElement as HTMLElement | null;
  if (!active || !el.contains(active)) return null;
  if (active.dataset.action) return `[data-action="${active.dataset.action}"]`;
  if (active.dataset.emoji) return `[data-emoji="${CSS.escape(active.dataset.emoji)}"]`;
  if (active.classList.contains('replies')) return '.replies';
  if (active.classList.contains('edited')) return '.edited';
  return null;
}
