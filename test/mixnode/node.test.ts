// One mix node between a gateway and an exit sink, over real TLS links on 127.0.0.1: the shuffle, overflow,
// the pool (every packet leaves once, within its cap), node delays, the drop rules (MAC, replay, unknown hop, final hop), the replay filter across a restart,
// graceful shutdown, and epoch key rotation with its grace period.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { MixNode, type MixNodeOptions, type RoundReport } from '../../src/mixnode/index.ts';
import type { PathHop } from '../../src/sphinx/index.ts';
import {
  Gateway,
  indexedPayload,
  MemoryLogger,
  MemoryMetrics,
  nodeOptions,
  payloadIndex,
  Sink,
  sphinx,
  TestClock,
  TestNetwork,
  temporaryDirectory,
  until,
} from './support.ts';

const PERIOD_MS = 80;
/** p = 1: every eligible packet is drawn at once, so a round's shape follows from what was sent. */
const NO_POOL = { leaveProbability: 1, maxStayRounds: 1 };
const EPOCH_MS = 3_600_000;

interface Harness {
  readonly network: TestNetwork;
  readonly sink: Sink;
  readonly gateway: Gateway;
  readonly clock: TestClock;
  readonly recipient: Uint8Array;
  readonly dataDir: string;
  node: MixNode;
  metrics: MemoryMetrics;
  logger: MemoryLogger;
  reports: RoundReport[];
  /** A packet through the node to the sink, built with the node's key of `epoch` (default: the clock's). */
  packet(index: number, options?: { epoch?: number; delay?: number }): Uint8Array;
  send(packets: readonly Uint8Array[]): void;
  /** Resolves once `count` more rounds have been sent. */
  rounds(count: number): Promise<void>;
  /** Stops the node and starts another on the same data directory and id. */
  restart(): Promise<void>;
}

async function withNode(
  overrides: Partial<MixNodeOptions>,
  body: (harness: Harness) => Promise<void>,
): Promise<void> {
  await using directory = await temporaryDirectory();
  const network = new TestNetwork();
  const sink = await Sink.start(network);
  const gateway = new Gateway(network);
  const clock = new TestClock(EPOCH_MS);
  const id = randomBytes(32);
  let current: MixNode | undefined;
  network.addMix(0, id, () => current);
  const start = async () => {
    const metrics = new MemoryMetrics();
    const logger = new MemoryLogger();
    const options = nodeOptions(network, 0, directory.path, {
      id,
      epochs: clock,
      metrics,
      logger,
      round: { roundPeriodMs: PERIOD_MS, batchSize: 8 },
      ...overrides,
    });
    const node = await MixNode.start(options);
    const reports: RoundReport[] = [];
    node.onRound((report) => reports.push(report));
    current = node;
    return { node, metrics, logger, reports };
  };
  const started = await start();
  const harness: Harness = {
    network,
    sink,
    gateway,
    clock,
    recipient: randomBytes(32),
    dataDir: directory.path,
    ...started,
    packet(index, { epoch = clock.epochAt(clock.time), delay = 0 } = {}) {
      return sphinx.newPacket(network.path(epoch, sink, harness.recipient, [delay]), indexedPayload(index));
    },
    send(packets) {
      gateway.send(harness.node, packets);
    },
    async rounds(count) {
      const target = harness.reports.length + count;
      await until(() => harness.reports.length >= target, `${count} rounds`);
    },
    async restart() {
      await harness.node.stop();
      Object.assign(harness, await start());
    },
  };
  try {
    await harness.rounds(1);
    await body(harness);
  } finally {
    await harness.node.stop();
    await gateway.close();
    await sink.close();
  }
}

function realIndices(sink: Sink): number[] {
  return sink.real.map((arrival) => payloadIndex(arrival.payload as Uint8Array));
}

