// What the browser tests share: Debian's Chromium (skipped, visibly, without it), screenshots
// into docs/screenshots, and the few steps every scenario takes in the web chat.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { packageRoot } from '../../src/version.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** The suite title, saying why when it is skipped. */
export const browserSuite = (title: string) => (hasChromium ? title : `${title} — SKIPPED: ${CHROMIUM} not found (apt-get install -y chromium)`);

export const PASSWORD = 'correct horse battery';

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(packageRoot, 'docs', 'screenshots', `${name}.png`) });
}

/** Signs up on the sign-in screen (switching to the sign-up form if needed); `username` is optional there. */
export async function signUp(page: Page, name: string, email: string, username?: string): Promise<void> {
  if (await page.getByRole('button', { name: 'New here? Create an account' }).isVisible()) {
    await page.getByRole('button', { name: 'New here? Create an account' }).click();
  }
  await page.getByLabel('Display name').fill(name);
  if (username !== undefined) await page.getByLabel('Username').fill(username);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

/** Sends a message from the composer. */
export async function say(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByLabel('Message', { exact: true }).press('Enter');
}
