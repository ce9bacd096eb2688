// Rich conversations in the web chat, in a real Chromium (playwright-core) against the real
// server (in-process `all` role): Markdown rendered safely, files by the attach button and by
// drag and drop (thumbnails fetched with the token), a too-large file refused inline,
// reactions live, threads in a side panel, pins, saved messages, editing with its history,
// deletion, the list patched rather than rebuilt, and axe-core finding nothing serious or
// critical on the sign-in screen, the chat and the open thread. Screenshots go to
// docs/screenshots/. Needs Debian's Chromium at /usr/bin/chromium; without it the suite is
// skipped, visibly.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { packageRoot } from '../../src/version.js';
import { browserSuite, ensureWebBuilt, hasChromium, launchChromium, say, shot, signUp, watchPages } from '../helpers/browser.js';
import { createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';

// What page.evaluate callbacks touch in the page (this tsconfig has no DOM lib).
declare const document: any;
declare const DataTransfer: any;
declare const DragEvent: any;
declare const File: any;
declare const axe: {
  run(
    context?: unknown,
    options?: unknown,
  ): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[]; failureSummary?: string }> }> }>;
};

const AXE = path.join(packageRoot, 'node_modules', 'axe-core', 'axe.min.js');
const UPLOAD_MAX = 200_000;

let env: TestEnv;
let app: Running;
let browser: Browser;
let ann: Page;
let bob: Page;
const pageErrors: string[] = [];

/** A stored message of the main list, by its text. */
const message = (page: Page, text: string) => page.locator('.messages .msg:not(.local)', { has: page.locator('.content', { hasText: text }) });

/** Shows a message's toolbar (hover) and clicks one of its actions. */
async function act(page: Page, text: string, action: string) {
  const m = message(page, text);
  await m.hover();
  await m.getByRole('button', { name: action, exact: true }).click();
}

