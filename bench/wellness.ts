// `npm run bench -- wellness`: the wellness layer's budgets (issue 16). (1) The FWI, trends, adherence and
// patterns computed over a year of daily entries (four kinds a day): the pure computation in Node and in
// Chromium (the same module bundled by esbuild-wasm, run in a page), and `client.wellness.insights()` reading
// its window from a real vault — budget 50 ms. (2) Messages per share to a care team of ten (four circle,
// four coaching, two clinical) over a devnet's mix layers with the real delivery service: the owner's
// postToLog requests during one `share()` — budget one per tier.
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Client } from '../src/client/client.ts';
import type { NewEntry, RawEntry } from '../src/client/wellness/entries.ts';
import { computeInsights } from '../src/client/wellness/insights.ts';
import type { SupporterRole } from '../src/client/wellness/roles.ts';
import type { Carrier, CarrierRequestOptions } from '../src/protocol/carrier.ts';
import { decodeRequest } from '../src/protocol/messages.ts';
import { CHROMIUM, launchChromium } from '../test/browser/support.ts';
import { DeliveryMixnet } from '../test/client/mixnet-support.ts';
import { clientOptions, removeTempDirs, tempDir } from '../test/client/support.ts';
import { machine, median, table, time, writeResult } from './lib.ts';

const DAYS = 365;
const RUNS = 21;
const ASOF = '2025-12-31';
const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
const loadBefore = load();

function yearOfEntries(): NewEntry[] {
  const start = Date.parse('2025-01-01T00:00:00Z');
  return Array.from({ length: DAYS }, (_, day) => {
    const date = new Date(start + day * 86_400_000).toISOString().slice(0, 10);
    return [
      { kind: 'activity', date, steps: 5000 + ((day * 37) % 6000), activeMinutes: 10 + (day % 40) },
      { kind: 'sleep', date, hours: 6 + (day % 5) / 2, quality: 1 + (day % 5) },
      { kind: 'mood', date, score: 1 + ((day * 3) % 5) },
      { kind: 'nutrition', date, fruitVegServings: day % 7, waterLitres: 1 + (day % 3) / 2 },
    ] as NewEntry[];
  }).flat();
}

const entries = yearOfEntries();
const raw: RawEntry[] = entries.map((entry, index) => ({ ...entry, id: `e${index}`, loggedAt: 0 }));
const checkIns = Array.from({ length: 52 }, (_, week) => ({
  dueDate: new Date(Date.parse('2025-01-05T00:00:00Z') + week * 7 * 86_400_000).toISOString().slice(0, 10),
  completed: week % 3 !== 0,
}));

async function medianMs(operation: () => unknown | Promise<unknown>): Promise<number> {
  await operation();
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) times.push((await time(async () => operation()))[1]);
  return median(times);
}

const rows: string[][] = [];
const pureNode = await medianMs(() => computeInsights(raw, checkIns, ASOF));
rows.push(['computeInsights, a year (1,460 entries, 52 check-ins)', 'Node', pureNode.toFixed(2)]);

// The page: the same module, bundled for browsers, timed with performance.now() in the page.
if (existsSync(CHROMIUM)) {
  const esbuild = await import('esbuild-wasm');
  // An ES module (the crypto backend it imports awaits at top level) that hands the function to the page.
  const insightsModule = new URL('../src/client/wellness/insights.ts', import.meta.url).pathname;
  const bundled = await esbuild.build({
    stdin: {
      contents: `import { computeInsights } from ${JSON.stringify(insightsModule)}; globalThis.computeInsights = computeInsights;`,
      resolveDir: new URL('..', import.meta.url).pathname,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    conditions: ['browser'],
    target: 'es2023',
  });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // Served from an http origin: the bundle resolves URLs against import.meta.url, which about:blank lacks.
    const js = bundled.outputFiles[0]?.text ?? '';
    await page.route('http://bench.invalid/**', (route) =>
      route.request().url().endsWith('.js')
        ? route.fulfill({ body: js, contentType: 'text/javascript' })
        : route.fulfill({
            body: '<script type="module" src="/insights.js"></script>',
            contentType: 'text/html',
          }),
    );
    await page.goto('http://bench.invalid/');
    await page.waitForFunction(() => 'computeInsights' in globalThis);
    const inPage = await page.evaluate(
      ({ entries: year, checkIns: due, asOf, runs }) => {
        const compute = (globalThis as unknown as { computeInsights: typeof computeInsights })
          .computeInsights;
        compute(year, due, asOf);
        const times: number[] = [];
        for (let run = 0; run < runs; run++) {
          const start = performance.now();
          compute(year, due, asOf);
          times.push(performance.now() - start);
        }
        return times.sort((a, b) => a - b)[Math.floor(runs / 2)] ?? Number.NaN;
      },
      { entries: raw, checkIns, asOf: ASOF, runs: RUNS },
    );
    rows.push([
      'computeInsights, a year (1,460 entries, 52 check-ins)',
      `Chromium ${browser.version()}`,
      inPage.toFixed(2),
    ]);
  } finally {
    await browser.close();
  }
}

