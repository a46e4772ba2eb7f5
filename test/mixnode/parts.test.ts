// The mix node's own parts: the shuffle's uniformity, and the round queue and its saved form.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { CodecError } from '../../src/errors.ts';
import { shuffle } from '../../src/mixnode/index.ts';
import { decodeSavedQueue, encodeSavedQueue, RoundQueue } from '../../src/mixnode/round-queue.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import { geometry } from './support.ts';

describe('shuffle', () => {
  test('every order of three items is equally likely', () => {
    const trials = 60_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < trials; i++) {
      const order = shuffle(['a', 'b', 'c']).join('');
      counts.set(order, (counts.get(order) ?? 0) + 1);
    }
    assert.equal(counts.size, 6);
    // Each count is Binomial(60000, 1/6): 10000 ± 91. ±600 is 6.5 standard deviations.
    for (const [order, count] of counts) assert.ok(Math.abs(count - 10_000) < 600, `${order}: ${count}`);
  });

  test('each item lands in each position equally often, and none is lost', () => {
    const size = 16;
    const trials = 16_000;
    const positions = Array.from({ length: size }, () => new Array<number>(size).fill(0));
    for (let t = 0; t < trials; t++) {
      const order = shuffle(Array.from({ length: size }, (_, i) => i));
      if (t < 100) assert.equal(new Set(order).size, size);
      order.forEach((item, position) => {
        (positions[item] as number[])[position] = ((positions[item] as number[])[position] as number) + 1;
      });
    }
    // Binomial(16000, 1/16): 1000 ± 31; ±200 is 6.5 standard deviations.
    for (const row of positions) for (const count of row) assert.ok(Math.abs(count - 1000) < 200, `${count}`);
  });
});

describe('round queue', () => {
  const item = (eligibleAt: number) => ({
    packet: randomBytes(geometry.packetLength),
    nextHop: randomBytes(32),
    eligibleAt,
  });

  test('draws the eligible packets: the longest-waiting first, oldest first; restore and drain keep the rest', () => {
    const queue = new RoundQueue();
    const items = [item(90), item(500), item(0), item(50), item(100)];
    for (const entry of items) queue.push(entry);
    // At 100 with a cap of 50 ms: 0 and 50 are due; 90 and 100 are drawn with p = 1; 500 is not eligible.
    const drawn = queue.draw(100, { leaveProbability: 1, maxStayMs: 50 });
    assert.deepEqual(drawn.slice(0, 2), [items[2], items[3]]);
    assert.deepEqual(new Set(drawn.slice(2)), new Set([items[0], items[4]]));
    assert.equal(queue.depth, 1);
    queue.restore(drawn.slice(3));
    assert.deepEqual(queue.drain(), [items[1], drawn[3]]);
    assert.equal(queue.depth, 0);
  });

  test('its saved form round-trips, and is refused under another geometry or when corrupt', () => {
    const items = [item(1_700_000_000_123), item(0)];
    const saved = encodeSavedQueue(geometry, items);
    assert.deepEqual(decodeSavedQueue(geometry, saved), items);
    const other = Geometry.create({
      scheme: 'x25519',
      userForwardPayloadLength: 65,
      withSurb: false,
      nrHops: 5,
    });
    assert.equal(decodeSavedQueue(other, saved), undefined);
    assert.throws(() => decodeSavedQueue(geometry, saved.subarray(0, saved.length - 1)), CodecError);
  });
});
