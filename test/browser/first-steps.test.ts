/**
 * The first steps in a real browser against a real `umbra up`, one of the two people on a page CPU-throttled
 * six times (a slow phone): sign-up and unlock show a progress line naming each step; the privacy indicator
 * is a drawn dot and words, no emoji; a conversation opens at its newest message and follows new ones while
 * the reader is at the bottom, not when they scrolled up; an error shown after one action is gone once the
 * next action starts. Every wait is for an event, with the generous caps of support.ts; no time is asserted.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, browserTest, message, openPage, passphrase, STEP_MS, send, signUp } from './support.ts';

/** Starts recording, in the page, every text the sign-up or unlock status line shows; `shownSteps` reads it. */
async function recordSteps(page: Page): Promise<void> {
  await page.getByTestId('auth-status').waitFor({ state: 'attached' });
  await page.evaluate(() => {
    const status = document.querySelector('[data-testid=auth-status]') as HTMLElement;
    const shown: string[] = [];
    (globalThis as unknown as { shownSteps: string[] }).shownSteps = shown;
    new MutationObserver(() => {
      if (status.textContent !== '' && status.textContent !== shown.at(-1))
        shown.push(status.textContent ?? '');
    }).observe(status, { childList: true, characterData: true, subtree: true });
  });
}

function shownSteps(page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as { shownSteps: string[] }).shownSteps);
}

/** Whether `steps` contains `expected` in this order (other steps may come between). */
function inOrder(steps: readonly string[], expected: readonly string[]): boolean {
  let at = 0;
  for (const step of steps) if (step === expected[at]) at++;
  return at === expected.length;
}

/** How far the open conversation's message list is from showing its newest message, in CSS pixels. */
function distanceFromBottom(page: Page): Promise<number> {
  return page
    .getByTestId('messages')
    .evaluate((list) => list.scrollHeight - list.scrollTop - list.clientHeight);
}

async function waitAtBottom(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const list = document.querySelector('[data-testid=messages]');
      return list !== null && list.scrollHeight - list.scrollTop - list.clientHeight < 2;
    },
    undefined,
    { timeout: STEP_MS },
  );
}

/** Two animation frames: scroll events and resize observers have run. */
function frames(page: Page): Promise<void> {
  return page.evaluate(
    () => new Promise<void>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done()))),
  );
}

