// The round rules of a real mix node (src/mixnode/node.ts, docs/mixnode.md "Round size", "The pool"), driven
// round by round by a virtual clock (test/support/virtual-clock.ts): no round fires until the test advances
// time, so each assertion is about one named round, never about wall time. Packets still travel over real
// TLS links and are unwrapped for real; the test waits for them to be queued before it ends a round.
// - batch fill: a round sends one whole batch of B, its real packets topped up with dummies;
// - the backlog rule: at most two batches a round, only whole batches of real packets beyond the first,
//   the rest waiting in the pool for later rounds;
// - the pool: a packet leaves in a round exactly when that round's draw for it falls below p (a scripted
//   random source), and for sure once it has waited maxStayRounds; with a seeded source, every packet leaves
//   once, within the cap;
// - the epoch switch: with no traffic at all, the round at an epoch boundary moves the keys (the previous
//   key kept for the grace period, the next one made ahead), the next round builds its dummies for the new
//   epoch, and the round at the end of the grace period drops the old key. (test/hop/key-rotation.test.ts
//   checks the window itself; this checks that the rounds drive it.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import type { EpochClock } from '../../src/hop/types.ts';
import { MixNode, type MixNodeOptions, type RoundReport } from '../../src/mixnode/index.ts';
import { seededRandom } from '../support/random.ts';
import { VirtualClock } from '../support/virtual-clock.ts';
import {
  Gateway,
  indexedPayload,
  MemoryMetrics,
  nodeOptions,
  payloadIndex,
  Sink,
  sphinx,
  TestNetwork,
  temporaryDirectory,
  until,
} from './support.ts';

const PERIOD_MS = 100;
const EPOCH_MS = 10 * PERIOD_MS;
const GRACE_MS = 5 * PERIOD_MS;
const B = 4;
/** p = 1: every eligible packet is drawn at once, so a round's shape follows from what was sent. */
const NO_POOL = { leaveProbability: 1, maxStayRounds: 1 };
/** A draw that picks a packet (below any p) and one that never does (p < 1). */
const PICK = 0;
const KEEP = 0xffff_ffff;

interface Rounds {
  readonly clock: VirtualClock;
  readonly node: MixNode;
  readonly sink: Sink;
  readonly metrics: MemoryMetrics;
  /** The epochs the node asked the topology for dummy routes, in order. */
  readonly dummyEpochs: number[];
  readonly epochs: EpochClock;
  /** Sends `count` packets (indices from `first`) and waits until the node has queued them all. */
  send(count: number, first?: number): Promise<void>;
  /** Ends the current round (the clock moves one period) and returns what it sent. */
  round(): RoundReport;
  /** Waits until the sink has received `count` packets in all. */
  received(count: number): Promise<void>;
}

async function withRounds(
  overrides: Partial<MixNodeOptions>,
  body: (rounds: Rounds) => Promise<void>,
): Promise<void> {
  await using directory = await temporaryDirectory();
  const network = new TestNetwork();
  const sink = await Sink.start(network);
  const gateway = new Gateway(network);
  // Three rounds into an epoch and a little past a round's end, so arrivals fall inside a round.
  const clock = new VirtualClock(1_000 * EPOCH_MS + 3 * PERIOD_MS + 10);
  const epochs = clock.epochs(EPOCH_MS);
  const topology = network.topology(0);
  const dummyEpochs: number[] = [];
  const metrics = new MemoryMetrics();
  const recipient = randomBytes(32);
  const id = randomBytes(32);
  let node: MixNode | undefined;
  network.addMix(0, id, () => node);
  node = await MixNode.start(
    nodeOptions(network, 0, directory.path, {
      id,
      graceMs: GRACE_MS,
      clock,
      epochs,
      metrics,
      topology: {
        ...topology,
        hopsAfter: (epoch) => {
          dummyEpochs.push(epoch);
          return topology.hopsAfter(epoch);
        },
      },
      round: { roundPeriodMs: PERIOD_MS, batchSize: B },
      ...overrides,
    }),
  );
  const running = node;
  const reports: RoundReport[] = [];
  running.onRound((report) => reports.push(report));
  try {
    await body({
      clock,
      node: running,
      sink,
      metrics,
      dummyEpochs,
      epochs,
      async send(count, first = 0) {
        const epoch = epochs.epochAt(clock.now());
        const target = running.queueDepth + count;
        const packets = Array.from({ length: count }, (_, i) =>
          sphinx.newPacket(network.path(epoch, sink, recipient), indexedPayload(first + i)),
        );
        gateway.send(running, packets);
        await until(() => running.queueDepth >= target, `${count} packets queued`);
      },
      round() {
        const before = reports.length;
        clock.advance(PERIOD_MS);
        assert.equal(reports.length, before + 1, 'one round per period');
        return reports[before] as RoundReport;
      },
      async received(count) {
        await until(() => sink.arrivals.length >= count, `${count} packets at the sink`);
      },
    });
  } finally {
    // stop() sends the round in progress at its scheduled end, and its links close within their deadline,
    // all on this clock: move it a period at a time whenever something waits on it, until stop() is done.
    let stopped = false;
    const stopping = running.stop().then(() => {
      stopped = true;
    });
    while (!stopped) {
      await until(() => stopped || clock.pending > 0, 'the node stopped or waiting on its clock');
      if (!stopped) clock.advance(PERIOD_MS);
    }
    await stopping;
    await gateway.close();
    await sink.close();
  }
}

