// What the browser tests share: Debian's Chromium (skipped, visibly, without it), screenshots
// into docs/screenshots, and the few steps every scenario takes in the web chat.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WEB_ROOT } from '../../src/api/web.js';
import { packageRoot } from '../../src/version.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** The suite title, saying why when it is skipped. */
export const browserSuite = (title: string) => (hasChromium ? title : `${title} — SKIPPED: ${CHROMIUM} not found (apt-get install -y chromium)`);

export const PASSWORD = 'correct horse battery';

/** Builds the web chat if web/dist lacks it (a fresh clone has it committed). */
export async function ensureWebBuilt(): Promise<void> {
  if (existsSync(path.join(WEB_ROOT, 'index.html')) && existsSync(path.join(WEB_ROOT, 'sw.js'))) return;
  const { build } = await import('vite');
  await build({ configFile: path.join(packageRoot, 'web', 'vite.config.ts'), logLevel: 'warn' });
}

/** Headless Debian Chromium, quiet: no network of its own, no first-run work. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Each page's uncaught errors go to `errors` (named by whose page); its console too with E2E_DEBUG. */
export function watchPages(pages: Record<string, Page>, errors: string[]): void {
  for (const [name, page] of Object.entries(pages)) {
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
    if (process.env.E2E_DEBUG) page.on('console', (m) => console.log(name, m.type(), m.text()));
  }
}

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
