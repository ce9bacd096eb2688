// Browser notifications: the service worker (web/public/sw.js) shows Web Push messages and
// opens the chat on click; here we register it and, when the user allows notifications,
// subscribe with the server's VAPID key and hand the subscription to the server. Everything
// is optional: an unsupported browser, a denied permission, no push service (offline, or a
// browser without one) or a server with push off only produce a quiet status line.
import { FechatterError } from '@fechatter/sdk';
import { client } from './session.js';

export type PushStatus = { state: 'unsupported' | 'ask' | 'denied' | 'on' | 'off'; text: string };

let registration: Promise<ServiceWorkerRegistration | null> | null = null;

function supported(): boolean {
  return 'serviceWorker' in navigator && 'Notification' in window && window.isSecureContext;
}

/** Registers /sw.js once per page (scope `/`); null when unsupported or refused. */
export function registerServiceWorker(): Promise<ServiceWorkerRegistration | null> {
  if (!registration) {
    registration =
      !('serviceWorker' in navigator) || !window.isSecureContext
        ? Promise.resolve(null)
        : navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err: Error) => {
            console.warn('fechatter: service worker not registered', err);
            return null;
          });
    // A click on a notification in an open tab: the worker asks us to go to the chat.
    navigator.serviceWorker?.addEventListener('message', (event: MessageEvent<{ type?: string; url?: string }>) => {
      if (event.data?.type !== 'open' || !event.data.url) return;
      const url = new URL(event.data.url, location.origin);
      if (url.origin !== location.origin) return;
      if (url.pathname === location.pathname) location.hash = url.hash;
      else location.assign(url.href);
    });
  }
  return registration;
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = (base64url + '='.repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function sameKey(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

/** Subscribes this browser (reusing a subscription made with the same key) and tells the server. */
async function subscribe(reg: ServiceWorkerRegistration): Promise<void> {
  const { public_key } = await client.api.vapidPublicKey();
  const key = keyBytes(public_key);
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub.options.applicationServerKey, key)) {
    // Made for another server key (the server's keys changed): it would never deliver.
    await sub.unsubscribe().catch(() => false);
    sub = null;
  }
  sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  const json = sub.toJSON() as { endpoint?: string; keys?: { p256dh?: string; auth?: string } };
  if (!json.endpoint || !json.keys?.p256dh || !json.keys.auth) throw new Error('the browser gave an incomplete subscription');
  await client.api.createPushSubscription({ endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } });
}

/**
 * After sign-in (`ask` false: only if already allowed) or on "Enable notifications" (`ask`
 * true: asks for permission). Never throws.
 */
export async function setupPush(ask: boolean): Promise<PushStatus> {
  try {
    if (!supported()) return { state: 'unsupported', text: 'This browser cannot show notifications here.' };
    const reg = await registerServiceWorker();
    if (!reg) return { state: 'unsupported', text: 'Notifications are unavailable (no service worker).' };
    let permission = Notification.permission;
    if (permission === 'default' && ask) permission = await Notification.requestPermission();
    if (permission === 'denied') return { state: 'denied', text: 'Notifications are blocked in this browser’s settings.' };
    if (permission !== 'granted') return { state: 'ask', text: '' };
    await navigator.serviceWorker.ready;
    await subscribe(reg);
    return { state: 'on', text: 'Notifications are on.' };
  } catch (err) {
    if (err instanceof FechatterError && err.status === 404) return { state: 'off', text: 'Push notifications are off on this server.' };
    console.warn('fechatter: push subscription failed', err);
    return { state: 'off', text: `Notifications could not be enabled (${(err as Error)?.message ?? err}).` };
  }
}