/** A random source that yields `draws` as 32-bit values, in order, then only `KEEP`. */
function scripted(draws: readonly number[]): (length: number) => Uint8Array {
  const queue = [...draws];
  return (length) => {
    const values = Uint32Array.from({ length: length / 4 }, () => queue.shift() ?? KEEP);
    return new Uint8Array(values.buffer);
  };
}

/** A seeded random source (mulberry32 bytes), the same on every run. */
function seededBytes(seed: number): (length: number) => Uint8Array {
  const random = seededRandom(seed);
  return (length) => Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

const shape = ({ real, dummies, queued }: RoundReport) => ({ real, dummies, queued });

describe('round rules in virtual time', () => {
  test('batch fill: a round sends one whole batch of B, real packets topped up with dummies', async () => {
    await withRounds({ pool: NO_POOL }, async (r) => {
      assert.deepEqual(shape(r.round()), { real: 0, dummies: B, queued: 0 }, 'an idle round is all dummies');
      await r.send(3);
      assert.deepEqual(shape(r.round()), { real: 3, dummies: 1, queued: 0 });
      await r.send(B);
      assert.deepEqual(shape(r.round()), { real: B, dummies: 0, queued: 0 }, 'a full batch needs no dummy');
      await r.received(3 * B);
      assert.equal(r.sink.real.length, 3 + B, 'every real packet reached the exit, in rounds of B');
      assert.deepEqual(
        r.sink.real.map((arrival) => payloadIndex(arrival.payload as Uint8Array)).sort((a, b) => a - b),
        [0, 0, 1, 1, 2, 2, 3],
      );
    });
  });

  test('backlog: at most two batches a round, only whole batches beyond the first; the rest waits', async () => {
    await withRounds({ pool: NO_POOL }, async (r) => {
      await r.send(2 * B + 3);
      assert.deepEqual(shape(r.round()), { real: 2 * B, dummies: 0, queued: 3 }, 'two batches, no more');
      assert.deepEqual(shape(r.round()), { real: 3, dummies: 1, queued: 0 }, 'the rest next round');
      await r.send(B + 2);
      assert.deepEqual(
        shape(r.round()),
        { real: B, dummies: 0, queued: 2 },
        'B + 2 is one whole batch: the two wait rather than leave in a short second batch',
      );
      assert.deepEqual(shape(r.round()), { real: 2, dummies: B - 2, queued: 0 });
      await r.send(5 * B);
      const sizes = [r.round(), r.round(), r.round()].map((report) => report.real + report.dummies);
      assert.deepEqual(sizes, [2 * B, 2 * B, B], 'a backlog of 5 batches drains two at a time');
    });
  });

  test('maxBatchesPerRound = 1: every round is exactly B whatever the backlog', async () => {
    await withRounds({ pool: NO_POOL, maxBatchesPerRound: 1 }, async (r) => {
      await r.send(2 * B + 1);
      assert.deepEqual(shape(r.round()), { real: B, dummies: 0, queued: B + 1 });
      assert.deepEqual(shape(r.round()), { real: B, dummies: 0, queued: 1 });
      assert.deepEqual(shape(r.round()), { real: 1, dummies: B - 1, queued: 0 });
    });
  });

  test('pool: a packet leaves when its draw falls below p, and for sure after maxStayRounds', async () => {
    // Round 1 draws for 4 packets: two below p = 1/2. Round 2 draws for the 2 left: neither. Round 3: the
    // cap (3 rounds) takes both whatever their draws.
    const randomBytes = scripted([PICK, KEEP, 2 ** 31 - 1, 2 ** 31, KEEP, KEEP]);
    await withRounds({ pool: { leaveProbability: 0.5, maxStayRounds: 3 }, randomBytes }, async (r) => {
      await r.send(4);
      assert.deepEqual(
        [r.round(), r.round(), r.round()].map((report) => report.real),
        [2, 0, 2],
      );
      assert.equal(r.node.queueDepth, 0);
    });
  });

  test('pool: with draws that never pick, every packet waits exactly maxStayRounds', async () => {
    await withRounds(
      { pool: { leaveProbability: 0.5, maxStayRounds: 4 }, randomBytes: scripted([]) },
      async (r) => {
        await r.send(3);
        assert.deepEqual(
          [r.round(), r.round(), r.round(), r.round()].map((report) => report.real),
          [0, 0, 0, 3],
        );
      },
    );
  });

  test('pool: seeded draws at p = 1/2 — each packet leaves once, about half per round, none past the cap', async () => {
    const R = 5;
    await withRounds(
      {
        round: { roundPeriodMs: PERIOD_MS, batchSize: 64 },
        pool: { leaveProbability: 0.5, maxStayRounds: R },
        randomBytes: seededBytes(13),
      },
      async (r) => {
        await r.send(64);
        const left = Array.from({ length: R }, () => r.round().real);
        assert.equal(
          left.reduce((sum, count) => sum + count, 0),
          64,
          `all leave within ${R} rounds: ${left}`,
        );
        // Each round takes about half of what is left (binomial), not all of it and not none.
        assert.ok(left[0] !== undefined && left[0] > 16 && left[0] < 48, `first round: ${left}`);
        assert.ok(left[1] !== undefined && left[1] > 4 && left[1] < 28, `second round: ${left}`);
        await r.received(64 * R);
        const indices = r.sink.real.map((arrival) => payloadIndex(arrival.payload as Uint8Array));
        assert.equal(new Set(indices).size, 64, 'each packet exactly once');
      },
    );
  });

  test('epoch switch: with no traffic, the round at the boundary moves the keys; the next round’s dummies follow', async () => {
    await withRounds({ pool: NO_POOL }, async (r) => {
      const epoch = r.epochs.epochAt(r.clock.now());
      const boundary = r.epochs.startOf(epoch + 1);
      const nextRound = () => (Math.floor(r.clock.now() / PERIOD_MS) + 1) * PERIOD_MS;
      // Every round before the boundary: the epoch's keys, its dummies.
      while (nextRound() < boundary) r.round();
      assert.deepEqual(r.node.liveEpochs, [epoch]);
      assert.ok(r.dummyEpochs.length > 0 && r.dummyEpochs.every((asked) => asked === epoch));
      // The round at the boundary starts the rotation (nothing else calls it: no packet arrives).
      assert.equal(nextRound(), boundary);
      r.round();
      await until(() => r.node.liveEpochs.join() === [epoch + 1, epoch].join(), 'the new window');
      assert.ok(
        r.node.publicKeys().some((key) => key.epoch === epoch + 2),
        'the next key made ahead',
      );
      // The next round discards the dummies reserved for the old epoch and builds them for the new one.
      const asked = r.dummyEpochs.length;
      assert.equal(r.round().dummies, B);
      const after = r.dummyEpochs.slice(asked);
      assert.ok(after.length > 0 && after.every((e) => e === epoch + 1), `asked for ${after}`);
      // After the grace period the old key is gone, again with no traffic.
      while (nextRound() < boundary + GRACE_MS) r.round();
      r.round();
      await until(() => r.node.liveEpochs.join() === String(epoch + 1), 'the end of the grace period');
    });
  });
});
