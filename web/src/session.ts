// The one SDK client of the page: tokens in localStorage (so a reload keeps the session) and
// refreshes serialized across tabs with the Web Locks API (a refresh token is single use).
import { FechatterClient, type TokenStore, type Tokens } from '@fechatter/sdk';

const KEY = 'fechatter.tokens';

const tokenStore: TokenStore = {
  load() {
    try {
      const raw = localStorage.getItem(KEY);
      return raw ? (JSON.parse(raw) as Tokens) : null;
    } catch {
      return null;
    }
  },
  save(tokens) {
    if (tokens) localStorage.setItem(KEY, JSON.stringify(tokens));
    else localStorage.removeItem(KEY);
  },
};

const locks = (navigator as Navigator & { locks?: LockManager }).locks;

export const client = new FechatterClient({
  tokenStore,
  lock: locks ? <T>(name: string, fn: () => Promise<T>) => locks.request(name, fn) as unknown as Promise<T> : undefined,
});

// Back online, or back to a hidden tab: do not wait for the backoff timer.
window.addEventListener('online', () => client.live.reconnectNow());
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && client.live.status.state === 'reconnecting') client.live.reconnectNow();
});

if (localStorage.getItem('fechatter.debug')) {
  client.on('status', (s) => console.log('live', JSON.stringify(s)));
  client.on('event', (e) => console.log('event', e.type, e.id, e.type === 'typing' ? JSON.stringify(e) : ''));
  client.on('error', (e) => console.log('error', e.message));
}
