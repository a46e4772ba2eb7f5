// The burst attackers of issue 18 on real mix nodes, every link tapped by the observer's own process
// (src/privacy/bursts.ts; the longer version is `npm run bench -- privacy`): a random sender's burst of 3
// messages per trial to a random recipient, who reads each one, k = 8 clients. With the mixes configured
// not to mix (B = 1, no pool, 20 ms rounds) and reads sent the moment a message arrives, the hop-by-hop
// tracer that simulates their queues names nearly every sender, and from the reads nearly every recipient,
// so the harness sees a leak when there is one; with the pool and reads on the constant-rate ticks (as the
// SDK sends them) both stay within chance + 3σ, as do the tracer's null control at shifted times and the
// connection-lifetime attacker (every client keeps one connection for the whole run).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_POOL, type PoolParameters } from '../../src/mixnode/index.ts';
import {
  type BurstExperimentOptions,
  type BurstExperimentResult,
  runBurstExperiment,
} from '../../src/privacy/index.ts';
import { UP_OPTIONS } from '../../src/up/role.ts';

const BASE = { layers: 3, nodesPerLayer: 1, gateways: 1, clients: 8, burst: 3, spacingMs: 1_000 } as const;

/** Above this event-loop delay the process was starved of CPU and the timestamps blur (docs/privacy.md). */
const STARVED_MS = 100;

async function run(
  options: Omit<BurstExperimentOptions, 'dataDir' | keyof typeof BASE>,
): Promise<BurstExperimentResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bursts-'));
  try {
    const result = await runBurstExperiment({ ...BASE, ...options, dataDir });
    const { report } = result;
    console.log(
      `B ${options.batchSize}, p ${options.pool.leaveProbability}: tracer ${report.sender}/${report.trials}, ` +
        `null ${report.nullControl}, receiver ${report.receiver} (null ${report.receiverNull}), ` +
        `lifetime ${report.lifetime}, chance ${report.chance.toFixed(3)} ± ` +
        `${report.sigma.toFixed(3)}; delivered ${result.delivered}/${result.queued}; latency p50 ` +
        `${result.latency.p50.toFixed(0)} ms; event-loop delay p99 ${result.eventLoopDelayP99Ms.toFixed(0)} ms`,
    );
    return result;
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const NO_POOL: PoolParameters = { leaveProbability: 1, maxStayRounds: 1 };

test('with the mixes not mixing and reads sent at once, the tracer names nearly every sender and recipient', async (t) => {
  const result = await run({
    roundPeriodMs: 20,
    batchSize: 1,
    pool: NO_POOL,
    clientSendRate: 2,
    trials: 30,
    reads: 'at-once',
  });
  const { report } = result;
  // Checked first: with B = 1 a stalled loop overflows the mixes' queues (16 packets), and they drop.
  if (result.eventLoopDelayP99Ms > STARVED_MS) {
    t.skip(
      `the machine starved this process (event-loop delay p99 ${result.eventLoopDelayP99Ms.toFixed(0)} ms)`,
    );
    return;
  }
  assert.equal(result.delivered, result.queued, 'every message delivered');
  assert.equal(result.reads, result.queued, 'every message read');
  // On a quiet machine they name 95–98 of 100 (bench/results/privacy.md: the ≥ 0.9 criterion). Beside a
  // busy suite the taps' timestamps blur (26 of 30 recipients at an event-loop delay of 43 ms; the tracer
  // 21 of 30 at 80 ms, load 15); what the test holds is that the harness links far above chance: half the
  // trials, where chance + 3σ is 0.31 at 30 trials.
  for (const [attacker, right] of [
    ['tracer', report.sender],
    ['receiver attacker', report.receiver],
  ] as const) {
    assert.ok(right / report.trials >= 0.5, `the ${attacker} named ${right} of ${report.trials}`);
  }
});

test("with the pool and reads on ticks, the sender and receiver attackers, the sender's null control and the lifetime attacker stay within chance", async () => {
  // At `umbra up`'s rounds, B and λ = 20 packets/s. At λ = 5 (100 ms rounds) the mixes' rounds hold so few
  // packets that the tracer sits near its bound (12 of 40 in one run of three on a quiet machine, and a CI run
  // failed on the receiver's 12): a thin network leaks, which docs/privacy.md measures; this test holds the
  // shipped one.
  const result = await run({
    roundPeriodMs: UP_OPTIONS.roundMs.default,
    batchSize: UP_OPTIONS.batchSize.default,
    pool: DEFAULT_POOL,
    clientSendRate: UP_OPTIONS.sendRate.default,
    trials: 40,
  });
  const { report } = result;
  assert.equal(result.delivered, result.queued, 'every message delivered');
  assert.equal(result.reads, result.queued, 'every message read');
  const bound = report.trials * (report.chance + 3 * report.sigma);
  for (const [attacker, right] of [
    ['tracer', report.sender],
    ['null control', report.nullControl],
    // The receiver's null control is printed, not asserted: its windows, half a trial spacing later, still
    // hold the burst's own later reads, so it sits above chance by design (docs/privacy.md: 0.36 without
    // mixing); the bench reads it beside the receiver column.
    ['receiver', report.receiver],
    ['lifetime', report.lifetime],
  ] as const) {
    assert.ok(right <= bound, `${attacker}: ${right} of ${report.trials} > ${bound.toFixed(1)}`);
  }
});
