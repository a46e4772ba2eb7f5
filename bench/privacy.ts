// `npm run bench -- privacy [trials]`: the burst attackers of issue 18 (src/privacy/bursts.ts) on real mix
// nodes with every link tapped by the observer's own process. Each trial: a random sender queues a burst of
// 3 messages for a random other client, who reads each one (a request of its own through the mixes).
// Per configuration: how often the hop-by-hop tracer that simulates the mixes' queues (intersected over the
// burst) names the sender, and, from the reads that follow each message, the recipient; each at shifted
// times where nothing was sent (null control); the connection-lifetime attacker; chance 1/k and 2σ; the
// messages' latency from queueing to delivery. The first row is the mixes configured with no mixing to
// speak of (B = 1, no pool, 20 ms rounds): there the attackers must win. Default 100 trials per row.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POOL, type PoolParameters } from '../src/mixnode/index.ts';
import {
  type BurstExperimentOptions,
  type BurstExperimentResult,
  runBurstExperiment,
} from '../src/privacy/index.ts';
import { UP_PARAMETERS } from '../src/up/role.ts';
import { machine, table, writeResult } from './lib.ts';

const TRIALS = Number(process.argv[3] ?? 100);
const NO_POOL: PoolParameters = { leaveProbability: 1, maxStayRounds: 1 };

interface Row
  extends Pick<
    BurstExperimentOptions,
    'nodesPerLayer' | 'roundPeriodMs' | 'batchSize' | 'pool' | 'clients' | 'clientSendRate' | 'reads'
  > {
  readonly name: string;
}

/** The mixes' default pool at 100 ms rounds and B = 16, on `nodesPerLayer` nodes per layer. */
const pooled = (nodesPerLayer: number, clients: number, clientSendRate: number): Row => ({
  name: `pool, 3 × ${nodesPerLayer}`,
  nodesPerLayer,
  roundPeriodMs: 100,
  batchSize: 16,
  pool: DEFAULT_POOL,
  clients,
  clientSendRate,
});

const NO_MIXING = { roundPeriodMs: 20, batchSize: 1, pool: NO_POOL } as const;

const ROWS: readonly Row[] = [
  { ...pooled(1, 8, 2), ...NO_MIXING, name: 'no mixing (B = 1, no pool), reads at once', reads: 'at-once' },
  { ...pooled(1, 8, 2), ...NO_MIXING, name: 'no mixing (B = 1, no pool)' },
  { ...pooled(1, 8, 20), name: 'oldest first (no pool), λ as umbra up', pool: NO_POOL },
  { ...pooled(1, 8, 20), name: 'umbra up defaults, 3 × 1', roundPeriodMs: UP_PARAMETERS.roundPeriodMs },
  { ...pooled(1, 8, 20), name: 'pool at 100 ms, 3 × 1' },
  { ...pooled(1, 20, 20), name: 'pool at 100 ms, 3 × 1' },
  { ...pooled(2, 8, 20), name: 'pool at 100 ms, 3 × 2' },
  { ...pooled(2, 20, 20), name: 'pool at 100 ms, 3 × 2' },
  { ...pooled(1, 8, 20), name: 'pool at 100 ms, 3 × 1, reads at once', reads: 'at-once' },
  { ...pooled(1, 20, 2), name: 'sparse traffic, 3 × 1' },
  { ...pooled(2, 20, 2), name: 'sparse traffic, 3 × 2' },
];

const rate = (count: number, trials: number) => `${count}/${trials} = ${(count / trials).toFixed(3)}`;

const results: [Row, BurstExperimentResult, number][] = [];
for (const row of ROWS) {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-privacy-'));
  try {
    const result = await runBurstExperiment({
      dataDir,
      layers: 3,
      gateways: 1,
      trials: TRIALS,
      burst: 3,
      spacingMs: 1_500,
      ...row,
    });
    results.push([row, result, loadavg()[0] ?? 0]);
    console.log(row.name, row.clients, JSON.stringify(result));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const markdown = `# Privacy: burst attackers on real mix nodes (\`npm run bench -- privacy\`)

${machine()}

Each row: 3 layers, one gateway, k clients at λ packets/s each for the whole run, ${TRIALS} trials 1.5 s
apart, each a burst of 3 messages from a random client to a random other, who reads each (a request of
its own through the mixes, as the SDK fetches after a push): on its next constant-rate tick as the SDK
does, or at once where a row says so (a client without constant-rate sending); every link tapped (times and lengths, in the
observer's own process). *Sender*: the hop-by-hop tracer that simulates the mixes' queue discipline
(rounds, p, R), intersected over the burst. *Receiver*: the same tracer on the requests that reached the
service after each message, each weighed by the density of read delays, intersected over the burst.
*Null*: each with every
delivery moved 0.75 s later, where nothing was delivered. *Lifetime*: the client whose connection opened
last before the burst.
Chance is 1/k; the bound is chance + 2σ. Latency: queueing to delivery, p50 / p99. Load: the 1-minute load
average when the row ended; event loop: this process's p99 delay (above ~100 ms the run was starved and its
timestamps blurred).

${table(
  [
    'configuration',
    'round, B, p, R',
    'k, λ',
    'sender',
    'sender null',
    'receiver',
    'receiver null',
    'lifetime',
    'chance + 2σ',
    'delivered',
    'latency p50 / p99',
    'load',
    'event loop p99',
  ],
  results.map(([row, { report, queued, delivered, reads, latency, eventLoopDelayP99Ms }, load]) => [
    `${row.name}${row.reads === 'at-once' ? '' : ', reads on ticks'}`,
    `${row.roundPeriodMs} ms, ${row.batchSize}, ${row.pool.leaveProbability}, ${row.pool.maxStayRounds}`,
    `${row.clients}, ${row.clientSendRate}/s`,
    rate(report.sender, report.trials),
    rate(report.nullControl, report.trials),
    rate(report.receiver, report.trials),
    rate(report.receiverNull, report.trials),
    rate(report.lifetime, report.trials),
    (report.chance + 2 * report.sigma).toFixed(3),
    `${delivered}/${queued}, ${reads} read`,
    `${latency.p50.toFixed(0)} / ${latency.p99.toFixed(0)} ms`,
    load.toFixed(1),
    `${eventLoopDelayP99Ms.toFixed(0)} ms`,
  ]),
)}
`;
writeResult('privacy', markdown);
