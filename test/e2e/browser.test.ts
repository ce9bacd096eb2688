// The web chat (web/) in a real Chromium driven by playwright-core, against the real server
// (in-process `all` role): two people chatting live, typing, receipts, reload, a dropped
// connection, HTML kept as text, search. Screenshots of the main screens go to docs/screenshots/.
// Needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium); without it the
// suite is skipped, visibly.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { browserSuite, ensureWebBuilt, hasChromium, launchChromium, say, shot, signUp } from '../helpers/browser.js';
import { createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';
import { flakyProxy, type FlakyProxy } from '../helpers/flaky-proxy.js';

let env: TestEnv;
let app: Running;
let proxy: FlakyProxy;
let browser: Browser;
let ann: Page;
let bob: Page;
const dialogs: string[] = [];

const contents = (page: Page) => page.locator('.messages .msg:not(.local) .content').allTextContents();

describe.skipIf(!hasChromium)(browserSuite('web chat in Chromium'), () => {
  beforeAll(async () => {
    await ensureWebBuilt();
    env = await createTestEnv();
    app = await startInProcess(env, 'all');
    proxy = await flakyProxy(app.url);
    browser = await launchChromium();
    const annContext = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    const bobContext = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    if (process.env.E2E_DEBUG) for (const c of [annContext, bobContext]) await c.addInitScript("localStorage.setItem('fechatter.debug', '1')");
    ann = await annContext.newPage();
    bob = await bobContext.newPage();
    for (const page of [ann, bob]) {
      page.setDefaultTimeout(10_000);
      if (process.env.E2E_DEBUG) page.on('console', (m) => console.log(page === ann ? 'ann' : 'bob', m.type(), m.text()));
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await app?.stop();
    await env?.close();
  });

  it('two people sign up, meet through an invitation link and chat in real time', async () => {
    await ann.goto(app.url);
    await ann.getByRole('heading', { name: 'Log in to Fechatter' }).waitFor();
    await shot(ann, 'login');
    await signUp(ann, 'Ann Lee', `ann-${Date.now()}@example.com`);
    await ann.getByLabel('Create a workspace').fill('Acme');
    await ann.getByRole('button', { name: 'Create workspace' }).click();
    await ann.getByRole('button', { name: 'New channel' }).click();
    await ann.getByLabel('Channel name').fill('general');
    await ann.getByRole('button', { name: 'Create', exact: true }).click();
    await ann.getByRole('heading', { name: '# general' }).waitFor();

    await ann.getByRole('button', { name: 'Invite people' }).click();
    const link = await ann.getByLabel('Invitation link').inputValue();
    const token = /#\/invite\/(.+)$/.exec(link)![1];

    // Bob comes in through the flaky proxy, so his network can be cut later.
    await bob.goto(`${proxy.url}/#/invite/${token}`);
    await bob.getByText('You are invited to join').waitFor();
    await signUp(bob, 'Bob Stone', `bob-${Date.now()}@example.com`);
    await bob.getByRole('button', { name: 'Join Acme' }).click();
    await bob.getByRole('button', { name: 'Browse channels' }).click();
    await bob.getByRole('button', { name: 'Join' }).click();
    await bob.getByRole('heading', { name: '# general' }).waitFor();

    await say(ann, 'Hi Bob, welcome aboard!');
    await bob.locator('.msg .content', { hasText: 'Hi Bob, welcome aboard!' }).waitFor();
    await say(bob, 'Thanks Ann 👋');
    await ann.locator('.msg .content', { hasText: 'Thanks Ann 👋' }).waitFor();
    await expect.poll(() => contents(ann)).toEqual(['Hi Bob, welcome aboard!', 'Thanks Ann 👋']);
    expect(await bob.locator('.conn').textContent()).toMatch(/live \((ws|sse)\)/);
  });

  it('shows typing and "seen by"', async () => {
    await bob.getByLabel('Message', { exact: true }).pressSequentially('I am wri', { delay: 20 });
    await ann.getByText('Bob Stone is typing…').waitFor();
    await bob.getByLabel('Message', { exact: true }).fill('');
    await say(ann, 'Did you see this?');
    await bob.locator('.msg .content', { hasText: 'Did you see this?' }).waitFor();
    await ann.locator('.seen-by', { hasText: 'Seen by Bob Stone' }).waitFor();
    await shot(ann, 'chat');
  });

  it('keeps the session and the history across a reload', async () => {
    await bob.reload();
    await bob.getByRole('heading', { name: '# general' }).waitFor();
    await expect.poll(() => contents(bob)).toEqual(['Hi Bob, welcome aboard!', 'Thanks Ann 👋', 'Did you see this?']);
  });

  it('recovers from a dropped connection with no missing or repeated messages', async () => {
    proxy.drop({ down: true });
    await bob.getByText('Connection lost. Reconnecting…').waitFor();
    await shot(bob, 'reconnecting');
    for (const text of ['while you were away 1', 'while you were away 2', 'while you were away 3']) await say(ann, text);
    await ann.locator('.msg:not(.local) .content', { hasText: 'while you were away 3' }).waitFor();
    proxy.up();
    await bob.locator('.msg .content', { hasText: 'while you were away 3' }).waitFor({ timeout: 20_000 });
    await say(ann, 'and now live again');
    await bob.locator('.msg .content', { hasText: 'and now live again' }).waitFor();
    expect(await contents(bob)).toEqual([
      'Hi Bob, welcome aboard!',
      'Thanks Ann 👋',
      'Did you see this?',
      'while you were away 1',
      'while you were away 2',
      'while you were away 3',
      'and now live again',
    ]);
    expect(await bob.locator('.banner').isHidden()).toBe(true);
  });

  it('shows a message containing HTML as text', async () => {
    const evil = '<img src=x onerror="alert(1)"><b>bold</b> & <script>alert(2)</script>';
    await say(ann, evil);
    const received = bob.locator('.msg .content', { hasText: '<b>bold</b>' });
    await received.waitFor();
    expect(await received.textContent()).toBe(evil);
    expect(await bob.locator('.messages b, .messages img, .messages script').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('finds messages with highlighted matches, and counts unread direct messages', async () => {
    await say(bob, 'The pineapple pizza debate continues');
    await ann.locator('.msg .content', { hasText: 'pineapple pizza' }).waitFor();
    await ann.getByLabel('Search messages').fill('pineapple');
    await ann.getByLabel('Search messages').press('Enter');
    const mark = ann.locator('.search-panel mark');
    await mark.first().waitFor();
    expect(await mark.first().textContent()).toMatch(/pineapple/i);
    expect(await ann.locator('.search-panel .hit .content').first().textContent()).toBe('The pineapple pizza debate continues');
    await shot(ann, 'search');
    await ann.getByRole('button', { name: 'Close search' }).click();

    // Ann starts a direct message; Bob, in #general, sees an unread badge on it.
    await ann.getByRole('button', { name: 'New direct message' }).click();
    await ann.getByRole('button', { name: 'Message', exact: true }).click();
    await ann.getByRole('heading', { name: 'Bob Stone' }).waitFor();
    await say(ann, 'psst, a private word');
    await say(ann, 'and another');
    const badge = bob.locator('.chat-item .badge');
    await expect.poll(async () => ((await badge.count()) ? badge.first().textContent() : null), { timeout: 10_000 }).toBe('2');
    await shot(bob, 'unread');
  });

  it('creates a channel from the sidebar and opens it', async () => {
    await ann.getByRole('button', { name: 'New channel' }).click();
    await ann.getByLabel('Channel name').fill('design-review');
    await ann.getByRole('button', { name: 'Create', exact: true }).click();
    await ann.getByRole('heading', { name: /design-review/ }).waitFor();
    expect(await ann.locator('.chat-item', { hasText: 'design-review' }).count()).toBe(1);
  });

  it('is usable on a narrow screen', async () => {
    await bob.setViewportSize({ width: 390, height: 760 });
    await bob.getByRole('button', { name: 'Open navigation' }).click();
    await bob.locator('.chat-item', { hasText: 'Ann Lee' }).click();
    await bob.locator('.msg .content', { hasText: 'and another' }).waitFor();
    await shot(bob, 'narrow');
    await expect.poll(async () => bob.locator('.chat-item .badge').count()).toBe(0);
  });
});
