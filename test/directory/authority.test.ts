// The authority's registration rules and documents, on a hand-moved clock: bad and missing signatures are
// refused; development mode admits any identity, the allow-list only its keys; descriptors are accepted for
// the current and next epoch only; keys must fit the geometry and layers exist; the keys announced for an
// epoch never change (same-epoch replacements keep them, consecutive epochs must chain); documents list the
// epoch's nodes, verify, are re-signed only when registrations change, and old epochs are forgotten.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import { encode, opaque, struct } from '../../src/codec/index.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { DirectoryAuthority, type RegistrationPolicy } from '../../src/directory/authority.ts';
import {
  decodeSignedNetworkDocument,
  encodeDescriptor,
  nodeId,
  verifyNetworkDocument,
} from '../../src/directory/document.ts';
import { ArgumentError, CodecError, DirectoryError, type DirectoryErrorReason } from '../../src/errors.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import {
  authorityKeys,
  EPOCH_PERIOD_MS,
  geometry,
  makeNetwork,
  parameters,
  TestClock,
  TestNode,
} from './support.ts';

function makeAuthority(policy: RegistrationPolicy = { devMode: true, allowedIdentityKeys: [] }) {
  const clock = new TestClock();
  const authority = new DirectoryAuthority({
    keys: authorityKeys(),
    backend: nodeBackend,
    geometry,
    schedule: { periodMs: EPOCH_PERIOD_MS, genesisMs: 0 },
    parameters,
    policy,
    now: clock.read,
  });
  return { authority, clock };
}

