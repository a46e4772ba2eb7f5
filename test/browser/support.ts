/**
 * What the browser tests share: a real `umbra up` child process over a fresh data directory and Debian's
 * Chromium driven by playwright-core (a visible skip line when there is no Chromium), pages that may run
 * CPU-throttled like a slow phone (`openPage(browser, { cpuThrottle: 6 })`, CDP
 * `Emulation.setCPUThrottlingRate`), and the steps every test takes in the web app (sign up, send, find a
 * message). bench/app.ts drives the same pages.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { startUmbraUp, type UmbraUp } from '../up/umbra-up.ts';

export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots go here (git-ignored). */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** Mixnet round trips, Argon2id and MLS on a busy 2-core machine or a throttled page: generous, never asserted. */
export const STEP_MS = 150_000;
export const SIGN_UP_MS = 180_000;

/** Debian's Chromium, headless, as every browser test and bench/app.ts run it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface PageOptions {
  readonly viewport?: BrowserContextOptions['viewport'];
  /**
   * Slows the page's CPU this many times (CDP `Emulation.setCPUThrottlingRate`; 6 is DevTools' "low-end
   * mobile"): the page's JavaScript — Sphinx packets, MLS, the vault — runs as on a slow phone.
   */
  readonly cpuThrottle?: number;
}

/** A page in a fresh browser context (its own IndexedDB, so its own account); page errors are logged. */
export async function openPage(browser: Browser, options: PageOptions = {}): Promise<Page> {
  const context = await browser.newContext(
    options.viewport === undefined ? {} : { viewport: options.viewport },
  );
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log(`# page error: ${error.message}`));
  if (options.cpuThrottle !== undefined) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: options.cpuThrottle });
  }
  return page;
}

/**
 * A test against `umbra up <upArgs>` (on a fresh data directory) in Chromium; both are stopped afterwards,
 * and `umbra up` must then exit 0. Without Chromium the test is skipped with a visible line.
 */
export function browserTest(
  name: string,
  upArgs: readonly string[],
  body: (up: UmbraUp, browser: Browser) => Promise<void>,
): void {
  if (!existsSync(CHROMIUM)) {
    console.log(
      `# skip: no Chromium at ${CHROMIUM} (apt-get install chromium); the browser tests did not run`,
    );
    test.skip(`${name} (no Chromium)`);
    return;
  }
  test(name, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'umbra-browser-'));
    let up: UmbraUp | undefined;
    let browser: Browser | undefined;
    try {
      up = await startUmbraUp(['--data-dir', dataDir, ...upArgs]);
      browser = await launchChromium();
      await body(up, browser);
    } finally {
      await browser?.close();
      const code = await up?.interrupt();
      await rm(dataDir, { recursive: true, force: true });
      assert.equal(code, 0);
    }
  });
}

export function passphrase(handle: string): string {
  return `${handle} passphrase, long enough`;
}

/** Fills in the sign-up form of a fresh page for `handle` and submits it. */
export async function submitSignUp(page: Page, url: string, handle: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Handle').fill(handle);
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase(handle));
  await page.getByLabel('Passphrase again').fill(passphrase(handle));
  await page.getByRole('button', { name: 'Create account' }).click();
}

/** Creates the account `handle` on a fresh page; throws with the reason the page shows if it fails. */
export async function signUp(page: Page, url: string, handle: string): Promise<void> {
  await submitSignUp(page, url, handle);
  // Argon2id, key generation and two mixnet round trips: on a busy machine or a throttled page, seconds.
  const outcome = await Promise.race([
    page
      .getByTestId('whoami')
      .waitFor({ state: 'attached', timeout: SIGN_UP_MS })
      .then(
        () => 'ok',
        () => 'timed out',
      ),
    page
      .getByText('Could not create the account')
      .waitFor({ timeout: SIGN_UP_MS })
      .then(
        () => 'refused',
        () => 'timed out',
      ),
  ]);
  if (outcome !== 'ok')
    throw new Error(`${handle} could not sign up: ${await page.locator('.status').innerText()}`);
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('send').click();
}

export function message(page: Page, text: string) {
  return page.getByTestId('messages').getByTestId('message').filter({ hasText: text });
}
