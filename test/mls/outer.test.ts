// The delivery service's view of a group: per-epoch routing IDs and the outer seal, padded to buckets and
// bound to its routing ID and kind, opened the same way on both crypto backends.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toHex, utf8 } from '../../src/bytes.ts';
import { ArgumentError, AuthenticationError, CodecError } from '../../src/errors.ts';
import {
  decodeMessage,
  type Group,
  MAX_OUTER_MESSAGE,
  Mls,
  OUTER_BUCKETS,
  outerBucket,
} from '../../src/mls/index.ts';
import { nodeBackend, portableBackend } from '../support/backends.ts';
import { DirectoryAuthenticationService } from './helpers.ts';

async function twoMembers(): Promise<[Group, Group]> {
  const directory = new DirectoryAuthenticationService();
  const aliceMls = new Mls({ authenticationService: directory, backend: nodeBackend });
  const bobMls = new Mls({ authenticationService: directory, backend: portableBackend });
  const alice = await aliceMls.generateKeyPackage({ identity: utf8('alice') });
  const bob = await bobMls.generateKeyPackage({ identity: utf8('bob') });
  for (const [name, kp] of [
    ['alice', alice],
    ['bob', bob],
  ] as const) {
    const decoded = decodeMessage(kp.keyPackage);
    if (decoded.kind === 'key-package') directory.bind(name, decoded.signaturePublicKey);
  }
  const aliceGroup = await aliceMls.createGroup({ keyPackage: alice });
  const add = await aliceGroup.commit({ add: [bob.keyPackage] });
  if (add.kind !== 'staged' || !add.staged.welcome) throw new Error('add failed');
  await aliceGroup.merge(add.staged);
  const joined = await bobMls.joinGroup({ welcome: add.staged.welcome, keyPackage: bob });
  if (joined.kind !== 'joined') throw new Error(joined.detail);
  return [aliceGroup, joined.group];
}

describe('routing IDs and the outer seal', () => {
  test('members agree on the routing ID, which changes with every epoch', async () => {
    const [alice, bob] = await twoMembers();
    const first = await alice.routingId();
    assert.equal(first.length, 32);
    assert.equal(toHex(await bob.routingId()), toHex(first));
    const update = await alice.update();
    if (update.kind !== 'staged') throw new Error(update.detail);
    await alice.merge(update.staged);
    assert.notEqual(toHex(await alice.routingId()), toHex(first));
  });

  test('a sealed message is exactly one bucket long and opens for every member, on either backend', async () => {
    const [alice, bob] = await twoMembers();
    const routingId = await alice.routingId();
    const [aliceKey, bobKey] = await Promise.all([alice.outerKey(), bob.outerKey()]);
    for (const length of [0, 1, 300, 1024 - 33, 1024 - 32, 5000, 70_000]) {
      const message = await alice.encrypt(new Uint8Array(length).fill(3));
      const sealed = aliceKey.seal(message, { routingId, kind: 'application' });
      assert.equal(sealed.length, outerBucket(message.length));
      assert.ok((OUTER_BUCKETS as readonly number[]).includes(sealed.length));
      assert.equal(toHex(bobKey.open(sealed, { routingId, kind: 'application' })), toHex(message));
    }
  });

  test('bucket boundaries: the largest message of each bucket fits, one more byte moves up', () => {
    let previous = 0;
    for (const bucket of OUTER_BUCKETS) {
      const largest = bucket - 33;
      assert.equal(outerBucket(largest), bucket);
      assert.ok(outerBucket(previous) <= bucket);
      previous = largest + 1;
    }
    assert.equal(MAX_OUTER_MESSAGE, 1_048_576 - 33);
    assert.throws(() => outerBucket(MAX_OUTER_MESSAGE + 1), ArgumentError);
  });

  test('the seal is bound to its routing ID, kind and epoch, and refuses tampering', async () => {
    const [alice, bob] = await twoMembers();
    const routingId = await alice.routingId();
    const key = await alice.outerKey();
    const sealed = key.seal(utf8('a commit'), { routingId, kind: 'commit' });
    const bobKey = await bob.outerKey();
    assert.throws(() => bobKey.open(sealed, { routingId, kind: 'application' }), AuthenticationError);
    const otherRoute = Uint8Array.from(routingId);
    otherRoute[0] = (otherRoute[0] ?? 0) ^ 1;
    assert.throws(() => bobKey.open(sealed, { routingId: otherRoute, kind: 'commit' }), AuthenticationError);
    for (const index of [0, 5, 200, sealed.length - 1]) {
      const tampered = Uint8Array.from(sealed);
      tampered[index] = (tampered[index] ?? 0) ^ 0x40;
      assert.throws(
        () => bobKey.open(tampered, { routingId, kind: 'commit' }),
        (e) => e instanceof AuthenticationError || (index === 0 && e instanceof CodecError),
      );
    }
    assert.throws(() => bobKey.open(sealed.subarray(1), { routingId, kind: 'commit' }), CodecError);

    const update = await alice.update();
    if (update.kind !== 'staged') throw new Error(update.detail);
    await alice.merge(update.staged);
    const nextKey = await alice.outerKey();
    assert.throws(() => nextKey.open(sealed, { routingId, kind: 'commit' }), AuthenticationError);
  });

  test('the outer key never prints', async () => {
    const [alice] = await twoMembers();
    const key = await alice.outerKey();
    assert.doesNotMatch(JSON.stringify(key), /\d{2},\d/);
    assert.match(String(key), /redacted/);
  });
});
