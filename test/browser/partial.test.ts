/**
 * 🟡 in a real browser: with `umbra up --privacy mixnet-or-direct`, the page also opens the direct carrier;
 * while the gateway is down the indicator says Partial privacy (end-to-end only) with the reason, sending
 * stays possible, and it is 🟢 again once the gateway is back.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { startUmbraUp, type UmbraUp } from '../up/umbra-up.ts';

const CHROMIUM = '/usr/bin/chromium';
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
const STEP_MS = 150_000;

if (!existsSync(CHROMIUM)) {
  console.log(`# skip: no Chromium at ${CHROMIUM} (apt-get install chromium); the browser tests did not run`);
  test.skip('partial privacy in a browser (no Chromium)');
} else {
  test('mixnet-or-direct: 🟡 Partial privacy while the gateway is down, 🟢 when it is back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'umbra-browser-'));
    let up: UmbraUp | undefined;
    let browser: Browser | undefined;
    try {
      up = await startUmbraUp(['--data-dir', dataDir, '--privacy', 'mixnet-or-direct']);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await (await browser.newContext()).newPage();
      await page.goto(up.url);
      await page.getByLabel('Handle').fill('dana');
      await page.getByLabel('Passphrase', { exact: true }).fill('dana passphrase, long enough');
      await page.getByLabel('Passphrase again').fill('dana passphrase, long enough');
      await page.getByRole('button', { name: 'Create account' }).click();
      const indicator = page.locator('header [data-testid=privacy]');
      await indicator.filter({ hasText: '🟢 Full privacy' }).waitFor({ timeout: STEP_MS });

      await up.command('stop gateway', /gateway stopped/);
      await indicator.filter({ hasText: '🟡 Partial privacy' }).waitFor({ timeout: STEP_MS });
      assert.match(
        (await indicator.getAttribute('title')) ?? '',
        /direct carrier .*delivery service sees who connects/,
      );
      // The reason is shown in full on tap or Enter, not only on hover.
      await indicator.click();
      assert.equal(await indicator.getAttribute('aria-expanded'), 'true');
      assert.match(await page.locator('header .privacy-reason').innerText(), /fallback/);

      await up.command('start gateway', /gateway started/);
      await indicator.filter({ hasText: '🟢 Full privacy' }).waitFor({ timeout: STEP_MS });
    } finally {
      await browser?.close();
      const code = await up?.interrupt();
      await rm(dataDir, { recursive: true, force: true });
      assert.equal(code, 0);
    }
  });
}
