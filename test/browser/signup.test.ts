/**
 * Sign-up in bad weather (issue #11, item 3), in a real browser: a sign-up that fails because the delivery
 * service is down keeps the keys in the page's vault and says so; once the service is back, unlocking the
 * device finishes the registration with those keys and opens the account.
 */
import { browserTest, passphrase, SIGN_UP_MS, STEP_MS, submitSignUp } from './support.ts';

browserTest('a sign-up the delivery service missed finishes on unlock', [], async (up, browser) => {
  const page = await (await browser.newContext()).newPage();
  await up.command('stop delivery', /delivery stopped/);
  await submitSignUp(page, up.url, 'fern');
  await page
    .getByText('Could not create the account')
    .filter({ hasText: 'keys are kept' })
    .waitFor({ timeout: SIGN_UP_MS });

  await up.command('start delivery', /delivery started/);
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphrase('fern'));
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.getByTestId('whoami').waitFor({ state: 'attached', timeout: STEP_MS });
});
