// The global passive adversary harness on real mix nodes over real TLS links in this process (see
// docs/privacy.md): 2 gateways, 3 layers × 2 mix nodes, 20 clients at a constant Poisson rate, 10
// conversations. An observer taps every link; a timing-correlation attacker guesses each real message's
// sender. With round-based mixing it must do no better than a perfect shuffle of each round would allow;
// with mixing turned off (immediate relays) it must link nearly every message, or the harness detects nothing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type ExperimentOptions,
  type ExperimentResult,
  runExperiment,
  STANDARD_EXPERIMENT,
} from '../../src/privacy/index.ts';

const BASE: Omit<ExperimentOptions, 'dataDir' | 'mixing'> = { ...STANDARD_EXPERIMENT, durationMs: 6000 };

async function run(mixing: 'rounds' | 'off'): Promise<ExperimentResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-privacy-'));
  try {
    const result = await runExperiment({ ...BASE, dataDir, mixing });
    const { report } = result;
    console.log(
      `mixing ${mixing}: attacker ${report.correct}/${report.messages} = ${report.successRate.toFixed(3)}; ` +
        `chance (perfect shuffle per round) ${report.chance.toFixed(3)} ± ${report.margin.toFixed(3)}; ` +
        `1/k ${report.inverseK.toFixed(3)} (mean k ${report.meanK.toFixed(1)} of ${BASE.clients}); ` +
        `latency p50 ${report.latency.p50.toFixed(0)} ms p99 ${report.latency.p99.toFixed(0)} ms; ` +
        `packets per second per client ${result.observedRate.toFixed(2)} (λ ${BASE.clientSendRate}); ` +
        `conversations identified by intersection ${report.conversations.identified}/${report.conversations.total}; ` +
        `bytes per connection beyond whole packets: ${result.residues.join(', ')}; ` +
        `event-loop delay p99 ${result.eventLoopDelayP99Ms.toFixed(0)} ms`,
    );
    return result;
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Longest prologue of a link connection: the client's encrypted TLS flight (≈ 400 bytes) and the preamble. */
const MAX_PROLOGUE = 1024;

function assertOnePacketSize(result: ExperimentResult): void {
  // 20 client links, 2 gateways × 2 layer-1 nodes, 4 + 4 between layers, 2 × 2 into the exits.
  assert.equal(result.links, 20 + 4 + 4 + 4 + 4, 'every link observed');
  // Each connection carried whole packets and its prologue, nothing of another size: a message of any other
  // length would leave a remainder anywhere in [0, packetLength).
  assert.ok(
    result.residues.every((residue) => residue <= MAX_PROLOGUE),
    `bytes beyond whole ${result.packetLength}-byte packets: ${result.residues.join(', ')}`,
  );
}

test('with round-based mixing, the timing attacker does no better than chance', async () => {
  const result = await run('rounds');
  const { report } = result;
  assertOnePacketSize(result);
  assert.equal(result.delivered, result.queued, 'every real message delivered');
  assert.ok(report.messages >= 40, `enough messages to judge (${report.messages})`);
  assert.equal(result.loops.returned, result.loops.sent, 'no loop lost');
  assert.ok(
    report.successRate <= report.chance + report.margin,
    `attacker ${report.successRate.toFixed(3)} > chance ${report.chance.toFixed(3)} + ${report.margin.toFixed(3)}`,
  );
});

/** Above this event-loop delay the process was starved of CPU and the timestamps blur (see docs/privacy.md). */
const STARVED_MS = 100;

test('with mixing turned off, the same attacker links nearly every message', async (t) => {
  // On a machine busy with other processes the run is repeated, and skipped (visibly) if it stays starved.
  let result = await run('off');
  for (let retry = 0; retry < 2 && result.eventLoopDelayP99Ms > STARVED_MS; retry++)
    result = await run('off');
  const { report } = result;
  assertOnePacketSize(result);
  assert.equal(result.delivered, result.queued, 'every real message delivered');
  assert.ok(report.messages >= 40, `enough messages to judge (${report.messages})`);
  if (result.eventLoopDelayP99Ms > STARVED_MS) {
    t.skip(
      `the machine starved this process (event-loop delay p99 ${result.eventLoopDelayP99Ms.toFixed(0)} ms)`,
    );
    return;
  }
  assert.ok(report.successRate >= 0.6, `attacker linked only ${report.successRate.toFixed(3)}`);
  assert.ok(report.successRate > report.chance + report.margin, 'far above chance');
});