// Through the SDK: a year logged in a real vault (one write a month), insights() reads its 30-day window.
const reader = await Client.open(clientOptions(tempDir(), []));
const [, importMs] = await time(() => reader.wellness.logMany(entries));
const vaultMs = await medianMs(() => reader.wellness.insights(ASOF));
rows.push([
  'client.wellness.insights() over a vault holding a year',
  'Node (directory vault)',
  vaultMs.toFixed(2),
]);
await reader.close();

// Messages per share: the owner's requests during one share() to a team of ten.
class Counting implements Carrier {
  readonly kind: Carrier['kind'];
  readonly posts: number[] = [];
  readonly #inner: Carrier;
  counting = false;
  constructor(inner: Carrier) {
    this.#inner = inner;
    this.kind = inner.kind;
  }
  request(request: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array> {
    if (this.counting && decodeRequest(request).kind === 'postToLog') this.posts.push(request.length);
    return this.#inner.request(request, options);
  }
  status() {
    return this.#inner.status();
  }
  onStatus(listener: Parameters<Carrier['onStatus']>[0]) {
    return this.#inner.onStatus(listener);
  }
  close() {
    return this.#inner.close();
  }
}

const network = await DeliveryMixnet.start(tempDir(), { roundPeriodMs: 20 });
const team: [string, SupporterRole][] = [
  ['fred', 'friend'],
  ['fiona', 'family'],
  ['colin', 'colleague'],
  ['frank', 'friend'],
  ['carla', 'coach'],
  ['tom', 'trainer'],
  ['cora', 'coach'],
  ['tina', 'trainer'],
  ['cleo', 'clinician'],
  ['clara', 'clinician'],
];
const clients: Client[] = [];
try {
  const ownerCarrier = new Counting(await network.carrier());
  const open = async (handle: string, carrier: Carrier) => {
    const client = await Client.open(
      clientOptions(tempDir(), [carrier], { privacy: 'mixnet', pollIntervalMs: 500 }),
    );
    clients.push(client);
    await client.register(handle);
    return client;
  };
  const [owner] = await Promise.all([
    open('olivia', ownerCarrier),
    ...team.map(async ([handle]) => open(handle, await network.carrier())),
  ]);
  if (owner === undefined) throw new Error('no owner');
  await owner.wellness.logMany(entries.filter((entry) => entry.date > '2025-11-30'));
  await Promise.all(team.map(([handle, role]) => owner.wellness.invite(handle, role)));
  ownerCarrier.counting = true;
  const results = await owner.wellness.share(ASOF);
  ownerCarrier.counting = false;
  const tiers = results.filter((r) => r.sent).length;
  rows.push([
    `share() to a care team of ${team.length} in ${tiers} tiers`,
    'devnet, 20 ms rounds',
    `${ownerCarrier.posts.length} postToLog (${(ownerCarrier.posts.reduce((a, b) => a + b, 0) / 1024).toFixed(1)} KiB)`,
  ]);
} finally {
  for (const client of clients) await client.close();
  await network.stop();
  removeTempDirs();
}

writeResult(
  'wellness',
  `# Wellness layer (issue 16)\n\n${machine()}; load average before ${loadBefore}, after ${load()}\n\n${table(
    ['what', 'where', 'median ms (or messages)'],
    rows,
  )}\n\nBudgets: the FWI and trends over a year of daily entries ≤ 50 ms in the browser; a share costs at most one message per tier. Median of ${RUNS} runs after one warm-up. The insights read only their 30-day window, so the vault row is dominated by reading and decrypting two month records; logging the year took ${importMs.toFixed(0)} ms with logMany (one write a month). The share row counts the owner's postToLog requests during one share(), whatever the team's size.`,
);
