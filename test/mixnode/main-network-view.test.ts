// The document-backed topology and clock of `umbra mix` and `umbra gateway` (NetworkView): epochs follow the
// documents' own validity windows, peers come from the newest document that lists them, senders are only
// the previous layer (or the gateways, for layer 1; the last layer and gateways, for a gateway), dummy routes
// offer every later layer then the gateways with the epoch's keys, and documents are replaced only by newer
// issues and forgotten once two epochs old.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import {
  type DocumentNode,
  type NetworkDocument,
  type NodeRole,
  nodeId,
} from '../../src/directory/document.ts';
import { MixnetError } from '../../src/errors.ts';
import { gatewaySenders, mixSenders, NetworkView } from '../../src/hop/network-view.ts';

const PERIOD = 60_000;
const GENESIS = 12_345;

function node(role: NodeRole, layer: number, port: number): DocumentNode {
  const identityKey = randomBytes(32);
  return {
    id: nodeId(identityKey),
    identityKey,
    role,
    layer,
    address: `127.0.0.1:${port}`,
    tlsFingerprint: randomBytes(32),
    sphinxKeys: { current: randomBytes(32), next: randomBytes(32) },
  };
}

function documentOf(epoch: number, nodes: readonly DocumentNode[], issuedAt = 0): NetworkDocument {
  const validFrom = GENESIS + epoch * PERIOD;
  return {
    epoch,
    validFrom,
    validUntil: validFrom + PERIOD,
    issuedAt,
    geometryHash: new Uint8Array(32),
    parameters: {
      epochPeriodMs: PERIOD,
      layers: 2,
      roundPeriodMs: 100,
      batchSize: 4,
      clientSendRate: 2,
      loopCoverShare: 0.5,
      keyGracePeriodMs: 1_000,
    },
    nodes,
  };
}

describe('NetworkView', () => {
  const gateway = node('gateway', 0, 1000);
  const [a1, a2, b1] = [node('mix', 1, 1001), node('mix', 2, 1002), node('mix', 1, 1003)];
  const nodes = [gateway, a1, a2, b1];

  test('has no clock before a document, then takes epochs from the documents', () => {
    let now = GENESIS + 10 * PERIOD + 5;
    const view = new NetworkView({ layer: 1, now: () => now });
    assert.throws(
      () => view.epochAt(now),
      (error: unknown) => error instanceof MixnetError && error.reason === 'no_document',
    );
    view.update(documentOf(10, nodes));
    assert.equal(view.epochAt(now), 10);
    assert.equal(view.startOf(11), GENESIS + 11 * PERIOD);
    assert.equal(view.epochAt(GENESIS + 11 * PERIOD - 1), 10);
    assert.equal(view.epochAt(GENESIS + 11 * PERIOD), 11);
    assert.ok(view.lists(a1.id));
    assert.equal(view.current?.epoch, 10);
    now += PERIOD;
    assert.equal(view.current, undefined, 'no document for epoch 11 yet');
    assert.equal(view.lists(a1.id), false);
  });

  test('peers come from the newest document; senders follow the layer policy', () => {
    const now = GENESIS + 10 * PERIOD;
    const view = new NetworkView({ layer: 2, allowSender: mixSenders(2), now: () => now });
    view.update(documentOf(10, nodes));
    const moved = { ...a1, address: '127.0.0.1:2001' };
    view.update(documentOf(11, [gateway, moved, a2]));
    assert.deepEqual(view.peer(a1.id)?.address, { host: '127.0.0.1', port: 2001 });
    assert.deepEqual(
      view.peer(b1.id)?.address,
      { host: '127.0.0.1', port: 1003 },
      'only in the older document',
    );
    assert.equal(view.peer(randomBytes(32)), undefined);
    assert.ok(view.isAllowedSender(a1.tlsFingerprint), 'layer 1 sends to layer 2');
    assert.equal(view.isAllowedSender(gateway.tlsFingerprint), false);
    assert.equal(view.isAllowedSender(a2.tlsFingerprint), false);
    assert.equal(view.isAllowedSender(randomBytes(32)), false);

    const first = new NetworkView({ layer: 1, allowSender: mixSenders(1), now: () => now });
    first.update(documentOf(10, nodes));
    assert.ok(first.isAllowedSender(gateway.tlsFingerprint));
    assert.equal(first.isAllowedSender(a2.tlsFingerprint), false);

    const exit = new NetworkView({ layer: 0, allowSender: gatewaySenders(2), now: () => now });
    exit.update(documentOf(10, nodes));
    assert.ok(exit.isAllowedSender(a2.tlsFingerprint), 'the last layer');
    assert.ok(exit.isAllowedSender(gateway.tlsFingerprint), 'gateways (SURB replies)');
    assert.equal(exit.isAllowedSender(a1.tlsFingerprint), false);
  });

  test('dummy routes: every later layer, then the gateways, with the epoch’s keys', () => {
    const now = GENESIS + 10 * PERIOD;
    const view = new NetworkView({ layer: 1, now: () => now });
    view.update(documentOf(10, nodes));
    const hops = view.hopsAfter(10);
    assert.equal(hops.length, 2);
    assert.deepEqual(hops[0], [{ id: a2.id, sphinxPublicKey: a2.sphinxKeys.current }]);
    assert.deepEqual(hops[1], [{ id: gateway.id, sphinxPublicKey: gateway.sphinxKeys.current }]);
    assert.deepEqual(view.hopsAfter(11), [[]], 'no document, no route');
  });

  test('only a newer issue replaces a document; documents two epochs old are forgotten', () => {
    let now = GENESIS + 10 * PERIOD;
    const view = new NetworkView({ layer: 1, now: () => now });
    view.update(documentOf(10, [gateway, a1], 5));
    view.update(documentOf(10, nodes, 4));
    assert.equal(view.document(10)?.nodes.length, 2, 'an older issue is ignored');
    view.update(documentOf(10, nodes, 6));
    assert.equal(view.document(10)?.nodes.length, 4);
    now += 2 * PERIOD;
    view.update(documentOf(12, nodes));
    assert.equal(view.document(10), undefined);
    view.update(documentOf(11, nodes));
    assert.ok(view.document(11), 'the previous epoch is kept');
  });
});