/** axe-core in the page: the serious and critical violations, readable in a failure. */
async function axeProblems(page: Page): Promise<string[]> {
  // Not page.addScriptTag: the app's CSP (script-src 'self') rightly refuses an inline script.
  // Evaluating through the DevTools protocol is not subject to it.
  if (!(await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe !== 'undefined'))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const { violations } = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => `${JSON.stringify(n.target)} ${n.failureSummary ?? ''}`).join(' | ')}`);
}

describe.skipIf(!hasChromium)(browserSuite('conversations in Chromium'), () => {
  beforeAll(async () => {
    await ensureWebBuilt();
    // A small quota, so the test stays far from the disk's limits.
    env = await createTestEnv({ UPLOAD_MAX_BYTES: String(UPLOAD_MAX), WORKSPACE_STORAGE_QUOTA_BYTES: String(50 << 20) });
    app = await startInProcess(env, 'all');
    browser = await launchChromium();
    ann = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    bob = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    watchPages({ ann, bob }, pageErrors);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await env?.close();
  });

  it('has no serious accessibility problems on the sign-in screen; sets up two people in #general', async () => {
    await ann.goto(app.url);
    await ann.getByRole('heading', { name: 'Log in to Fechatter' }).waitFor();
    expect(await axeProblems(ann)).toEqual([]);
    await signUp(ann, 'Ann Lee', `ann-${Date.now()}@example.com`, 'ann');
    await ann.getByLabel('Create a workspace').fill('Acme');
    await ann.getByRole('button', { name: 'Create workspace' }).click();
    await ann.getByRole('button', { name: 'New channel' }).click();
    await ann.getByLabel('Channel name').fill('general');
    await ann.getByRole('button', { name: 'Create', exact: true }).click();
    await ann.getByRole('heading', { name: '# general' }).waitFor();
    await ann.getByRole('button', { name: 'Invite people' }).click();
    const token = /#\/invite\/(.+)$/.exec(await ann.getByLabel('Invitation link').inputValue())![1];
    await bob.goto(`${app.url}/#/invite/${token}`);
    await bob.getByText('You are invited to join').waitFor();
    await signUp(bob, 'Bob Stone', `bob-${Date.now()}@example.com`, 'bob');
    await bob.getByRole('button', { name: 'Join Acme' }).click();
    await bob.getByRole('button', { name: 'Browse channels' }).click();
    await bob.getByRole('button', { name: 'Join' }).click();
    await bob.getByRole('heading', { name: '# general' }).waitFor();
  });

  it('renders Markdown (bold, code) and shows a <script> as text; patches the list instead of rebuilding it', async () => {
    await say(ann, 'Ship it **today** with `npm run build` <script>window.pwned = 1</script>');
    const m = message(bob, 'Ship it');
    await m.waitFor();
    expect(await m.locator('.content strong').textContent()).toBe('today');
    expect(await m.locator('.content code').textContent()).toBe('npm run build');
    expect(await m.locator('.content').textContent()).toContain('<script>window.pwned = 1</script>');
    expect(await bob.locator('.messages script').count()).toBe(0);
    expect(await bob.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();

    // The element stays the same node when other messages arrive (the list is patched).
    await m.evaluate((el: any) => (el.dataset.marker = 'kept'));
    await say(ann, 'Hello @bob, a second message');
    await message(bob, 'a second message').waitFor();
    expect(await message(bob, 'a second message').locator('.mention.me').textContent()).toBe('@bob');
    expect(await message(bob, 'Ship it').getAttribute('data-marker')).toBe('kept');
  });

  it('uploads a file with the attach button and an image by drag and drop; Bob sees the link and the thumbnail', async () => {
    const chooser = ann.waitForEvent('filechooser');
    await ann.getByRole('button', { name: 'Attach files' }).click();
    await (await chooser).setFiles({ name: 'spec.txt', mimeType: 'text/plain', buffer: Buffer.from('The spec, version 1.\n') });
    await ann.locator('.upload', { hasText: 'spec.txt' }).locator('.upload-state', { hasText: 'ready' }).waitFor();

    // An image dropped onto the conversation (a PNG drawn in the page).
    await ann.evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 480;
      canvas.height = 270;
      const g = canvas.getContext('2d');
      g.fillStyle = '#3b6fe0';
      g.fillRect(0, 0, 480, 270);
      g.fillStyle = '#f5b400';
      g.fillRect(60, 60, 160, 120);
      const blob: unknown = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
      const transfer = new DataTransfer();
      transfer.items.add(new File([blob], 'sketch.png', { type: 'image/png' }));
      const pane = document.querySelector('.pane');
      pane.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      pane.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    await ann.locator('.upload', { hasText: 'sketch.png' }).locator('.upload-state', { hasText: 'ready' }).waitFor();

    // A file over the limit is refused inline (413) and does not block the others.
    const tooBig = ann.waitForEvent('filechooser');
    await ann.getByRole('button', { name: 'Attach files' }).click();
    await (await tooBig).setFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(UPLOAD_MAX + 1000, 7) });
    const refused = ann.locator('.upload.failed', { hasText: 'huge.bin' });
    await refused.waitFor();
    // The server's 413 answer, not a broken connection.
    expect(await refused.getByRole('alert').textContent()).toMatch(/not uploaded: The request body is larger than 200000 bytes/);
    await say(ann, 'Spec and a sketch');
    await ann.getByRole('button', { name: 'Remove huge.bin' }).click();
    await ann.locator('.upload-tray').waitFor({ state: 'hidden' });

    const sent = message(bob, 'Spec and a sketch');
    await sent.waitFor();
    const link = sent.locator('.attachment.file .file-link');
    expect(await link.textContent()).toMatch(/^spec\.txt \(/);
    const thumb = sent.locator('.attachment.image img.thumb');
    await expect.poll(() => thumb.evaluate((img: any) => (img.complete && img.src.startsWith('data:image/') ? img.naturalWidth : 0))).toBeGreaterThan(0);
    expect(await thumb.getAttribute('alt')).toBe('sketch.png');
    // The download goes through the token as well, under the file's name.
    const download = bob.waitForEvent('download');
    await link.click();
    expect((await download).suggestedFilename()).toBe('spec.txt');
    await sent.scrollIntoViewIfNeeded();
    await shot(bob, 'attachments');
  });

  it('reacts from the picker (mouse and keyboard); the counts update live for the other person', async () => {
    await act(bob, 'Ship it', 'Add reaction');
    const picker = bob.getByRole('dialog', { name: 'Choose a reaction' });
    await picker.waitFor();
    await picker.getByRole('button', { name: 'thumbs up' }).click();
    await picker.waitFor({ state: 'hidden' });

    const annThumbs = message(ann, 'Ship it').locator('.reaction[data-emoji="👍"]');
    await expect.poll(async () => ((await annThumbs.count()) ? annThumbs.locator('.count').textContent() : null)).toBe('1');
    expect(await annThumbs.getAttribute('aria-pressed')).toBe('false');
    expect(await message(bob, 'Ship it').locator('.reaction[data-emoji="👍"]').getAttribute('aria-pressed')).toBe('true');
    // Ann adds hers by clicking the reaction: Bob sees 2.
    await annThumbs.click();
    await expect.poll(() => message(bob, 'Ship it').locator('.reaction[data-emoji="👍"] .count').textContent()).toBe('2');
    await expect.poll(() => annThumbs.getAttribute('aria-pressed')).toBe('true');

    // Keyboard: focus the action, open with Enter, arrow to the heart, Enter; focus comes back.
    const m = message(ann, 'a second message');
    await m.hover();
    const react = m.getByRole('button', { name: 'Add reaction' });
    await react.focus();
    await ann.keyboard.press('Enter');
    const annPicker = ann.getByRole('dialog', { name: 'Choose a reaction' });
    await annPicker.waitFor();
    expect(await ann.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('thumbs up');
    await ann.keyboard.press('ArrowRight');
    await ann.keyboard.press('Enter');
    await annPicker.waitFor({ state: 'hidden' });
    await message(bob, 'a second message').locator('.reaction[data-emoji="❤️"]').waitFor();
    expect(await ann.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Add reaction');
    await message(bob, 'Ship it').scrollIntoViewIfNeeded();
    await message(bob, 'Ship it').hover();
    await shot(bob, 'reactions');
    expect(await axeProblems(bob)).toEqual([]);
  });

  it('opens a thread, replies in it; the root shows "1 reply" for the other person, who reads it in the panel', async () => {
    await act(ann, 'a second message', 'Reply in thread');
    const panel = ann.getByRole('complementary', { name: 'Thread' });
    await panel.waitFor();
    const reply = ann.getByLabel('Thread reply');
    await expect.poll(() => ann.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Thread reply');
    await reply.fill('Replying in the **thread**');
    await reply.press('Enter');
    await panel.locator('.thread-messages .msg:not(.local) .content strong', { hasText: 'thread' }).waitFor();
    expect(await panel.getByRole('button', { name: 'Unfollow thread' }).getAttribute('aria-pressed')).toBe('true');

    const replies = message(bob, 'a second message').getByRole('button', { name: /^1 reply/ });
    await replies.waitFor();
    // Replies stay out of the main timeline.
    expect(await bob.locator('.messages .msg', { hasText: 'Replying in the' }).count()).toBe(0);
    await replies.click();
    const bobPanel = bob.getByRole('complementary', { name: 'Thread' });
    await bobPanel.locator('.thread-messages .msg', { hasText: 'Replying in the thread' }).waitFor();
    await bobPanel.locator('.thread-root .msg', { hasText: 'a second message' }).waitFor();
    await expect.poll(() => bobPanel.locator('.reply-count').textContent()).toBe('1 reply');
    // Bob replies too: Ann's root now says 2 replies, live.
    await bob.getByLabel('Thread reply').fill('Got it');
    await bob.getByLabel('Thread reply').press('Enter');
    await message(ann, 'a second message')
      .getByRole('button', { name: /^2 replies/ })
      .waitFor();
    await panel.locator('.thread-messages .msg', { hasText: 'Got it' }).waitFor();
    // Replying made Bob follow it (the panel reads his state again after his reply).
    await bobPanel.getByRole('button', { name: 'Unfollow thread' }).waitFor();
    await shot(bob, 'thread');
    expect(await axeProblems(bob)).toEqual([]);
    // Follow toggles; Escape closes and gives focus back to what opened the panel.
    await bobPanel.getByRole('button', { name: 'Unfollow thread' }).click();
    await bobPanel.getByRole('button', { name: 'Follow thread' }).waitFor();
    await bob.getByLabel('Thread reply').focus();
    await bob.keyboard.press('Escape');
    await bobPanel.waitFor({ state: 'hidden' });
    expect(await bob.evaluate(() => document.activeElement?.textContent)).toMatch(/^2 replies/);
  });

  it('pins a message; both see it in the pins panel and can jump to it', async () => {
    await act(bob, 'Ship it', 'Pin message');
    await message(ann, 'Ship it').locator('.pin-flag').waitFor();
    await ann.getByRole('button', { name: 'Pinned messages 1' }).click();
    const pins = ann.getByRole('complementary', { name: 'Pinned messages' });
    const hit = pins.locator('.hit', { hasText: 'Ship it' });
    await hit.waitFor();
    expect(await hit.textContent()).toContain('pinned by Bob Stone');
    await hit.click();
    await pins.waitFor({ state: 'hidden' });
    await expect.poll(() => ann.evaluate(() => document.activeElement?.closest('.msg')?.textContent ?? '')).toContain('Ship it');
    expect(await message(bob, 'Ship it').getByRole('button', { name: 'Unpin message' }).getAttribute('aria-pressed')).toBe('true');
  });

  it('saves a message privately and lists it in Saved', async () => {
    await act(bob, 'Spec and a sketch', 'Save message');
    await message(bob, 'Spec and a sketch').getByRole('button', { name: 'Remove from saved' }).waitFor();
    expect(await message(ann, 'Spec and a sketch').getByRole('button', { name: 'Save message' }).count()).toBe(1);
    await bob.getByRole('button', { name: 'Saved', exact: true }).click();
    const saved = bob.getByRole('complementary', { name: 'Saved messages' });
    await saved.locator('.hit', { hasText: 'Spec and a sketch' }).waitFor();
    await saved.getByRole('button', { name: 'Close saved messages' }).click();
  });

  it('edits a message: both see "(edited)" and its history; a deleted message says so', async () => {
    await act(ann, 'a second message', 'Edit message');
    const edit = ann.getByLabel('Edited text');
    await edit.fill('Hello @bob, a second message (now *better*)');
    await edit.press('Enter');
    const edited = message(bob, 'now better');
    await edited.waitFor();
    expect(await edited.locator('.content em').textContent()).toBe('better');
    await edited.getByRole('button', { name: 'Edited: show the edit history' }).click();
    const dialog = bob.getByRole('dialog', { name: 'Edit history' });
    await dialog.waitFor();
    const versions = dialog.locator('.version');
    await expect.poll(() => versions.count()).toBe(2);
    expect(await versions.nth(0).textContent()).toContain('now better');
    expect(await versions.nth(1).textContent()).toContain('Original');
    expect(await versions.nth(1).textContent()).toContain('Hello @bob, a second message');
    await bob.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    await say(ann, 'this one goes away');
    await message(bob, 'this one goes away').waitFor();
    ann.once('dialog', (d) => void d.accept());
    await act(ann, 'this one goes away', 'Delete message');
    await expect.poll(() => bob.locator('.messages .msg.deleted .content').last().textContent()).toBe('This message was deleted');
  });

  it('has no serious accessibility problems on the chat screen', async () => {
    expect(await axeProblems(ann)).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
