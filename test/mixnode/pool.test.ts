// The pool's draw (src/mixnode/round-queue.ts `draw`, docs/mixnode.md "The pool") driven round by round
// without timers, as MixNode runs it (draw, send whole batches, restore the rest): a packet's departure round
// is not a function of its arrival (later arrivals often leave first, and which packets of the pool leave
// does not depend on their arrival rank), no packet stays beyond the cap while rounds have room, and every
// packet leaves exactly once. The draw uses the CSPRNG; the bounds sit six or more standard deviations
// from what the pool gives, so the tests do not flake.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type QueuedPacket, RoundQueue, roundSize } from '../../src/mixnode/round-queue.ts';

const PERIOD = 100;
const B = 8;

interface Departure {
  readonly id: number;
  readonly arrived: number;
  readonly left: number;
}

/**
 * `rounds` rounds of one node receiving `perRound` packets just after each round, with p and a cap of R
 * rounds; then rounds with no arrivals until the pool is empty. Returns every departure.
 */
function simulate(p: number, maxStayRounds: number, perRound: number, rounds: number): Departure[] {
  const queue = new RoundQueue();
  const arrivals = new Map<Uint8Array, { id: number; arrived: number }>();
  const departures: Departure[] = [];
  const rule = { leaveProbability: p, maxStayMs: (maxStayRounds - 1) * PERIOD };
  let id = 0;
  for (let round = 0; round < rounds || queue.depth > 0; round++) {
    const now = round * PERIOD;
    const drawn = queue.draw(now, rule);
    const size = Math.min(drawn.length, roundSize(drawn.length, B, 2));
    queue.restore(drawn.slice(size));
    for (const item of drawn.slice(0, size)) {
      const arrival = arrivals.get(item.packet) as { id: number; arrived: number };
      departures.push({ ...arrival, left: round });
    }
    if (round >= rounds) continue;
    for (let i = 0; i < perRound; i++) {
      const packet = new Uint8Array(1);
      arrivals.set(packet, { id: id++, arrived: round });
      queue.push({ packet, nextHop: new Uint8Array(32), eligibleAt: now + 1 });
    }
  }
  return departures;
}

describe('the pool', () => {
  test('departures are not in arrival order, stay within the cap, and each packet leaves once', () => {
    const departures = simulate(0.5, 10, 6, 400);
    assert.equal(departures.length, 6 * 400);
    assert.equal(new Set(departures.map((d) => d.id)).size, departures.length, 'no duplicates');
    const stays = departures.map((d) => d.left - d.arrived);
    assert.ok(Math.min(...stays) >= 1 && Math.max(...stays) <= 10, 'first eligible round 1, cap 10');
    // The stay is geometric: P(stay = 1) = p = 1/2 (sd of the share over 2,400: 0.01).
    const first = stays.filter((stay) => stay === 1).length / stays.length;
    assert.ok(Math.abs(first - 0.5) < 0.06, `${first} left in their first round`);
    // Oldest-first rounds never send a later arrival before an earlier one. Here, of the pairs of packets
    // arriving one round apart, the later one leaves first with probability Σ P(S₁ ≥ S₂ + 2) = 1/6.
    let overtaken = 0;
    let pairs = 0;
    const byRound = Map.groupBy(departures, (d) => d.arrived);
    for (let round = 0; round + 1 < 400; round++) {
      for (const older of byRound.get(round) ?? []) {
        for (const newer of byRound.get(round + 1) ?? []) {
          pairs++;
          if (newer.left < older.left) overtaken++;
        }
      }
    }
    assert.ok(Math.abs(overtaken / pairs - 1 / 6) < 0.05, `${overtaken} of ${pairs} overtaken`);
  });

  test('which packets of the pool leave does not depend on their arrival rank', () => {
    // A pool of 40 packets with distinct arrival times, none at its cap, drawn 3,000 times at p = 1/4: each
    // rank leaves 750 ± 23.7 times; oldest-first would send ranks 0–9 every time and the others never.
    const counts = new Array<number>(40).fill(0);
    const items: QueuedPacket[] = Array.from({ length: 40 }, (_, i) => ({
      packet: new Uint8Array([i]),
      nextHop: new Uint8Array(32),
      eligibleAt: i,
    }));
    const queue = new RoundQueue();
    for (let trial = 0; trial < 3_000; trial++) {
      for (const item of items) queue.push(item);
      for (const item of queue.draw(1_000, { leaveProbability: 0.25, maxStayMs: 60_000 })) {
        const rank = item.packet[0] as number;
        counts[rank] = (counts[rank] as number) + 1;
      }
      queue.drain();
    }
    for (const [rank, count] of counts.entries()) {
      assert.ok(Math.abs(count - 750) < 170, `rank ${rank} left ${count} times`);
    }
    const chiSquare = counts.reduce((sum, count) => sum + (count - 750) ** 2 / (750 * 0.75), 0);
    // 39 degrees of freedom: mean 39, sd 8.8; the bound is 9 sd above.
    assert.ok(chiSquare < 120, `χ² = ${chiSquare.toFixed(1)}`);
  });

  test('a full node honours the cap as long as its rounds have room, and p = 1 is no pool', () => {
    // 12 per round at capacity 16 (two batches of 8): a busy pool still empties every packet within the cap.
    const busy = simulate(0.3, 8, 12, 300);
    assert.equal(busy.length, 12 * 300);
    assert.ok(Math.max(...busy.map((d) => d.left - d.arrived)) <= 8);
    const none = simulate(1, 1, 6, 50);
    assert.ok(
      none.every((d) => d.left === d.arrived + 1),
      'p = 1: everything leaves in the next round',
    );
  });
});