describe('mixing', () => {
  test('the output order of a round is shuffled', async () => {
    await withNode({ round: { roundPeriodMs: PERIOD_MS, batchSize: 32 }, pool: NO_POOL }, async (h) => {
      const perRound = 24;
      const repetitions = 4;
      let ascents = 0;
      for (let r = 0; r < repetitions; r++) {
        const before = h.sink.real.length;
        h.send(Array.from({ length: perRound }, (_, i) => h.packet(i)));
        await until(() => h.sink.real.length === before + perRound, 'the round');
        const order = realIndices(h.sink).slice(before);
        for (let i = 1; i < order.length; i++) if ((order[i] as number) > (order[i - 1] as number)) ascents++;
      }
      // A uniform shuffle of 24 has 11.5 ascents on average (sd 1.4); sending order would have 23. Over 4
      // rounds: 46 ± 2.9 against 92. The bound sits 8 standard deviations above chance.
      assert.ok(ascents < 69, `${ascents} ascents of ${repetitions * (perRound - 1)}`);
      assert.ok(ascents > 23, `${ascents} ascents: too few for a random order`);
    });
  });

  test('rounds send whole batches of B, at most two, dummies only topping up one; overflow waits', async () => {
    await withNode({ round: { roundPeriodMs: PERIOD_MS, batchSize: 4 }, pool: NO_POOL }, async (h) => {
      h.send(Array.from({ length: 22 }, (_, i) => h.packet(i)));
      await until(() => h.sink.real.length === 22, 'the 22 packets');
      await h.rounds(1);
      assert.deepEqual(
        realIndices(h.sink).sort((a, b) => a - b),
        Array.from({ length: 22 }, (_, i) => i),
      );
      const sizes = h.reports.map((report) => report.real + report.dummies);
      assert.ok(
        sizes.every((size) => size === 4 || size === 8),
        `one or two batches per round: ${sizes.join()}`,
      );
      assert.ok(
        h.reports.every((report) => report.dummies === (report.real < 4 ? 4 - report.real : 0)),
        'dummies only fill a round to one batch',
      );
      const carrying = h.reports.filter((report) => report.real > 0);
      assert.ok(carrying.length >= 3, `22 packets need 3 rounds of at most 8, took ${carrying.length}`);
      assert.ok(
        h.reports.some((report) => report.real === 8),
        'a backlog leaves two batches at a time',
      );
      assert.ok(
        carrying.some((report) => report.queued > 0),
        'overflow beyond two batches waited in the queue',
      );
      assert.ok(
        h.reports.some((report) => report.real === 0 && report.dummies === 4),
        'idle rounds are one batch of dummies',
      );
      const sent = sizes.reduce((sum, size) => sum + size, 0);
      assert.equal(h.metrics.count('mix_packets_out_total'), sent);
      assert.equal(h.metrics.count('mix_dummies_total'), sent - 22);
      // Each round's fill (real / sent) and each unwrapped batch's time are observed.
      const fills = h.metrics.observations.get('mix_round_fill_ratio') ?? [];
      assert.ok(fills.length >= h.reports.length);
      assert.deepEqual(
        fills.slice(0, h.reports.length),
        h.reports.map((report) => report.real / (report.real + report.dummies)),
      );
      const unwraps = h.metrics.observations.get('mix_unwrap_duration_seconds') ?? [];
      assert.ok(unwraps.length >= 1 && unwraps.every((seconds) => seconds >= 0));
      assert.equal(h.sink.arrivals.length % 4, 0);
    });
  });

  test('maxBatchesPerRound bounds a round; with 1 every round is exactly B', async () => {
    const options = {
      round: { roundPeriodMs: PERIOD_MS, batchSize: 4 },
      maxBatchesPerRound: 1,
      pool: NO_POOL,
    };
    await withNode(options, async (h) => {
      h.send(Array.from({ length: 10 }, (_, i) => h.packet(i)));
      await until(() => h.sink.real.length === 10, 'the ten packets');
      await h.rounds(1);
      assert.ok(h.reports.every((report) => report.real + report.dummies === 4));
      assert.ok(h.reports.filter((report) => report.real > 0).length >= 3, '10 packets need 3 rounds of 4');
    });
  });

  test('with the default pool, packets leave in random rounds, each once, within the cap on their stay', async () => {
    const maxStayRounds = 6;
    await withNode({ pool: { leaveProbability: 0.5, maxStayRounds } }, async (h) => {
      const count = 40;
      h.send(Array.from({ length: count }, (_, i) => h.packet(i)));
      await until(() => h.sink.real.length === count, 'every packet');
      await h.rounds(1);
      assert.deepEqual(
        realIndices(h.sink).sort((a, b) => a - b),
        Array.from({ length: count }, (_, i) => i),
        'each packet exactly once',
      );
      // Rounds of this node send at most 16; a packet arriving during round r may first leave in r + 1 and must
      // have left by its maxStayRounds-th round (one more if a late timer shifted the first).
      const carrying = h.reports.filter((report) => report.real > 0).map((report) => report.round);
      const span = Math.max(...carrying) - Math.min(...carrying) + 1;
      assert.ok(span <= maxStayRounds + 1, `the 40 packets left over ${span} rounds`);
      assert.ok(carrying.length >= 3, 'at most 16 per round');
    });
  });

  test('a packet waits for the node delay its sender asked for', async () => {
    await withNode({ maxDelayMs: 1_000, pool: NO_POOL }, async (h) => {
      const delayed = h.packet(1, { delay: 5 * PERIOD_MS });
      h.send([delayed, h.packet(2)]);
      await until(() => h.sink.real.length === 2, 'both packets');
      const [first, second] = h.sink.real;
      assert.deepEqual(realIndices(h.sink), [2, 1]);
      const roundsBetween = h.sink.bursts(PERIOD_MS / 2).filter((burst) => {
        const at = (burst[0] as { at: number }).at;
        return at > (first as { at: number }).at && at < (second as { at: number }).at;
      }).length;
      assert.ok(roundsBetween >= 3, `${roundsBetween} rounds between them`);

      h.send([h.packet(3, { delay: 1_001 })]);
      await until(() => h.metrics.count('mix_dropped_total', 'delay_too_long') === 1, 'the refusal');
    });
  });
});