browserTest(
  'first steps: progress line, a drawn privacy dot, newest message in view, errors cleared by the next action',
  [],
  async (up, browser) => {
    // Alice on a slow phone: the page's CPU throttled 6×; short windows so a few messages overflow the list.
    const alice = await openPage(browser, { cpuThrottle: 6, viewport: { width: 900, height: 520 } });
    const bob = await openPage(browser, { viewport: { width: 900, height: 520 } });

    // Sign-up: a mistake is reported; the next attempt clears it and names each step while it runs.
    await alice.goto(up.url);
    await alice.getByLabel('Handle').fill('alice');
    await alice.getByLabel('Passphrase', { exact: true }).fill(passphrase('alice'));
    await alice.getByLabel('Passphrase again').fill('not the same passphrase');
    await alice.getByRole('button', { name: 'Create account' }).click();
    await alice.getByText('The two passphrases differ.').waitFor();
    await recordSteps(alice);
    await alice.getByLabel('Passphrase again').fill(passphrase('alice'));
    await alice.getByRole('button', { name: 'Create account' }).click();
    await alice.getByTestId('whoami').waitFor({ state: 'attached', timeout: STEP_MS });
    const signUpSteps = await shownSteps(alice);
    assert.ok(
      inOrder(signUpSteps, [
        'Deriving your key from your passphrase…',
        'Creating your keys…',
        'Publishing your keys…',
      ]),
      `sign-up showed: ${signUpSteps.join(' | ')}`,
    );
    await signUp(bob, up.url, 'bob');

    // The indicator: a drawn, coloured dot and the words; no emoji for a font to miss.
    const indicator = alice.locator('header [data-testid=privacy]');
    await indicator.filter({ hasText: 'Full privacy' }).waitFor({ timeout: STEP_MS });
    assert.equal(await indicator.innerText(), 'Full privacy');
    const dot = await indicator.locator('.privacy-dot').evaluate((element) => {
      const style = getComputedStyle(element);
      const box = element.getBoundingClientRect();
      return { background: style.backgroundColor, width: box.width, height: box.height };
    });
    assert.ok(dot.width >= 8 && dot.height >= 8, `the dot is ${dot.width}×${dot.height}`);
    const [red, green] = (dot.background.match(/\d+/g) ?? []).map(Number);
    assert.ok((green ?? 0) > (red ?? 255), `a green dot for Full privacy, not ${dot.background}`);
    assert.doesNotMatch(await alice.locator('header').innerText(), /\p{Extended_Pictographic}/u);

    // Errors: each is shown, and the next action clears it.
    await alice.getByLabel('Start a conversation with').fill('nobody-here');
    await alice.getByRole('button', { name: 'Start' }).click();
    const startFailed = alice.getByText('Could not start it');
    await startFailed.waitFor({ timeout: STEP_MS });
    await alice.getByLabel('Start a conversation with').fill('bob');
    await alice.getByRole('button', { name: 'Start' }).click();
    await startFailed.waitFor({ state: 'detached' });
    await alice.getByTestId('composer').waitFor({ timeout: STEP_MS });
    await alice.locator('details.members summary').click();
    await alice.getByLabel('Add someone').fill('nobody-here');
    await alice.getByRole('button', { name: 'Add', exact: true }).click();
    const addFailed = alice.getByText('Could not add @nobody-here');
    await addFailed.waitFor({ timeout: STEP_MS });
    await send(alice, 'first, after a failed add');
    await addFailed.waitFor({ state: 'detached' });
    await alice.locator('details.members summary').click();

    // Enough messages to overflow Bob's list; he reads them as they come and stays at the newest.
    await bob.getByRole('button', { name: 'alice' }).click({ timeout: STEP_MS });
    const texts = Array.from({ length: 8 }, (_, i) => `line ${i + 1} of a long story`);
    for (const text of texts) await send(alice, text);
    await message(bob, texts.at(-1) as string).waitFor({ timeout: STEP_MS });
    await waitAtBottom(bob);
    assert.ok(
      await bob.getByTestId('messages').evaluate((list) => list.scrollHeight > list.clientHeight + 100),
      'the messages overflow the list',
    );

    // Scrolled up to read older messages, Bob is not pulled down by a new one.
    await bob.getByTestId('messages').hover();
    await bob.mouse.wheel(0, -10_000);
    await bob.waitForFunction(() => document.querySelector('[data-testid=messages]')?.scrollTop === 0);
    await frames(bob);
    await send(alice, 'while bob reads older lines');
    await message(bob, 'while bob reads older lines').waitFor({ timeout: STEP_MS });
    await frames(bob);
    assert.ok((await distanceFromBottom(bob)) > 100, 'the list stayed where Bob scrolled it');

    // Back at the bottom, he follows again.
    await bob.mouse.wheel(0, 10_000);
    await waitAtBottom(bob);
    await frames(bob);
    await send(alice, 'and one more');
    await message(bob, 'and one more').waitFor({ timeout: STEP_MS });
    await waitAtBottom(bob);

    // Unlock on return: named steps, and the conversation opens at its newest message.
    await bob.reload();
    await recordSteps(bob);
    await bob.getByLabel('Passphrase').fill(passphrase('bob'));
    await bob.getByRole('button', { name: 'Unlock' }).click();
    await message(bob, 'and one more').waitFor({ timeout: STEP_MS });
    const unlockSteps = await shownSteps(bob);
    assert.ok(
      inOrder(unlockSteps, ['Deriving your key from your passphrase…', 'Opening your account…']),
      `unlock showed: ${unlockSteps.join(' | ')}`,
    );
    await waitAtBottom(bob);
    await mkdir(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: join(ARTIFACTS, 'first-steps-alice.png') });
    await bob.screenshot({ path: join(ARTIFACTS, 'first-steps-bob.png') });
  },
);
