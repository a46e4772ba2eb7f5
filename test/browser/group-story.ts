/**
 * The group story in a real browser, as weather.test.ts runs it in bad weather and groups.test.ts in fair
 * weather: three people sign up; one starts a group with the other two; each member sends and every other
 * member reads it (the newest member first: her epoch must be theirs); one member is removed — she is told,
 * keeps what she read, read-only, and reads nothing sent afterwards — and the other two go on.
 */
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import type { UmbraUp } from '../up/umbra-up.ts';
import { message, openPage, type PageOptions, STEP_MS, send, signUp } from './support.ts';

/** What a page shows that explains a wait that failed: its status lines and its privacy indicator. */
async function shown(page: Page): Promise<string> {
  return page
    .evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('.status, [data-testid=privacy], [data-testid=ended]')]
        .map((element) => `${element.innerText} ${element.title}`.trim())
        .filter((text) => text !== '')
        .join(' | '),
    )
    .catch(() => '?');
}

/** Waits for `locator`; a timeout names what the page showed instead. */
async function waitOn(page: Page, locator: Locator, what: string): Promise<void> {
  try {
    await locator.waitFor({ timeout: STEP_MS });
  } catch (error) {
    throw new Error(`waiting for ${what}; the page shows: ${await shown(page)}`, { cause: error });
  }
}

function members(page: Page, count: number): Promise<void> {
  return waitOn(page, page.getByText(`Members (${count})`), `Members (${count})`);
}

/** Prints how long each part of the story took (a visible line per part: where a slow run spent its time). */
function stepTimer(): (part: string) => void {
  const start = Date.now();
  let last = start;
  return (part) => {
    const now = Date.now();
    console.log(
      `# ${part}: ${((now - last) / 1000).toFixed(1)} s (${((now - start) / 1000).toFixed(1)} s in)`,
    );
    last = now;
  };
}

/** Alice's, Bob's and Carol's pages: how each is opened (a throttled CPU in bad weather). */
export type StoryPages = readonly [PageOptions, PageOptions, PageOptions];

/** Runs the story against `up` with the pages opened as `pages` says. */
export async function groupStory(
  up: UmbraUp,
  browser: Browser,
  pages: StoryPages = [{}, {}, {}],
): Promise<void> {
  const done = stepTimer();
  const [alice, bob, carol] = (await Promise.all(pages.map((options) => openPage(browser, options)))) as [
    Page,
    Page,
    Page,
  ];
  await Promise.all([
    signUp(alice, up.url, 'alice'),
    signUp(bob, up.url, 'bob'),
    signUp(carol, up.url, 'carol'),
  ]);
  done('three sign-ups');

  await alice.getByLabel('Start a conversation with').fill('bob, carol');
  await alice.getByRole('button', { name: 'Start' }).click();
  await members(alice, 3);
  done('the group created');
  for (const [page, name] of [
    [bob, 'alice, carol'],
    [carol, 'alice, bob'],
  ] as const) {
    await waitOn(page, page.getByRole('button', { name }), `the invitation (${name})`);
    await page.getByRole('button', { name }).click();
  }
  done('both invitations accepted');

  // Each member sends; every other member reads it (the newest member first: her epoch must be theirs).
  const senders: [Page, string][] = [
    [carol, 'carol here, can you read me?'],
    [bob, 'bob here, loud and clear'],
    [alice, 'alice here, welcome both'],
  ];
  for (const [sender, text] of senders) await send(sender, text);
  for (const [sender, text] of senders) {
    for (const reader of [alice, bob, carol]) {
      if (reader !== sender) await waitOn(reader, message(reader, text), `"${text}"`);
    }
    const acknowledged = message(sender, text).and(sender.locator('[data-state=acknowledged]'));
    await waitOn(sender, acknowledged, `"${text}" acknowledged`);
    done(`${text} read by the others`);
  }

  // Carol is removed: she is told and keeps her history, read-only; the others go on without her.
  await alice.locator('details.members summary').click();
  await alice.getByRole('button', { name: 'Remove @carol' }).click();
  await members(alice, 2);
  await waitOn(carol, carol.getByText('You were removed from this conversation'), 'the removal notice');
  await members(bob, 2);
  done('the removal seen by all three');
  for (const [, text] of senders) await message(carol, text).waitFor();
  assert.equal(await carol.getByTestId('composer').count(), 0, 'a removed member has no composer');

  await send(bob, 'just the two of us now');
  await waitOn(alice, message(alice, 'just the two of us now'), 'the message after the removal');
  await send(alice, 'indeed');
  await waitOn(bob, message(bob, 'indeed'), 'the reply after the removal');
  done('two messages after the removal');
  assert.equal(await message(carol, 'just the two of us now').count(), 0);
  assert.equal(await message(carol, 'indeed').count(), 0);
  for (const [, text] of senders) {
    for (const reader of [alice, bob, carol]) assert.equal(await message(reader, text).count(), 1);
  }
}
