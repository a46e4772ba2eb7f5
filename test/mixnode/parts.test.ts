// The mix node's parts on their own: the shuffle's uniformity, the replay filter's persistence, the round
// queue and its saved form, the epoch key store, and the two crypto engines giving the same outcomes.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { CodecError } from '../../src/errors.ts';
import {
  EpochKeyStore,
  InlineEngine,
  ReplayFilter,
  shuffle,
  type UnwrapOutcome,
  WorkerPool,
} from '../../src/mixnode/index.ts';
import { decodeSavedQueue, encodeSavedQueue, RoundQueue } from '../../src/mixnode/round-queue.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import { geometry, sphinx, temporaryDirectory } from './support.ts';

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

describe('replay filter', () => {
  test('admits a tag once per epoch, and remembers it across reopening', async () => {
    await using directory = await temporaryDirectory();
    const path = join(directory.path, 'replay.sqlite');
    const tag = randomBytes(32);
    const filter = ReplayFilter.open(path);
    assert.equal(filter.admit(5, tag), true);
    assert.equal(filter.admit(5, tag), false, 'a replay in the same round');
    assert.equal(filter.admit(6, tag), true, 'epochs are separate');
    filter.commit();
    assert.equal(filter.admit(5, randomBytes(32)), true);
    filter.close();

    const reopened = ReplayFilter.open(path);
    assert.equal(reopened.admit(5, tag), false);
    assert.equal(reopened.size(5), 2);
    reopened.forgetBefore(6);
    assert.equal(reopened.size(5), 0);
    assert.equal(reopened.size(6), 1);
    assert.equal(reopened.admit(5, tag), true, 'a forgotten epoch starts empty');
    reopened.close();
  });

  test('refuses tags of the wrong length and negative epochs', async () => {
    await using directory = await temporaryDirectory();
    const filter = ReplayFilter.open(join(directory.path, 'replay.sqlite'));
    try {
      assert.throws(() => filter.admit(1, new Uint8Array(31)), /tag/);
      assert.throws(() => filter.admit(-1, randomBytes(32)), /epoch/);
    } finally {
      filter.close();
    }
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

describe('epoch keys', () => {
  test('are created once per epoch, persist privately, and are shredded when expired', async () => {
    await using directory = await temporaryDirectory();
    const path = join(directory.path, 'keys');
    const keys = await EpochKeyStore.open(path, geometry, nodeBackend);
    const first = await keys.ensure(10);
    assert.equal(await keys.ensure(10), first);
    await keys.ensure(11);
    assert.equal((await stat(join(path, 'e10.key'))).mode & 0o777, 0o600);
    assert.doesNotMatch(inspect(keys), new RegExp(toHex(first.secretKey)));

    const reopened = await EpochKeyStore.open(path, geometry, nodeBackend);
    assert.deepEqual(reopened.get(10)?.secretKey, first.secretKey);
    assert.deepEqual(
      reopened.publicKeys().map((key) => key.epoch),
      [10, 11],
    );
    const secret = reopened.get(10)?.secretKey as Uint8Array;
    await reopened.destroyBefore(11);
    assert.equal(reopened.get(10), undefined);
    assert.ok(
      secret.every((byte) => byte === 0),
      'wiped in memory',
    );
    await assert.rejects(stat(join(path, 'e10.key')), { code: 'ENOENT' });
  });

  test('a key of another scheme is refused at load', async () => {
    await using directory = await temporaryDirectory();
    const path = join(directory.path, 'keys');
    await (await EpochKeyStore.open(path, geometry, nodeBackend)).ensure(1);
    const kem = Geometry.create({
      scheme: 'MLKEM768',
      userForwardPayloadLength: 64,
      withSurb: false,
      nrHops: 3,
    });
    await assert.rejects(EpochKeyStore.open(path, kem, nodeBackend), /not a MLKEM768 key pair/);
  });
});

describe('crypto engines', () => {
  const current = nodeBackend.x25519.generateKeyPair();
  const previous = nodeBackend.x25519.generateKeyPair();
  const next = { id: randomBytes(32), keys: nodeBackend.x25519.generateKeyPair() };
  const route = (key: Uint8Array) => [
    { id: randomBytes(32), publicKey: key },
    { id: next.id, publicKey: next.keys.publicKey },
  ];
  const packets = () => {
    const tampered = sphinx.newPacket(route(current.publicKey), new Uint8Array(4));
    tampered[50] = (tampered[50] as number) ^ 1;
    const malformed = sphinx.newPacket(route(current.publicKey), new Uint8Array(4));
    malformed[1] = 7;
    return [
      sphinx.newPacket(route(current.publicKey), new Uint8Array(4)),
      sphinx.newPacket(route(previous.publicKey), new Uint8Array(4)),
      tampered,
      malformed,
      sphinx.newPacket([{ id: randomBytes(32), publicKey: current.publicKey }], new Uint8Array(4)),
    ];
  };
  const summary = (outcomes: UnwrapOutcome[]) =>
    outcomes.map((outcome) => (outcome.kind === 'forward' ? `forward@${outcome.epoch}` : outcome.kind));

  test('inline and worker engines give the same outcomes, trying the previous key after the current', async () => {
    const keys = [
      { epoch: 8, secretKey: current.secretKey },
      { epoch: 7, secretKey: previous.secretKey },
    ];
    const inline = new InlineEngine(geometry);
    const pool = new WorkerPool(geometry, 2);
    try {
      inline.setKeys(keys);
      pool.setKeys(keys);
      const expected = ['forward@8', 'forward@7', 'mac_failure', 'malformed', 'not_forward'];
      assert.deepEqual(summary(await inline.unwrap(packets())), expected);
      assert.deepEqual(summary(await pool.unwrap(packets())), expected);
      const many = Array.from({ length: 40 }, () => packets()).flat();
      assert.deepEqual(summary(await pool.unwrap(many)), Array.from({ length: 40 }, () => expected).flat());

      pool.setKeys([{ epoch: 8, secretKey: current.secretKey }]);
      assert.deepEqual(summary(await pool.unwrap(packets())).slice(0, 2), ['forward@8', 'mac_failure']);
    } finally {
      await pool.close();
    }
  });

  test('dummies built in workers are valid packets for the next hop, ending without a recipient', async () => {
    const pool = new WorkerPool(geometry, 2);
    try {
      const routes = Array.from({ length: 20 }, () => [{ id: next.id, publicKey: next.keys.publicKey }]);
      const dummies = await pool.buildDummies(routes);
      assert.equal(dummies.length, 20);
      for (const dummy of dummies) {
        const result = sphinx.unwrap(next.keys.secretKey, dummy);
        assert.equal(result.kind, 'final');
        assert.equal(result.kind === 'final' && result.recipient, undefined);
      }
      await assert.rejects(
        pool.buildDummies([[{ id: next.id, publicKey: new Uint8Array(3) }]]),
        /x25519 key/,
      );
    } finally {
      await pool.close();
    }
  });
});
