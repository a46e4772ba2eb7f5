/**
 * Partial privacy in a real browser: with `umbra up --privacy mixnet-or-direct`, the page also opens the
 * direct carrier; while the gateway is down the indicator says Partial privacy (end-to-end only) with the
 * reason, sending stays possible, and it is Full privacy again once the gateway is back.
 */
import assert from 'node:assert/strict';
import { browserTest, STEP_MS, signUp } from './support.ts';

browserTest(
  'mixnet-or-direct: Partial privacy while the gateway is down, Full privacy when it is back',
  ['--privacy', 'mixnet-or-direct'],
  async (up, browser) => {
    const page = await (await browser.newContext()).newPage();
    await signUp(page, up.url, 'dana');
    const indicator = page.locator('header [data-testid=privacy]');
    await indicator.filter({ hasText: 'Full privacy' }).waitFor({ timeout: STEP_MS });

    await up.command('stop gateway', /gateway stopped/);
    await indicator.filter({ hasText: 'Partial privacy' }).waitFor({ timeout: STEP_MS });
    assert.match(
      (await indicator.getAttribute('title')) ?? '',
      /direct carrier .*delivery service sees who connects/,
    );
    // The reason is shown in full on tap or Enter, not only on hover.
    await indicator.click();
    assert.equal(await indicator.getAttribute('aria-expanded'), 'true');
    assert.match(await page.locator('header .privacy-reason').innerText(), /fallback/);

    await up.command('start gateway', /gateway started/);
    await indicator.filter({ hasText: 'Full privacy' }).waitFor({ timeout: STEP_MS });
  },
);
