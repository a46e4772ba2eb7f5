/**
 * Two people chat in real browsers (Debian's Chromium driven by playwright-core) through a real `umbra up`
 * child process: both sign up, start a conversation, exchange messages both ways over the mixnet under "Full
 * privacy"; the gateway is stopped — "No privacy" appears, Send is disabled and a message typed meanwhile
 * stays in the box (the user asks for it to go when privacy returns); the gateway is started again — the
 * message is sent by itself and arrives exactly once. Then the rest of the app on the same conversation:
 * safety numbers equal on both sides, "mark as verified" remembered across a reload and unlock, the observer
 * chart running, and the panic button wiping the device back to sign-up. Screenshots of the conversation are
 * saved under test-artifacts/ (git-ignored; docs/screenshot-*.png are copies).
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, browserTest, message, passphrase, STEP_MS, send, signUp } from './support.ts';

function composerPrivacy(page: Page) {
  return page.locator('.composer [data-testid=privacy]');
}

/** Waits for the composer's indicator to read `label`; a timeout reports the reason the page shows. */
async function waitForPrivacy(page: Page, label: string): Promise<void> {
  try {
    await composerPrivacy(page).filter({ hasText: label }).waitFor({ timeout: STEP_MS });
  } catch (error) {
    const shown = await composerPrivacy(page)
      .innerText()
      .catch(() => '?');
    const reason = await composerPrivacy(page)
      .getAttribute('title')
      .catch(() => '?');
    throw new Error(`expected ${label}, the page shows ${shown}: ${reason}`, { cause: error });
  }
}

/** Opens the safety-number dialog for `handle` from the members panel and returns its digits. */
async function safetyDigits(page: Page, handle: string): Promise<string> {
  const members = page.locator('details.members');
  if ((await members.getAttribute('open')) === null) await members.locator('summary').click();
  await members
    .locator('li')
    .filter({ hasText: `@${handle}` })
    .getByRole('button', { name: 'Safety number' })
    .click();
  const digits = await page.getByTestId('safety-digits').innerText({ timeout: STEP_MS });
  return digits;
}

browserTest(
  'two people chat over the mixnet; No privacy while the gateway is down, a kept message delivered once; safety numbers, unlock, observer, panic',
  ['--round-ms', '100'],
  async (up, browser) => {
    const alice = await (await browser.newContext({ viewport: { width: 1100, height: 760 } })).newPage();
    const bob = await (await browser.newContext({ viewport: { width: 390, height: 760 } })).newPage();
    for (const page of [alice, bob]) {
      page.on('pageerror', (error) => console.log(`# page error: ${error.message}`));
    }
    await Promise.all([signUp(alice, up.url, 'alice'), signUp(bob, up.url, 'bob')]);
    await alice.getByTestId('privacy').first().filter({ hasText: 'Full privacy' }).waitFor();

    // Alice starts a 1:1; Bob is invited through his mailbox and opens it.
    await alice.getByLabel('Start a conversation with').fill('bob');
    await alice.getByRole('button', { name: 'Start' }).click();
    await alice.getByTestId('composer').waitFor({ timeout: STEP_MS });
    await bob.getByRole('button', { name: 'alice' }).click({ timeout: STEP_MS });

    await send(alice, 'hello bob, over the mixnet');
    await message(bob, 'hello bob, over the mixnet').waitFor({ timeout: STEP_MS });
    await send(bob, 'hi alice, loud and clear');
    await message(alice, 'hi alice, loud and clear').waitFor({ timeout: STEP_MS });
    await message(alice, 'hello bob, over the mixnet')
      .and(alice.locator('[data-state=acknowledged]'))
      .waitFor({ timeout: STEP_MS });
    for (const page of [alice, bob]) {
      assert.match(await composerPrivacy(page).innerText(), /^Full privacy$/);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: join(ARTIFACTS, 'conversation.png') });
    await bob.screenshot({ path: join(ARTIFACTS, 'conversation-phone.png') });

    // The gateway goes away: red, Send disabled, the typed text kept.
    await up.command('stop gateway', /gateway stopped/);
    await waitForPrivacy(alice, 'No privacy');
    const kept = 'typed while the gateway was down';
    await alice.getByTestId('composer').fill(kept);
    assert.equal(await alice.getByTestId('send').isDisabled(), true);
    await alice.getByTestId('composer').press('Enter');
    assert.equal(await alice.getByTestId('composer').inputValue(), kept);
    assert.match((await composerPrivacy(alice).getAttribute('title')) ?? '', /mixnet/);
    // The user asks for it to go once privacy is back; nothing is sent meanwhile.
    await alice.getByTestId('send-later').click();
    assert.equal(await alice.getByTestId('send-later').getAttribute('aria-pressed'), 'true');
    await alice.getByText('This message will be sent when privacy returns').waitFor();
    assert.equal(await alice.getByTestId('composer').inputValue(), kept);
    await alice.screenshot({ path: join(ARTIFACTS, 'no-privacy.png') });

    // It comes back: green again, the kept message goes by itself, and Bob sees it exactly once.
    await up.command('start gateway', /gateway started/);
    await waitForPrivacy(alice, 'Full privacy');
    await message(bob, kept).waitFor({ timeout: STEP_MS });
    assert.equal(await alice.getByTestId('composer').inputValue(), '');
    await send(bob, 'got it');
    await message(alice, 'got it').waitFor({ timeout: STEP_MS });
    assert.equal(await message(bob, kept).count(), 1);
    assert.equal(await message(alice, kept).count(), 1);

    // Safety numbers agree; verification is remembered.
    const aliceSees = await safetyDigits(alice, 'bob');
    assert.match(aliceSees, /^(\d{5} ){11}\d{5}$/);
    await bob.keyboard.press('Escape').catch(() => {});
    assert.equal(await safetyDigits(bob, 'alice'), aliceSees);
    await alice.getByRole('button', { name: 'Mark as verified' }).click();
    await alice.getByTestId('verified').waitFor({ timeout: STEP_MS });
    await alice.keyboard.press('Escape');

    // What an observer sees: a live rate.
    await alice.getByRole('button', { name: 'What an observer sees' }).click();
    await alice
      .getByTestId('observer-summary')
      .filter({ hasText: /Last \d+ s: [\d.]+ packets\/s/ })
      .waitFor({ timeout: STEP_MS });
    await alice.screenshot({ path: join(ARTIFACTS, 'observer.png') });

    // Unlock on return: the conversation and the verification are still there.
    await alice.reload();
    await alice.getByLabel('Passphrase').fill(passphrase('alice'));
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByTestId('whoami').waitFor({ state: 'attached', timeout: STEP_MS });
    await message(alice, 'got it').waitFor({ timeout: STEP_MS });
    await safetyDigits(alice, 'bob');
    await alice.getByTestId('verified').waitFor();
    await alice.keyboard.press('Escape');

    // Panic: after the confirmation, the device is back to sign-up, and stays there after a reload.
    await alice.getByTestId('panic').click();
    await alice.getByTestId('panic-confirm').click();
    await alice.getByRole('button', { name: 'Create account' }).waitFor({ timeout: STEP_MS });
    await alice.reload();
    await alice.getByRole('button', { name: 'Create account' }).waitFor({ timeout: STEP_MS });
  },
);
