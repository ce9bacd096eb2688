// A tiny typed event emitter (no Node `events` import, so the SDK runs in browsers as is).

type Listener = (...args: any[]) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  private listeners = new Map<keyof Events, Set<Listener>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: (...args: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as unknown as Listener);
    return () => this.off(type, listener);
  }

  off<K extends keyof Events>(type: K, listener: (...args: Events[K]) => void): void {
    this.listeners.get(type)?.delete(listener as unknown as Listener);
  }

  /** Resolves with the first emission that passes `filter`. */
  once<K extends keyof Events>(type: K, filter: (...args: Events[K]) => boolean = () => true): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(type, (...args) => {
        if (!filter(...args)) return;
        off();
        resolve(args);
      });
    });
  }

  protected emit<K extends keyof Events>(type: K, ...args: Events[K]): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      try {
        (listener as unknown as (...a: Events[K]) => void)(...args);
      } catch (err) {
        // A throwing listener must not break delivery to the others (or the SDK's own state).
        console.error('fechatter: an event listener failed', err);
      }
    }
  }
}
