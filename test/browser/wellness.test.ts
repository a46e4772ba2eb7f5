/**
 * The wellness screens (issue 16) in real browsers through a real `umbra up`: three people in three roles.
 * Olivia logs entries and sees her Functional Wellness Index, its chart and trends (all computed in her
 * page); she invites Carla as her coach and Fred as a friend at once, and shares. Carla sees the index, the
 * trends and adherence and no summary band; Fred sees the summary band only. Carla sends a session reminder
 * and a check-in, both arrive at Olivia's over the mixnet, Olivia answers the check-in, and the answer
 * reaches Carla and counts in Olivia's adherence. No care-team conversation shows up in anyone's chat list.
 * Short mixing rounds (20 ms): every step is a few mixnet round trips; every wait is for what the page shows.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, browserTest, openPage, STEP_MS, signUp } from './support.ts';

const VIEWPORT = { width: 1100, height: 900 };

/** The local calendar day `daysAgo` days back, as the page's date input takes it (same clock and zone). */
function localDay(daysAgo: number): string {
  const date = new Date(Date.now() - daysAgo * 86_400_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

async function section(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name }).click();
}

async function logEntry(
  page: Page,
  kind: string,
  day: string,
  fields: Record<string, string>,
): Promise<void> {
  const form = page.getByRole('form', { name: 'Log an entry' });
  await form.getByLabel('Kind').selectOption(kind);
  await form.getByLabel('Day').fill(day);
  for (const [label, value] of Object.entries(fields)) await form.getByLabel(label).fill(value);
  await form.getByRole('button', { name: 'Log' }).click();
  await form.getByText('Saved on this device.').waitFor();
  await form.getByRole('status').evaluate((status) => {
    status.textContent = '';
  });
}

/** The card of what `owner` shares with the page's user, once it holds `text`. */
async function sharedCard(page: Page, owner: string, text: string) {
  const card = page.getByRole('article', { name: `Shared by @${owner}` });
  await card.filter({ hasText: text }).waitFor({ timeout: STEP_MS });
  return card;
}