describe('drop rules', () => {
  test('a replayed packet is dropped and counted, also after a restart on the same data directory', async () => {
    await withNode({}, async (h) => {
      const packet = h.packet(7);
      h.send([packet.slice()]);
      await until(() => h.sink.real.length === 1, 'the first copy');
      h.send([packet.slice(), packet.slice()]);
      await until(() => h.metrics.count('mix_replays_total') === 2, 'two replays counted');
      await h.rounds(2);
      assert.equal(h.sink.real.length, 1);

      await h.restart();
      h.send([packet.slice()]);
      await until(() => h.metrics.count('mix_replays_total') === 1, 'the replay after restart');
      await h.rounds(2);
      assert.equal(h.sink.real.length, 1);
      assert.equal(h.metrics.count('mix_packets_in_total'), 1);
    });
  });

  test('packets that fail their MAC, are malformed, end here or name an unknown hop are dropped and counted', async () => {
    await withNode({}, async (h) => {
      const tampered = h.packet(1);
      tampered[40] = (tampered[40] as number) ^ 1;
      const badVersion = h.packet(2);
      badVersion[0] = 1;
      const epoch = h.clock.epochAt(h.clock.time);
      const [mix] = h.network.path(epoch, h.sink, h.recipient) as [PathHop];
      const endsHere = sphinx.newPacket(
        [{ ...mix, commands: [{ type: 'recipient', id: h.recipient }] }],
        new Uint8Array(8),
      );
      const stranger = { id: randomBytes(32), publicKey: nodeBackend.x25519.generateKeyPair().publicKey };
      const unknownHop = sphinx.newPacket([{ ...mix, commands: [] }, stranger], new Uint8Array(8));
      h.send([tampered, badVersion, endsHere, unknownHop, h.packet(5)]);
      await until(() => h.sink.real.length === 1, 'the valid packet');
      await until(() => h.metrics.count('mix_dropped_total', 'unknown_next_hop') === 1, 'the drops');
      assert.equal(h.metrics.count('mix_mac_failures_total'), 1);
      assert.equal(h.metrics.count('mix_dropped_total', 'malformed'), 1);
      assert.equal(h.metrics.count('mix_dropped_total', 'not_forward'), 1);
      assert.deepEqual(realIndices(h.sink), [5]);
    });
  });
});

describe('lifecycle', () => {
  test('stop() sends the round in progress and saves the queue; the next start sends the rest', async () => {
    await withNode({ round: { roundPeriodMs: PERIOD_MS, batchSize: 2 } }, async (h) => {
      h.send(Array.from({ length: 24 }, (_, i) => h.packet(i)));
      await until(() => h.node.queueDepth >= 16, 'the packets to queue');
      await h.restart();
      await until(() => h.sink.real.length === 24, 'every packet, once');
      await h.rounds(1);
      assert.deepEqual(
        realIndices(h.sink).sort((a, b) => a - b),
        Array.from({ length: 24 }, (_, i) => i),
      );
      assert.ok(
        h.logger.lines.some(
          (line) => line.message === 'saved queue restored' && Number(line.fields.packets) > 0,
        ),
      );
      assert.equal(h.sink.arrivals.length % 2, 0, 'whole batches only, even across the restart');
    });
  });

  test('keys rotate with the epoch; the previous key opens packets only during the grace period', async () => {
    await withNode({ graceMs: 60_000 }, async (h) => {
      const epoch = h.clock.epochAt(h.clock.time);
      assert.deepEqual(h.node.liveEpochs, [epoch]);
      assert.deepEqual(
        h.node.publicKeys().map((key) => key.epoch),
        [epoch, epoch + 1],
        'the next epoch key is ready for the directory',
      );
      const late = [h.packet(1, { epoch }), h.packet(2, { epoch }), h.packet(3, { epoch })];

      h.clock.time = h.clock.startOf(epoch + 1) + 1_000;
      await until(() => h.node.liveEpochs.join() === [epoch + 1, epoch].join(), 'the grace period');
      h.send([late[0] as Uint8Array, h.packet(10, { epoch: epoch + 1 })]);
      await until(() => h.sink.real.length === 2, 'both packets');
      assert.deepEqual(
        realIndices(h.sink).sort((a, b) => a - b),
        [1, 10],
      );
      assert.ok(h.node.publicKeys().some((key) => key.epoch === epoch + 2));

      h.clock.time = h.clock.startOf(epoch + 1) + 61_000;
      await until(() => h.node.liveEpochs.join() === String(epoch + 1), 'the end of the grace period');
      h.send([late[1] as Uint8Array]);
      await until(() => h.metrics.count('mix_mac_failures_total') === 1, 'the stale packet refused');
      const files = await readdir(join(h.dataDir, 'sphinx-keys'));
      assert.ok(!files.includes(`e${epoch}.key`), 'the expired key is shredded');
      assert.ok(files.includes(`e${epoch + 1}.key`));

      // The restarted node keeps the current key: packets built before the restart still open.
      await h.restart();
      h.send([h.packet(11, { epoch: epoch + 1 })]);
      await until(() => h.sink.real.length === 3, 'the packet after restart');
    });
  });
});
