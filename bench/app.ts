// `npm run bench -- app`: the web app's first steps and messages as a person meets them, in Debian's Chromium
// (playwright-core) against a real `umbra up` (default settings: 50 ms rounds, λ = 20/s), on a quiet machine
// and beside a CPU hog (two child processes spinning, each wanting a whole core). Per condition: sign-up time
// (click on "Create account" to the chat screen) for three new users one after the other, with the time spent
// in each step the progress line names; unlock time (click on "Unlock" to the chat screen) three times; and
// 1:1 message latency both ways (the click on Send in one page to the message in the other page's DOM, both
// read from the pages' clocks on this one machine) p50/p99. Messages go one at a time, each after a random
// pause of up to POLL_SPREAD_MS, so they sample every phase of the receiver's polling.
//
// `--conditions quiet` or `--conditions hog` runs one; `--messages N` sets the messages per condition;
// `--round-ms N` runs `umbra up` with other rounds (a reference beside its default).

import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { UP_PARAMETERS } from '../src/up/role.ts';
import { launchChromium, openPage, passphrase } from '../test/browser/support.ts';
import { startCpuHog } from '../test/support/cpu-hog.ts';
import { startUmbraUp, type UmbraUp } from '../test/up/umbra-up.ts';
import { machine, median, table, writeResult } from './lib.ts';

const USERS = ['alice', 'bob', 'carol'] as const;
const UNLOCKS = 3;
const POLL_SPREAD_MS = 2_000;
const STEP_TIMEOUT_MS = 180_000;
const HOG_PROCESSES = 2;

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    conditions: { type: 'string', default: 'quiet,hog' },
    messages: { type: 'string', default: '30' },
    'round-ms': { type: 'string', default: String(UP_PARAMETERS.roundPeriodMs) },
  },
});
const conditions = (values.conditions ?? '')
  .split(',')
  .filter((c): c is Condition => c === 'quiet' || c === 'hog');
const messageCount = Number(values.messages);
const roundMs = Number(values['round-ms']);

type Condition = 'quiet' | 'hog';

interface Timed {
  readonly ms: number;
  /** Milliseconds per progress step, in the order shown. */
  readonly steps: readonly (readonly [string, number])[];
}

interface Result {
  readonly condition: Condition;
  readonly signUps: readonly Timed[];
  readonly unlocks: readonly Timed[];
  readonly latencies: readonly number[];
  /** Click on Send to 'acknowledged' in the sender's list. */
  readonly stored: readonly number[];
  readonly load: readonly number[];
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * Records, in the page, when the submit button was clicked, each text the auth screen's status line shows and
 * when, and when the chat screen (its `whoami`) appeared; read by `timedSubmit`. The page's clock and its own
 * events, so the numbers include neither playwright's actionability checks before the click nor its polling
 * for the chat screen after it.
 */
async function watchProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const status = document.querySelector('[data-testid=auth-status]');
    const watched = { clicked: Number.NaN, chat: Number.NaN, shown: [] as [string, number][] };
    (globalThis as unknown as { watched: typeof watched }).watched = watched;
    document.addEventListener('submit', () => (watched.clicked = performance.now()), {
      capture: true,
      once: true,
    });
    new MutationObserver((_, observer) => {
      if (document.querySelector('[data-testid=whoami]') === null) return;
      watched.chat = performance.now();
      observer.disconnect();
    }).observe(document.body, { childList: true, subtree: true });
    if (status === null) return;
    new MutationObserver(() => watched.shown.push([status.textContent ?? '', performance.now()])).observe(
      status,
      {
        childList: true,
        characterData: true,
        subtree: true,
      },
    );
  });
}

/** Clicks `button` and waits for the chat screen: the time between, and the time of each progress step. */
async function timedSubmit(page: Page, button: string): Promise<Timed> {
  await watchProgress(page);
  await page.getByRole('button', { name: button }).click();
  await page.getByTestId('whoami').waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
  const { clicked, chat, shown } = await page.evaluate(
    () =>
      (globalThis as unknown as { watched: { clicked: number; chat: number; shown: [string, number][] } })
        .watched,
  );
  const steps: [string, number][] = shown.map(([text, at], i) => [text, (shown[i + 1]?.[1] ?? chat) - at]);
  return { ms: chat - clicked, steps };
}