browserTest(
  'a user, her coach and her friend see what their roles allow; a reminder and a check-in arrive over the mixnet',
  ['--round-ms', '20'],
  async (up, browser) => {
    const [olivia, carla, fred] = await Promise.all([
      openPage(browser, { viewport: VIEWPORT }),
      openPage(browser, { viewport: VIEWPORT }),
      openPage(browser, { viewport: VIEWPORT }),
    ]);
    await Promise.all([
      signUp(olivia, up.url, 'olivia'),
      signUp(carla, up.url, 'carla'),
      signUp(fred, up.url, 'fred'),
    ]);

    // Olivia's entries stay in her page; the index needs two kinds on at least three days.
    await section(olivia, 'My wellness');
    for (const daysAgo of [2, 1, 0]) {
      await logEntry(olivia, 'mood', localDay(daysAgo), { 'Mood (1–5)': String(3 + (daysAgo % 2)) });
      await logEntry(olivia, 'sleep', localDay(daysAgo), { 'Hours slept': '8' });
    }
    await olivia
      .getByTestId('fwi')
      .filter({ hasText: /Functional Wellness Index: \d+ \(/ })
      .waitFor();
    assert.match(
      await olivia.getByTestId('trend-7').innerText(),
      /Last 7 days: (improving|steady|declining)/,
    );
    assert.equal(
      await olivia.getByRole('img', { name: /Daily FWI over the last 30 days: 3 days/ }).count(),
      1,
    );

    // Both invitations at once (two tiers: they overlap), then one share: one message per tier.
    await section(olivia, 'Care team');
    const invite = olivia.getByRole('form', { name: 'Invite a supporter' });
    for (const [handle, role] of [
      ['carla', 'coach'],
      ['fred', 'friend'],
    ]) {
      await invite.getByLabel('Handle').fill(handle as string);
      await invite.getByLabel('Role').selectOption(role as string);
      await invite.getByRole('button', { name: 'Invite' }).click();
    }
    for (const handle of ['carla', 'fred']) {
      await olivia
        .getByLabel(`Role of @${handle}`)
        .and(olivia.locator(':enabled'))
        .waitFor({ timeout: STEP_MS });
    }
    assert.equal(await olivia.getByLabel('Role of @carla').inputValue(), 'coach');
    await olivia.getByRole('button', { name: 'Share today’s insights' }).click();
    await olivia.getByTestId('share-status').filter({ hasText: 'coaching: 3 insights sent' }).waitFor({
      timeout: STEP_MS,
    });
    assert.match(await olivia.getByTestId('share-status').innerText(), /circle: 1 insights sent/);

    // Each sees exactly their row of the table.
    await Promise.all([section(carla, 'Shared with me'), section(fred, 'Shared with me')]);
    const [atCarla, atFred] = await Promise.all([
      sharedCard(carla, 'olivia', 'FWI trend'),
      sharedCard(fred, 'olivia', 'Wellness summary'),
    ]);
    const carlaSees = await atCarla.innerText();
    assert.match(carlaSees, /You are their coach/);
    assert.match(carlaSees, /Functional Wellness Index, 7-day mean/);
    assert.equal(carlaSees.match(/FWI trend/g)?.length, 2); // 7 and 30 days.
    assert.doesNotMatch(carlaSees, /Wellness summary|steps|Sleep duration/);
    const fredSees = await atFred.innerText();
    assert.match(fredSees, /You are their friend/);
    assert.doesNotMatch(fredSees, /Functional Wellness Index|trend|adherence|Send/i);

    // Carla sends a reminder and a check-in; they arrive at Olivia's, who answers the check-in.
    const schedule = carla.getByRole('form', { name: 'Send @olivia a reminder or check-in' });
    for (const [kind, text] of [
      ['reminder', 'Session at 9, bring water'],
      ['check-in', 'How did the week go?'],
    ]) {
      await schedule.getByLabel('Send', { exact: true }).selectOption(kind as string);
      await schedule.getByLabel('Text').fill(text as string);
      await schedule.getByRole('button', { name: 'Send' }).click();
      await schedule.getByText('Sent.').waitFor({ timeout: STEP_MS });
    }
    await section(olivia, 'My wellness');
    await olivia
      .getByTestId('reminder')
      .filter({ hasText: 'Session at 9, bring water — @carla' })
      .waitFor({ timeout: STEP_MS });
    await olivia.getByLabel('Answer to @carla').fill('Good, slept well', { timeout: STEP_MS });
    await olivia.getByRole('button', { name: 'Answer' }).click();
    await olivia.getByText('You answered: Good, slept well').waitFor({ timeout: STEP_MS });
    await olivia.getByTestId('adherence').filter({ hasText: '1 of 1 (100 %)' }).waitFor();
    await carla
      .getByTestId('answer')
      .filter({ hasText: '@olivia: How did the week go? — Good, slept well' })
      .waitFor({ timeout: STEP_MS });

    // None of the care team's conversations is a chat.
    for (const page of [olivia, carla, fred]) {
      await section(page, 'Chat');
      assert.equal(await page.getByTestId('conversation-list').innerText(), 'No conversations yet.');
    }

    await mkdir(ARTIFACTS, { recursive: true });
    await Promise.all([
      section(olivia, 'My wellness'),
      section(carla, 'Shared with me'),
      section(fred, 'Shared with me'),
    ]);
    await olivia.getByRole('region', { name: 'My wellness' }).evaluate((screen) => {
      screen.scrollTop = 0;
    });
    await olivia.screenshot({ path: join(ARTIFACTS, 'wellness-mine.png') });
    await carla.screenshot({ path: join(ARTIFACTS, 'wellness-shared-coach.png') });
    await fred.screenshot({ path: join(ARTIFACTS, 'wellness-shared-friend.png') });
  },
);
