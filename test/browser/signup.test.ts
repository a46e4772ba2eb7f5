/**
 * Sign-up in bad weather (issue #11, item 3), in a real browser: a sign-up that cannot reach the delivery
 * service (stopped) keeps the keys in the page's vault from its first request on; the user closes the page
 * in the middle of it; once the service is back, unlocking the device finishes the registration with those
 * keys and opens the account. (That the page keeps trying while it stays open: the SDK's registration tests.)
 */
import { browserTest, passphrase, STEP_MS, submitSignUp } from './support.ts';

browserTest(
  'a sign-up interrupted while the delivery service is down finishes on unlock',
  [],
  async (up, browser) => {
    const page = await (await browser.newContext()).newPage();
    await up.command('stop delivery', /delivery stopped/);
    await submitSignUp(page, up.url, 'fern');
    // "Publishing" is shown once the new identity is written to the vault, before the first request.
    await page
      .getByTestId('auth-status')
      .filter({ hasText: 'Publishing your keys' })
      .waitFor({ timeout: STEP_MS });
    await page.reload();

    await up.command('start delivery', /delivery started/);
    await page.getByLabel('Passphrase').fill(passphrase('fern'));
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByTestId('whoami').waitFor({ state: 'attached', timeout: STEP_MS });
  },
);
