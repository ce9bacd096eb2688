// Fechatter's service worker: shows Web Push notifications and opens the chat when one is
// clicked. The push payload is JSON {title, body, chat_id, workspace_id, message_id, url}
// (see API.md, "Notifications"). No caching: the app is online-only.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data;
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : '' };
  }
  const title = typeof data.title === 'string' && data.title ? data.title : 'Fechatter';
  event.waitUntil(
    self.registration.showNotification(title, {
      body: typeof data.body === 'string' ? data.body : '',
      // One notification per message: a repeated push replaces it instead of stacking.
      tag: data.message_id ? `message:${data.message_id}` : undefined,
      data: { url: data.url || '/', chat_id: data.chat_id ?? null, workspace_id: data.workspace_id ?? null, message_id: data.message_id ?? null },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || '/', self.location.origin);
  // Always this site (never another one from a payload), even when PUBLIC_URL names another
  // host for the same server: keep only the path and the chat's hash.
  const url = self.location.origin + target.pathname + target.search + target.hash;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((c) => new URL(c.url).origin === self.location.origin);
      if (open) {
        // The page routes by hash itself (no reload when only the chat changes).
        open.postMessage({ type: 'open', url });
        await open.focus();
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});
