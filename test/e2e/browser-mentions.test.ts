// Mentions and notifications in the web chat, in a real Chromium (playwright-core) against the
// real server (in-process `all` role): @ autocomplete, the mention highlighted for the person
// named, the mention badge and its clearing on read, the Mentions view, per-chat notification
// settings, status and do-not-disturb, and a Web Push message shown by the service worker
// (delivered through the DevTools protocol: headless Chromium has no push service).
// Screenshots go to docs/screenshots/. Needs Debian's Chromium at /usr/bin/chromium; without
// it the suite is skipped, visibly.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { browserSuite, ensureWebBuilt, hasChromium, launchChromium, say, shot, signUp, watchPages } from '../helpers/browser.js';
import { createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';

// What page.evaluate callbacks touch in the page (this tsconfig has no DOM lib).
declare const navigator: {
  serviceWorker: EventTarget & { ready: Promise<{ scope: string; getNotifications(): Promise<Array<{ title: string; body: string; tag: string }>> }> };
};
declare const Notification: { permission: 'default' | 'granted' | 'denied' };
declare const MessageEvent: new (type: string, init: { data: unknown }) => Event;

let env: TestEnv;
let app: Running;
let browser: Browser;
let annContext: BrowserContext;
let bobContext: BrowserContext;
let ann: Page;
let bob: Page;
const pageErrors: string[] = [];

const chatItem = (page: Page, name: string) => page.locator('.chat-item', { has: page.locator('.chat-name', { hasText: new RegExp(`^${name}`) }) });

describe.skipIf(!hasChromium)(browserSuite('mentions and notifications in Chromium'), () => {
  beforeAll(async () => {
    await ensureWebBuilt();
    env = await createTestEnv();
    app = await startInProcess(env, 'all');
    browser = await launchChromium();
    annContext = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    bobContext = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    // Bob allows notifications up front: after sign-in the app registers the worker and tries to subscribe.
    await bobContext.grantPermissions(['notifications'], { origin: app.url });
    ann = await annContext.newPage();
    bob = await bobContext.newPage();
    watchPages({ ann, bob }, pageErrors);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await env?.close();
  });

  it('sets up two people in #general and #random', async () => {
    await ann.goto(app.url);
    await signUp(ann, 'Ann Lee', `ann-${Date.now()}@example.com`, 'ann');
    await ann.getByLabel('Create a workspace').fill('Acme');
    await ann.getByRole('button', { name: 'Create workspace' }).click();
    for (const channel of ['general', 'random']) {
      await ann.getByRole('button', { name: 'New channel' }).click();
      await ann.getByLabel('Channel name').fill(channel);
      await ann.getByRole('button', { name: 'Create', exact: true }).click();
      await ann.getByRole('heading', { name: `# ${channel}` }).waitFor();
    }
    await ann.getByRole('button', { name: 'Invite people' }).click();
    const link = await ann.getByLabel('Invitation link').inputValue();
    const token = /#\/invite\/(.+)$/.exec(link)![1];

    await bob.goto(`${app.url}/#/invite/${token}`);
    await bob.getByText('You are invited to join').waitFor();
    await signUp(bob, 'Bob Stone', `bob-${Date.now()}@example.com`, 'bob');
    await bob.getByRole('button', { name: 'Join Acme' }).click();
    for (const channel of ['general', 'random']) {
      await bob.getByRole('button', { name: 'Browse channels' }).click();
      await bob
        .locator('.browse li', { hasText: `# ${channel}` })
        .getByRole('button', { name: 'Join' })
        .click();
      await bob.getByRole('heading', { name: `# ${channel}` }).waitFor();
    }
    // Bob stays in #random; Ann goes to #general.
    await chatItem(ann, 'general').click();
    await ann.getByRole('heading', { name: '# general' }).waitFor();
  });

  it('autocompletes @ with the chat members and @channel / @here', async () => {
    const input = ann.getByLabel('Message', { exact: true });
    await input.fill('');
    await input.pressSequentially('Hi @b', { delay: 20 });
    const listbox = ann.getByRole('listbox', { name: 'People to mention' });
    await listbox.waitFor();
    const options = listbox.getByRole('option');
    await expect.poll(() => options.allTextContents()).toEqual([expect.stringContaining('@bob')]);
    expect(await options.first().textContent()).toContain('Bob Stone');
    expect(await input.getAttribute('aria-expanded')).toBe('true');
    expect(await input.getAttribute('aria-activedescendant')).toBe(await options.first().getAttribute('id'));
    expect(await options.first().getAttribute('aria-selected')).toBe('true');
    await shot(ann, 'mention-autocomplete');
    await input.press('Enter');
    await expect.poll(() => input.inputValue()).toBe('Hi @bob ');
    expect(await listbox.isHidden()).toBe(true);

    // @ alone lists everyone else plus @channel and @here; arrows move, Tab inserts.
    await input.fill('');
    await input.pressSequentially('@', { delay: 20 });
    await listbox.waitFor();
    await expect
      .poll(() => options.allTextContents())
      .toEqual([expect.stringContaining('@bob'), expect.stringContaining('@channel'), expect.stringContaining('@here')]);
    await input.press('ArrowDown');
    expect(await options.nth(1).getAttribute('aria-selected')).toBe('true');
    expect(await input.getAttribute('aria-activedescendant')).toBe(await options.nth(1).getAttribute('id'));
    await input.press('Tab');
    await expect.poll(() => input.inputValue()).toBe('@channel ');
    // A click works too.
    await input.fill('');
    await input.pressSequentially('ping @bo', { delay: 20 });
    await options.first().click();
    await expect.poll(() => input.inputValue()).toBe('ping @bob ');
    await input.fill('');
  });

  it('highlights the mention for Bob, shows a mention badge, and clears it when he reads the chat', async () => {
    const input = ann.getByLabel('Message', { exact: true });
    await input.pressSequentially('Hi @b', { delay: 20 });
    await ann.getByRole('option', { name: /@bob/ }).waitFor();
    await input.press('Enter');
    await input.pressSequentially('can you review the draft?', { delay: 5 });
    await input.press('Enter');
    const sent = ann.locator('.msg:not(.local) .content', { hasText: 'can you review the draft?' });
    await sent.waitFor();
    // Ann sees the handle marked as a mention, but not as her own.
    await sent.locator('.mention', { hasText: '@bob' }).waitFor();
    expect(await sent.locator('.mention.me').count()).toBe(0);

    // Bob, in #random, gets a mention badge on #general and on "Mentions".
    const badge = chatItem(bob, 'general').locator('.mention-badge');
    await expect.poll(async () => ((await badge.count()) ? badge.textContent() : null)).toBe('@1');
    expect(await chatItem(bob, 'general').locator('.badge:not(.mention-badge)').textContent()).toBe('1');
    expect(await bob.locator('.mentions-link .mention-badge').textContent()).toBe('1');
    await shot(bob, 'mention-badge');

    // The Mentions view lists it; a click opens the chat.
    await bob.locator('.mentions-link').click();
    const hit = bob.locator('.mentions-panel .mention-hit', { hasText: 'can you review the draft?' });
    await hit.waitFor();
    expect(await hit.textContent()).toContain('Ann Lee');
    expect(await hit.textContent()).toContain('general');
    await hit.locator('.mention.me', { hasText: '@bob' }).waitFor();
    await shot(bob, 'mentions');
    await hit.click();
    await bob.getByRole('heading', { name: '# general' }).waitFor();
    const received = bob.locator('.msg.mentions-me .content', { hasText: 'can you review the draft?' });
    await received.waitFor();
    expect(await received.locator('.mention.me').textContent()).toBe('@bob');
    expect(await received.textContent()).toBe('Hi @bob can you review the draft?');

    // Reading it clears the badges (and the server agrees after a reload).
    await expect.poll(() => chatItem(bob, 'general').locator('.mention-badge').count()).toBe(0);
    expect(await bob.locator('.mentions-link .mention-badge').count()).toBe(0);
    // Once the server has Bob's read mark (Ann sees it), a fresh load agrees.
    await ann.locator('.seen-by', { hasText: 'Seen by Bob Stone' }).waitFor();
    await chatItem(bob, 'random').click();
    await bob.reload();
    await bob.getByRole('heading', { name: '# random' }).waitFor();
    await chatItem(bob, 'general').waitFor();
    expect(await chatItem(bob, 'general').locator('.mention-badge').count()).toBe(0);
    expect(await bob.locator('.mentions-link .mention-badge').count()).toBe(0);
  });

  it('changes the notification level and mute of a chat', async () => {
    await chatItem(bob, 'general').click();
    await bob.getByRole('heading', { name: '# general' }).waitFor();
    await bob.getByRole('button', { name: 'Notification settings' }).click();
    const level = bob.getByLabel('Notify me about');
    await expect.poll(() => level.inputValue()).toBe('default');
    await bob.getByText('You are notified when someone mentions you.').waitFor();
    await level.selectOption('all');
    await bob.getByText('You are notified of every message.').waitFor();
    await bob.getByLabel('Mute this chat').check();
    await bob.getByText('You get no notifications from this chat.').waitFor();
    await chatItem(bob, 'general').locator('.muted-flag').waitFor();
    await shot(bob, 'notification-settings');
    // Saved on the server: a fresh load shows the same.
    await bob.reload();
    await bob.getByRole('heading', { name: '# general' }).waitFor();
    await chatItem(bob, 'general').locator('.muted-flag').waitFor();
    await bob.getByRole('button', { name: 'Notification settings' }).click();
    await expect.poll(() => bob.getByLabel('Notify me about').inputValue()).toBe('all');
    expect(await bob.getByLabel('Mute this chat').isChecked()).toBe(true);
    await bob.getByLabel('Mute this chat').uncheck();
    await bob.getByText('You are notified of every message.').waitFor();
    await bob.keyboard.press('Escape');
  });

  it('sets a status and do-not-disturb; Ann sees the status emoji next to Bob', async () => {
    await bob.getByRole('button', { name: 'User menu' }).click();
    await bob.getByLabel('Status emoji').fill('🌴');
    await bob.getByLabel('Status text').fill('On holiday');
    await bob.getByLabel('Clear status after').selectOption('today');
    await bob.getByRole('button', { name: 'Save status' }).click();
    await bob.getByText('Now: 🌴 On holiday').waitFor();
    await bob.getByRole('button', { name: 'Pause 1 hour' }).click();
    await bob.getByText(/Notifications paused until/).waitFor();
    await bob.locator('.user-button .dnd-flag').waitFor();
    await shot(bob, 'user-menu');
    await bob.getByRole('button', { name: 'Resume' }).click();
    await bob.getByText('Notifications are not paused.').waitFor();
    await bob.keyboard.press('Escape');

    // user.updated reaches Ann live: Bob's messages show his status emoji.
    await say(bob, 'back on Monday');
    const message = ann.locator('.msg', { has: ann.locator('.content', { hasText: 'back on Monday' }) });
    await message.waitFor();
    await expect.poll(() => message.locator('.status-emoji').textContent()).toContain('🌴');
  });

  it('shows a Web Push notification from the service worker', async () => {
    // The app registered /sw.js after sign-in (and tried to subscribe, which headless Chromium
    // cannot do without a push service: that must only show quietly).
    const scope = await bob.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    expect(scope).toBe(`${app.url}/`);
    const cdp = await bobContext.newCDPSession(bob);
    const registrations = new Map<string, { registrationId: string; scopeURL: string; isDeleted: boolean }>();
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }> }) => {
      for (const r of e.registrations) registrations.set(r.registrationId, r);
    });
    await cdp.send('ServiceWorker.enable');
    await expect.poll(() => [...registrations.values()].find((r) => r.scopeURL === `${app.url}/` && !r.isDeleted)?.registrationId ?? null).not.toBeNull();
    const registrationId = [...registrations.values()].find((r) => r.scopeURL === `${app.url}/` && !r.isDeleted)!.registrationId;
    const chatId = await chatItem(bob, 'general').getAttribute('data-chat-id');
    const payload = {
      title: 'Ann Lee in #general',
      body: 'Hi @bob can you review the draft?',
      chat_id: chatId,
      workspace_id: '1',
      message_id: 'm-1',
      url: `${app.url}/#/`,
    };
    const shown = () =>
      bob.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag }));
      });
    // A push delivered while the worker is still starting can be dropped (a busy machine):
    // deliver again until it shows; one tag, so a repeat replaces rather than adds.
    for (let attempt = 0; attempt < 10 && (await shown()).length === 0; attempt++) {
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: app.url, registrationId, data: JSON.stringify(payload) });
      await new Promise((r) => setTimeout(r, 1000));
    }
    await expect.poll(shown, { timeout: 10_000 }).toEqual([{ title: payload.title, body: payload.body, tag: 'message:m-1' }]);
    // A click on a notification makes the worker post {type: 'open', url} to an open tab,
    // which goes to the chat (the same message, posted here as the worker would).
    const wid = await bob.locator('.app').getAttribute('data-wid');
    const randomId = await chatItem(bob, 'random').getAttribute('data-chat-id');
    await bob.evaluate((url) => {
      navigator.serviceWorker.dispatchEvent(new MessageEvent('message', { data: { type: 'open', url } }));
    }, `${app.url}/#/w/${wid}/c/${randomId}`);
    await bob.getByRole('heading', { name: '# random' }).waitFor();
    expect(await bob.locator('.app').count()).toBe(1);

    // The failed subscription attempt left the app working and said so quietly.
    await bob.getByRole('button', { name: 'User menu' }).click();
    await expect.poll(() => bob.locator('.push-status').textContent()).toMatch(/\S/);
    await bob.keyboard.press('Escape');

    // Ann has not allowed notifications: the footer offers to. She allows them (granted here:
    // headless has no prompt to answer); subscribing then fails without a push service, which
    // must end in a quiet line, not a broken page.
    expect(await ann.evaluate(() => Notification.permission)).toBe('default');
    const enable = ann.locator('footer .enable-notifications');
    await enable.waitFor();
    await annContext.grantPermissions(['notifications'], { origin: app.url });
    await enable.click();
    await enable.waitFor({ state: 'hidden' });
    await ann.getByRole('button', { name: 'User menu' }).click();
    await expect.poll(() => ann.locator('.push-status').textContent()).toMatch(/blocked|could not|off/i);
    await ann.keyboard.press('Escape');
    await say(ann, 'still working');
    await ann.locator('.msg:not(.local) .content', { hasText: 'still working' }).waitFor();
    expect(pageErrors).toEqual([]);
  });
});