async function signUp(page: Page, url: string, handle: string): Promise<Timed> {
  await page.goto(url);
  await page.getByLabel('Handle').fill(handle);
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase(handle));
  await page.getByLabel('Passphrase again').fill(passphrase(handle));
  return timedSubmit(page, 'Create account');
}

async function unlock(page: Page, handle: string): Promise<Timed> {
  await page.reload();
  await page.getByLabel('Passphrase').fill(passphrase(handle));
  return timedSubmit(page, 'Unlock');
}

/**
 * When (`Date.now()`, the page's clock) `page`'s open conversation first lists a message `text` whose state
 * is `state` (any state when undefined).
 */
function shownAt(page: Page, text: string, state: string | undefined): Promise<number> {
  return page.evaluate(
    ([wanted, wantedState, timeout]) =>
      new Promise<number>((resolve, reject) => {
        const list = document.querySelector('[data-testid=messages]');
        if (list === null) throw new Error('no conversation open');
        const timer = setTimeout(() => reject(new Error(`"${wanted}" was not shown`)), timeout);
        const check = () => {
          const shown = [...list.querySelectorAll<HTMLElement>('[data-testid=message]')].some(
            (item) =>
              item.querySelector('.text')?.textContent === wanted &&
              (wantedState === null || item.dataset.state === wantedState),
          );
          if (!shown) return;
          observer.disconnect();
          clearTimeout(timer);
          resolve(Date.now());
        };
        const observer = new MutationObserver(check);
        observer.observe(list, { childList: true, subtree: true, attributes: true });
        check();
      }),
    [text, state ?? null, STEP_TIMEOUT_MS] as const,
  );
}

/**
 * Milliseconds from the click on Send in `from` to `text` in `to`'s message list, and to 'acknowledged' (the
 * delivery service stored it) in `from`'s, on the pages' clocks (one machine, one clock).
 */
async function messageLatency(from: Page, to: Page, text: string): Promise<{ read: number; stored: number }> {
  const read = shownAt(to, text, undefined);
  const stored = shownAt(from, text, 'acknowledged');
  await from.getByTestId('composer').fill(text);
  const sent = await from.evaluate(() => {
    const at = Date.now();
    document.querySelector<HTMLButtonElement>('[data-testid=send]')?.click();
    return at;
  });
  return { read: (await read) - sent, stored: (await stored) - sent };
}

