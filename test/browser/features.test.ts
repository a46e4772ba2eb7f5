/**
 * The rest of the web app in a real browser against a real `umbra up`: a group conversation by handles, a
 * member removed who then reads nothing more, safety numbers equal on both sides with "mark as verified"
 * remembered across a reload and unlock, the observer chart running, and the panic button wiping the device
 * back to sign-up.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, browserTest, message, passphrase, STEP_MS, send, signUp } from './support.ts';

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
  'groups, removal, safety numbers, unlock on return, the observer chart and the panic button',
  [],
  async (up, browser) => {
    const pages = await Promise.all([0, 1, 2].map(async () => (await browser.newContext()).newPage()));
    const [alice, bob, carol] = pages as [Page, Page, Page];
    await Promise.all([
      signUp(alice, up.url, 'alice'),
      signUp(bob, up.url, 'bob'),
      signUp(carol, up.url, 'carol'),
    ]);

    // A group by handles; both invitees see it and read the first message.
    await alice.getByLabel('Start a conversation with').fill('bob, carol');
    await alice.getByRole('button', { name: 'Start' }).click();
    await alice.getByText('Members (3)').waitFor({ timeout: STEP_MS });
    await bob.getByRole('button', { name: 'alice, carol' }).click({ timeout: STEP_MS });
    await carol.getByRole('button', { name: 'alice, bob' }).click({ timeout: STEP_MS });
    await send(alice, 'hello group');
    await message(bob, 'hello group').waitFor({ timeout: STEP_MS });
    await message(carol, 'hello group').waitFor({ timeout: STEP_MS });

    // Carol is removed; what follows reaches Bob and not her.
    await alice.locator('details.members summary').click();
    await alice.getByRole('button', { name: 'Remove @carol' }).click();
    await alice.getByText('Members (2)').waitFor({ timeout: STEP_MS });
    await send(alice, 'after carol left');
    await message(bob, 'after carol left').waitFor({ timeout: STEP_MS });
    assert.equal(await message(carol, 'after carol left').count(), 0);

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
    await mkdir(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: join(ARTIFACTS, 'observer.png') });

    // Unlock on return: the conversation and the verification are still there.
    await alice.reload();
    await alice.getByLabel('Passphrase').fill(passphrase('alice'));
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByTestId('whoami').waitFor({ state: 'attached', timeout: STEP_MS });
    await message(alice, 'after carol left').waitFor({ timeout: STEP_MS });
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
