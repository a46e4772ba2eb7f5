// The hop layer's parts on their own: the replay filter's persistence, the epoch key store, and the two
// crypto engines giving the same outcomes (every kind of hop, across the worker boundary).
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import {
  EpochKeyStore,
  InlineEngine,
  ReplayFilter,
  type UnwrapOutcome,
  WorkerPool,
} from '../../src/hop/index.ts';
import { Geometry, RECIPIENT_ID_LENGTH } from '../../src/sphinx/index.ts';
import { geometry, sphinx, temporaryDirectory } from '../mixnode/support.ts';

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
    outcomes.map((outcome) =>
      outcome.kind === 'forward' || outcome.kind === 'final'
        ? `${outcome.kind}@${outcome.epoch}`
        : outcome.kind,
    );

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
      const expected = ['forward@8', 'forward@7', 'mac_failure', 'malformed', 'final@8'];
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

  test('a final hop comes back from a worker with its recipient and payload, as inline', async () => {
    const recipient = randomBytes(RECIPIENT_ID_LENGTH);
    const payload = randomBytes(16);
    const commands = [{ type: 'recipient', id: recipient }] as const;
    const build = () =>
      sphinx.newPacket([{ id: randomBytes(32), publicKey: current.publicKey, commands }], payload);
    const keys = [{ epoch: 3, secretKey: current.secretKey }];
    const inline = new InlineEngine(geometry);
    const pool = new WorkerPool(geometry, 1);
    try {
      inline.setKeys(keys);
      pool.setKeys(keys);
      for (const [outcome] of [await inline.unwrap([build()]), await pool.unwrap([build()])]) {
        assert.equal(outcome?.kind, 'final');
        if (outcome?.kind !== 'final') continue;
        assert.equal(outcome.epoch, 3);
        assert.deepEqual(outcome.recipient, recipient);
        assert.deepEqual(outcome.payload.subarray(0, payload.length), payload);
        assert.equal(outcome.replayTag.length, 32);
      }
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