async function run(condition: Condition, browser: Browser): Promise<Result> {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-app-'));
  let up: UmbraUp | undefined;
  const hog = condition === 'hog' ? startCpuHog(HOG_PROCESSES) : undefined;
  const load: number[] = [];
  try {
    up = await startUmbraUp(['--data-dir', dataDir, '--round-ms', String(roundMs)]);
    const pages = await Promise.all(USERS.map(() => openPage(browser)));
    const [alice, bob] = pages as [Page, Page];
    const signUps: Timed[] = [];
    for (const [i, handle] of USERS.entries()) signUps.push(await signUp(pages[i] as Page, up.url, handle));
    load.push(loadavg()[0] as number);
    console.log(`${condition}: sign-up ${signUps.map((t) => seconds(t.ms)).join(', ')}`);
    // Only alice and bob stay: every open tab sends its constant-rate stream, which costs CPU.
    for (const page of pages.slice(2)) await page.context().close();

    const unlocks: Timed[] = [];
    for (let i = 0; i < UNLOCKS; i++) unlocks.push(await unlock(alice, 'alice'));
    load.push(loadavg()[0] as number);
    console.log(`${condition}: unlock ${unlocks.map((t) => seconds(t.ms)).join(', ')}`);

    await alice.getByLabel('Start a conversation with').fill('bob');
    await alice.getByRole('button', { name: 'Start' }).click();
    await alice.getByTestId('composer').waitFor({ timeout: STEP_TIMEOUT_MS });
    await bob.getByRole('button', { name: 'alice' }).click({ timeout: STEP_TIMEOUT_MS });
    await bob.getByTestId('composer').waitFor({ timeout: STEP_TIMEOUT_MS });
    const latencies: number[] = [];
    const stored: number[] = [];
    for (let i = 0; i < messageCount; i++) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * POLL_SPREAD_MS));
      const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
      const latency = await messageLatency(from, to, `message ${i} of the ${condition} run`);
      latencies.push(latency.read);
      stored.push(latency.stored);
    }
    load.push(loadavg()[0] as number);
    console.log(
      `${condition}: messages p50 ${seconds(median(latencies))}, p99 ${seconds(quantile(latencies, 0.99))}`,
    );
    for (const page of [alice, bob]) await page.context().close();
    return { condition, signUps, unlocks, latencies, stored, load };
  } finally {
    hog?.stop();
    await up?.interrupt();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Median milliseconds per progress step over `runs`, by the step's text, in the order first shown. */
function stepMedians(runs: readonly Timed[]): string {
  const byStep = new Map<string, number[]>();
  for (const run of runs) {
    for (const [text, ms] of run.steps) byStep.set(text, [...(byStep.get(text) ?? []), ms]);
  }
  if (byStep.size === 0) return 'no progress line';
  return [...byStep]
    .map(
      ([text, values]) =>
        `${text.replace(/…$/, '')} ${seconds(median(values))}${values.length < runs.length ? ` (${values.length} of ${runs.length})` : ''}`,
    )
    .join('; ');
}

const browser = await launchChromium();
const chromiumVersion = browser.version();
const results: Result[] = [];
try {
  for (const condition of conditions) results.push(await run(condition, browser));
} finally {
  await browser.close();
}

const rows = results.map((r) => [
  r.condition === 'quiet' ? 'quiet' : `beside ${HOG_PROCESSES} spinning processes`,
  `${seconds(median(r.signUps.map((t) => t.ms)))} (${seconds(Math.max(...r.signUps.map((t) => t.ms)))})`,
  `${seconds(median(r.unlocks.map((t) => t.ms)))} (${seconds(Math.max(...r.unlocks.map((t) => t.ms)))})`,
  seconds(median(r.latencies)),
  seconds(quantile(r.latencies, 0.99)),
  seconds(median(r.stored)),
  String(r.latencies.length),
  r.load.map((value) => value.toFixed(1)).join(', '),
]);
const steps = results.flatMap((r) => [
  `- ${r.condition}, sign-up steps (median): ${stepMedians(r.signUps)}`,
  `- ${r.condition}, unlock steps (median): ${stepMedians(r.unlocks)}`,
]);
writeResult(
  'app',
  `# The web app in Chromium (\`npm run bench -- app\`)

${machine()}; Chromium ${chromiumVersion}

\`umbra up\` (child processes: directory, gateway, 3 mix layers of 1 node, delivery service; ${roundMs} ms
rounds${roundMs === UP_PARAMETERS.roundPeriodMs ? ', its default' : ''}, B = ${UP_PARAMETERS.batchSize}, λ = ${UP_PARAMETERS.clientSendRate} packets/s per tab) and headless Chromium on the same machine. Sign-up:
the click on "Create account" to the chat screen, ${USERS.length} new users one after the other. Unlock: a reload, then the
click on "Unlock" to the chat screen, ${UNLOCKS} times. Message: the click on Send in one tab to the text in the
other tab's list, one message at a time both ways after a random pause of up to ${POLL_SPREAD_MS / 1000} s. "Beside
spinning processes": ${HOG_PROCESSES} child processes each spinning a core (test/support/cpu-hog.ts) for the whole run.

${table(
  [
    'condition',
    'sign-up p50 (max)',
    'unlock p50 (max)',
    'message p50',
    'message p99',
    'stored (acknowledged) p50',
    'messages',
    'load average (1 min) after sign-up, unlock, messages',
  ],
  rows,
)}

${steps.join('\n')}
`,
);
