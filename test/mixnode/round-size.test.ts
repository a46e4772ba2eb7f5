// The round rule (src/mixnode/round-queue.ts `roundSize`) on the round queue, driven round by round without
// timers: a later-layer node fed on average one batch per round, with the variance of uniformly routed
// traffic, drains a backlog with the default of two batches per round, and stays backed up at one (the flaw
// of issue 5: utilization 1); no round is ever smaller than B; only whole batches leave; overflow beyond
// the bound waits for later rounds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type QueuedPacket, RoundQueue, roundSize } from '../../src/mixnode/round-queue.ts';
import { seededRandom } from '../support/random.ts';

const B = 4;
const MAX_QUEUED = 16 * B;
const BACKLOG = 60;

/**
 * Packets one later-layer node receives in a round: each of the `senders` × B packets of the previous layer
 * goes to one of the `width` nodes of this layer, uniformly.
 */
function arrivals(random: () => number, senders: number, width: number): number {
  let count = 0;
  for (let i = 0; i < senders * B; i++) if (random() < 1 / width) count++;
  return count;
}

const packet = (round: number): QueuedPacket => ({
  packet: new Uint8Array(1),
  nextHop: new Uint8Array(32),
  eligibleAt: round,
});

interface Run {
  /** Queue depth after each round. */
  readonly depths: number[];
  /** Packets sent per round, and how many of them were dummies. */
  readonly sent: number[];
  readonly dummies: number[];
  /** Packets refused as queue_full after the first round (the first may overflow the starting backlog). */
  readonly dropped: number;
}

/**
 * `rounds` rounds of a node that starts with a backlog, as MixNode runs them (draw, size, restore the rest),
 * with p = 1 (no pool: every eligible packet is drawn, the longest-waiting first once past the cap).
 */
function simulate(seed: number, maxBatches: number, rounds: number): Run {
  const random = seededRandom(seed);
  const queue = new RoundQueue();
  for (let i = 0; i < BACKLOG; i++) queue.push(packet(0));
  const run: Run = { depths: [], sent: [], dummies: [], dropped: 0 };
  let dropped = 0;
  for (let round = 1; round <= rounds; round++) {
    // Two upstream nodes, two nodes in this layer: on average exactly B per round.
    for (let i = arrivals(random, 2, 2); i > 0; i--) {
      if (queue.depth < MAX_QUEUED) queue.push(packet(round));
      else if (round > 1) dropped++;
    }
    const taken = queue.draw(round, { leaveProbability: 1, maxStayMs: 1 });
    const size = roundSize(taken.length, B, maxBatches);
    if (taken.length > size) queue.restore(taken.splice(size));
    run.sent.push(size);
    run.dummies.push(size - taken.length);
    run.depths.push(queue.depth);
  }
  return { ...run, dropped };
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

describe('round size', () => {
  test('one batch at least, whole batches only, at most maxBatches', () => {
    assert.equal(roundSize(0, B, 2), B);
    assert.equal(roundSize(B - 1, B, 2), B);
    assert.equal(roundSize(B, B, 2), B);
    assert.equal(roundSize(2 * B - 1, B, 2), B, 'a partial second batch waits');
    assert.equal(roundSize(2 * B, B, 2), 2 * B);
    assert.equal(roundSize(5 * B + 3, B, 2), 2 * B, 'overflow beyond the bound waits');
    assert.equal(roundSize(5 * B + 3, B, 1), B);
    assert.equal(roundSize(5 * B + 3, B, 8), 5 * B);
  });

  test('a node fed one batch per round on average drains a backlog with two batches per round', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const run = simulate(seed, 2, 300);
      const drained = run.depths.findIndex((depth) => depth < B);
      assert.ok(drained >= 0 && drained < 60, `seed ${seed}: below one batch after ${drained} rounds`);
      const settled = run.depths.slice(100);
      assert.ok(mean(settled) < B, `seed ${seed}: mean depth ${mean(settled)} once settled`);
      assert.ok(Math.max(...settled) < MAX_QUEUED / 2, `seed ${seed}: depth ${Math.max(...settled)}`);
      assert.equal(run.dropped, 0, `seed ${seed}: nothing dropped as queue_full`);
      assert.ok(
        run.sent.every((size) => size >= B && size <= 2 * B && size % B === 0),
        'whole batches',
      );
      assert.ok(
        run.sent.every((size, i) => run.dummies[i] === 0 || size === B),
        'dummies only fill the first batch',
      );
    }
  });

  test('with one batch per round (utilization 1) the same backlog does not drain', () => {
    let backedUp = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const run = simulate(seed, 1, 300);
      assert.ok(run.sent.every((size) => size === B));
      if (mean(run.depths.slice(100)) > 4 * B) backedUp++;
    }
    // The queue random-walks: most runs are still backed up hundreds of rounds later.
    assert.ok(backedUp >= 12, `${backedUp} of 20 runs still backed up`);
  });
});
