/**
 * The rest of the web app in a real browser against a real `umbra up`: a group conversation by handles, a
 * member removed who then reads nothing more, safety numbers equal on both sides with "mark as verified"
 * remembered across a reload and unlock, the observer chart running, and the panic button wiping the device
 * back to sign-up.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startUmbraUp, type UmbraUp } from '../up/umbra-up.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
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
const SIGN_UP_MS = 180_000;

function passphrase(handle: string): string {
  return `${handle} passphrase, long enough`;
}

async function signUp(page: Page, url: string, handle: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Handle').fill(handle);
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase(handle));
  await page.getByLabel('Passphrase again').fill(passphrase(handle));
  await page.getByRole('button', { name: 'Create account' }).click();
  // Argon2id and post-quantum key generation run in JavaScript here: on a busy machine this is the slow step.
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

function message(page: Page, text: string) {
  return page.getByTestId('messages').getByTestId('message').filter({ hasText: text });
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('send').click();
}

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

if (!existsSync(CHROMIUM)) {
  console.log(`# skip: no Chromium at ${CHROMIUM} (apt-get install chromium); the browser tests did not run`);
  test.skip('groups, safety numbers, unlock, observer and panic in browsers (no Chromium)');
} else {
  test('groups, removal, safety numbers, unlock on return, the observer chart and the panic button', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'umbra-browser-'));
    let up: UmbraUp | undefined;
    let browser: Browser | undefined;
    try {
      up = await startUmbraUp(['--data-dir', dataDir]);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const pages = await Promise.all(
        [0, 1, 2].map(async () => (await browser?.newContext())?.newPage() as Promise<Page>),
      );
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
    } finally {
      await browser?.close();
      const code = await up?.interrupt();
      await rm(dataDir, { recursive: true, force: true });
      assert.equal(code, 0);
    }
  });
}