function refused(reason: DirectoryErrorReason) {
  return (error: unknown) => {
    assert.ok(error instanceof DirectoryError, `expected DirectoryError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    return true;
  };
}

function verify(authority: DirectoryAuthority, bytes: Uint8Array, now: number) {
  return verifyNetworkDocument(bytes, {
    authorityKeys: authority.publicKeys,
    expectedGeometryHash: geometry.hash(),
    now,
    backend: nodeBackend,
  });
}

const signedDescriptor = struct({ body: opaque(8192), signature: opaque(64) });

describe('registration', () => {
  test('a descriptor with a bad signature is refused, and one without any', () => {
    const { authority } = makeAuthority();
    const node = new TestNode('mix', 1);
    const good = node.signed(1000);
    const badSignature = Uint8Array.from(good);
    badSignature[badSignature.length - 1] = (badSignature[badSignature.length - 1] as number) ^ 1;
    assert.throws(() => authority.register(badSignature), refused('bad_signature'));

    const body = encodeDescriptor(node.descriptor(1000));
    const changedBody = encodeDescriptor(node.descriptor(1000, { address: 'evil.example:1' }));
    const original = authority.register(good);
    assert.equal(original.changed, true);
    // A valid signature over another body: the address was swapped after signing.
    const signature = good.subarray(good.length - 64);
    assert.throws(
      () => authority.register(encode(signedDescriptor, { body: changedBody, signature })),
      refused('bad_signature'),
    );
    assert.throws(
      () => authority.register(encode(signedDescriptor, { body, signature: new Uint8Array() })),
      refused('unsigned'),
    );
    assert.throws(() => authority.register(new Uint8Array([1, 2, 3])), CodecError);
  });

  test('development mode admits any identity key', () => {
    const { authority } = makeAuthority({ devMode: true, allowedIdentityKeys: [] });
    for (const node of makeNetwork()) assert.equal(authority.register(node.signed(1000)).changed, true);
    assert.deepEqual(authority.nodeCounts(1000), { mix: 6, gateway: 2, service: 1 });
  });

  test('outside development mode only allow-listed identity keys register', () => {
    const listed = new TestNode('mix', 1);
    const stranger = new TestNode('mix', 1);
    const { authority } = makeAuthority({ devMode: false, allowedIdentityKeys: [listed.identity.publicKey] });
    const registration = authority.register(listed.signed(1000));
    assert.deepEqual(registration.id, nodeId(listed.identity.publicKey));
    assert.equal(registration.role, 'mix');
    assert.throws(() => authority.register(stranger.signed(1000)), refused('not_allowed'));
    assert.deepEqual(authority.nodeCounts(1000), { mix: 1, gateway: 0, service: 0 });
  });

  test('descriptors are accepted for the current and the next epoch only', () => {
    const { authority, clock } = makeAuthority();
    const node = new TestNode('gateway', 0);
    assert.equal(authority.currentEpoch(), 1000);
    assert.throws(() => authority.register(node.signed(999)), refused('wrong_epoch'));
    assert.throws(() => authority.register(node.signed(1002)), refused('wrong_epoch'));
    authority.register(node.signed(1000));
    authority.register(node.signed(1001));
    clock.now += EPOCH_PERIOD_MS;
    assert.throws(() => authority.register(node.signed(1000)), refused('wrong_epoch'));
    authority.register(node.signed(1002));
  });

  test('keys must have the geometry’s length and mix layers must exist', () => {
    const { authority } = makeAuthority();
    const mix = new TestNode('mix', 4);
    assert.throws(() => authority.register(mix.signed(1000)), refused('invalid_descriptor'));
    const node = new TestNode('mix', 3);
    const long = { current: new Uint8Array(33), next: new Uint8Array(33) };
    assert.throws(
      () => authority.register(node.signed(1000, { sphinxKeys: long })),
      refused('invalid_descriptor'),
    );
  });

  test('re-sending the same descriptor changes nothing; new address, same keys, replaces it', () => {
    const { authority } = makeAuthority();
    const node = new TestNode('mix', 2);
    const before = authority.document(1000);
    assert.equal(authority.register(node.signed(1000)).changed, true);
    const first = authority.document(1000);
    assert.notDeepEqual(first, before);
    assert.equal(authority.register(node.signed(1000)).changed, false);
    assert.equal(authority.document(1000), first, 'the cached document is served again');

    node.address = 'moved.example:4200';
    assert.equal(authority.register(node.signed(1000)).changed, true);
    const document = verify(authority, authority.document(1000), new TestClock().now);
    assert.equal(document.nodes[0]?.address, 'moved.example:4200');
  });

  test('the keys announced for an epoch never change', () => {
    const { authority } = makeAuthority();
    const node = new TestNode('mix', 1);
    authority.register(node.signed(1000));
    const otherKey = nodeBackend.x25519.generateKeyPair().publicKey;
    assert.throws(
      () =>
        authority.register(
          node.signed(1000, { sphinxKeys: { current: otherKey, next: node.sphinxKey(1001) } }),
        ),
      refused('conflict'),
    );
    assert.throws(
      () =>
        authority.register(
          node.signed(1001, { sphinxKeys: { current: otherKey, next: node.sphinxKey(1002) } }),
        ),
      refused('conflict'),
      'epoch 1001 must start with the key announced as next in epoch 1000',
    );
    authority.register(node.signed(1001));

    const late = new TestNode('mix', 1);
    authority.register(late.signed(1001));
    assert.throws(
      () =>
        authority.register(
          late.signed(1000, { sphinxKeys: { current: late.sphinxKey(1000), next: otherKey } }),
        ),
      refused('conflict'),
      'epoch 1000 must announce as next the key already registered for 1001',
    );
  });
});

describe('documents', () => {
  test('list the epoch’s nodes sorted by id, with the parameters and geometry, and verify', () => {
    const { authority, clock } = makeAuthority();
    const network = makeNetwork();
    for (const node of network) authority.register(node.signed(1000));
    authority.register((network[0] as TestNode).signed(1001));

    const document = verify(authority, authority.document(), clock.now);
    assert.equal(document.epoch, 1000);
    assert.equal(document.validFrom, 1000 * EPOCH_PERIOD_MS);
    assert.equal(document.validUntil, 1001 * EPOCH_PERIOD_MS);
    assert.deepEqual(document.parameters, { epochPeriodMs: EPOCH_PERIOD_MS, ...parameters });
    assert.deepEqual(document.geometryHash, geometry.hash());
    assert.equal(document.nodes.length, network.length);
    const ids = document.nodes.map((node) => toHex(node.id));
    assert.deepEqual(ids, [...ids].sort());
    for (const node of network) {
      const listed = document.nodes.find(
        (entry) => toHex(entry.identityKey) === toHex(node.identity.publicKey),
      );
      assert.ok(listed);
      assert.deepEqual(listed.sphinxKeys, { current: node.sphinxKey(1000), next: node.sphinxKey(1001) });
      assert.equal(listed.address, node.address);
      assert.deepEqual(listed.tlsFingerprint, node.tlsFingerprint);
    }

    const next = verify(authority, authority.document(1001), clock.now + EPOCH_PERIOD_MS);
    assert.equal(next.nodes.length, 1, 'only the node that registered for 1001');
  });

  test('are kept for the previous, current and next epoch only; older epochs are forgotten', () => {
    const { authority, clock } = makeAuthority();
    const node = new TestNode('gateway', 0);
    authority.register(node.signed(1000));
    assert.throws(() => authority.document(998), refused('not_found'));
    assert.throws(() => authority.document(1002), refused('not_found'));
    clock.now += EPOCH_PERIOD_MS;
    const previous = verify(authority, authority.document(1000), clock.now - EPOCH_PERIOD_MS);
    assert.equal(previous.nodes.length, 1);
    clock.now += EPOCH_PERIOD_MS;
    assert.throws(() => authority.document(1000), refused('not_found'));
    assert.deepEqual(authority.descriptors(), [], 'descriptors of forgotten epochs are dropped');
  });

  test('a new registration re-signs the document with a later issue time', () => {
    const { authority, clock } = makeAuthority();
    const [a, b] = makeNetwork() as [TestNode, TestNode];
    authority.register(a.signed(1000));
    const first = verify(authority, authority.document(), clock.now);
    clock.now += 1_000;
    authority.register(b.signed(1000));
    const second = verify(authority, authority.document(), clock.now);
    assert.equal(second.nodes.length, first.nodes.length + 1);
    assert.ok(second.issuedAt > first.issuedAt);
    assert.equal(decodeSignedNetworkDocument(authority.document()).signatures.length, 2);
  });

  test('restore re-admits stored descriptors under today’s policy and drops the rest', () => {
    const [kept, removed] = [new TestNode('mix', 1), new TestNode('mix', 2)];
    const { authority: before } = makeAuthority();
    before.register(kept.signed(1000));
    before.register(removed.signed(1000));
    before.register(kept.signed(1001));
    const stored = [...before.descriptors(), new Uint8Array([9, 9, 9])];

    const { authority: after } = makeAuthority({
      devMode: false,
      allowedIdentityKeys: [kept.identity.publicKey],
    });
    assert.deepEqual(after.restore(stored), { restored: 2, dropped: 2 });
    assert.deepEqual(after.nodeCounts(1000), { mix: 1, gateway: 0, service: 0 });
    assert.deepEqual(after.nodeCounts(1001), { mix: 1, gateway: 0, service: 0 });
  });

  test('an authority refuses parameters it could not publish', () => {
    const base = {
      keys: authorityKeys(),
      backend: nodeBackend,
      geometry,
      schedule: { periodMs: EPOCH_PERIOD_MS, genesisMs: 0 },
      policy: { devMode: true, allowedIdentityKeys: [] },
    };
    assert.throws(
      () => new DirectoryAuthority({ ...base, parameters: { ...parameters, layers: 0 } }),
      ArgumentError,
    );
    assert.throws(
      () => new DirectoryAuthority({ ...base, parameters: { ...parameters, clientSendRate: 0.0001 } }),
      ArgumentError,
    );
    const short = Geometry.create({
      scheme: 'x25519',
      userForwardPayloadLength: 100,
      withSurb: false,
      nrHops: 4,
    });
    assert.throws(() => new DirectoryAuthority({ ...base, geometry: short, parameters }), ArgumentError);
    assert.throws(
      () => new DirectoryAuthority({ ...base, parameters, schedule: { periodMs: 0, genesisMs: 0 } }),
      ArgumentError,
    );
  });
});
