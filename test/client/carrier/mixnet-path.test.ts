// Path selection from a network document: entry → one mix per layer → exit, each layer's node uniform
// (chi-square) and independent of the other layers', and a real Sphinx packet along a selected path
// unwraps hop by hop with exactly those nodes' keys and ends at the exit with its recipient. A document
// with an empty layer is refused. NodeHealth avoids a node whose loops were lost and sees when a layer has
// no node that returns them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toHex } from '../../../src/bytes.ts';
import { NodeHealth, pathCandidates, selectPath } from '../../../src/client/carrier/mixnet-path.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { CarrierError } from '../../../src/errors.ts';
import { encodeForwardPayload } from '../../../src/sphinx/index.ts';
import { geometry, seededRandom, sphinx, TestNetwork } from './support.ts';

const network = new TestNetwork({ gateways: 2, perLayer: 3 });
const candidates = pathCandidates(network.document);
const [entry, exit] = network.gateways as [(typeof network.gateways)[0], (typeof network.gateways)[0]];

describe('path selection', () => {
  test('entry, one mix of each layer in order, exit; a packet along it unwraps with those keys', () => {
    const recipient = randomBytes(32);
    const path = selectPath(candidates, {
      entry,
      exit,
      exitCommands: [{ type: 'recipient', id: recipient }],
    });
    assert.equal(path.length, 5);
    assert.equal(toHex(path[0]?.id ?? new Uint8Array()), toHex(entry.id));
    assert.equal(toHex(path[4]?.id ?? new Uint8Array()), toHex(exit.id));
    for (let layer = 1; layer <= 3; layer++) {
      const ids = network.mixes(layer).map((node) => toHex(node.id));
      assert.ok(
        ids.includes(toHex(path[layer]?.id ?? new Uint8Array())),
        `hop ${layer} is in layer ${layer}`,
      );
    }

    const message = randomBytes(100);
    let packet = sphinx.newPacket(path, encodeForwardPayload(geometry, message));
    for (const [index, hop] of path.entries()) {
      const result = sphinx.unwrap(network.secretKey(hop.id), packet);
      if (index < path.length - 1) {
        assert.equal(result.kind, 'forward');
        if (result.kind !== 'forward') return;
        assert.equal(toHex(result.nextHop), toHex(path[index + 1]?.id ?? new Uint8Array()));
        packet = result.packet;
      } else {
        assert.equal(result.kind, 'final');
        if (result.kind !== 'final') return;
        assert.equal(toHex(result.recipient ?? new Uint8Array()), toHex(recipient));
      }
    }
  });

  test('each layer’s node is uniform among its layer and independent of the others', () => {
    const random = seededRandom(42);
    const pick = (bound: number) => Math.floor(random() * bound);
    const draws = 9000;
    const perNode = new Map<string, number>();
    const pairs = new Map<string, number>();
    for (let i = 0; i < draws; i++) {
      const path = selectPath(candidates, { entry, exit, pick });
      const mixes = path.slice(1, 4).map((hop) => toHex(hop.id));
      for (const id of mixes) perNode.set(id, (perNode.get(id) ?? 0) + 1);
      const pair = `${mixes[0]}:${mixes[1]}`;
      pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
    }
    // Per layer: 3 nodes, 2 degrees of freedom, 0.1 % critical value 13.8.
    for (let layer = 1; layer <= 3; layer++) {
      const counts = network.mixes(layer).map((node) => perNode.get(toHex(node.id)) ?? 0);
      const chiSquare = counts.reduce((sum, count) => sum + (count - draws / 3) ** 2 / (draws / 3), 0);
      assert.ok(chiSquare < 13.8, `layer ${layer}: ${counts.join(', ')}`);
    }
    // Layer 1 × layer 2: 9 pairs, each 1/9 when independent; 8 degrees of freedom, critical value 26.1.
    assert.equal(pairs.size, 9);
    const chiSquare = [...pairs.values()].reduce(
      (sum, count) => sum + (count - draws / 9) ** 2 / (draws / 9),
      0,
    );
    assert.ok(chiSquare < 26.1, `pairs ${[...pairs.values()].join(', ')}`);
  });

  test('the CSPRNG default reaches every node; a SURB path has no entry hop', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      for (const hop of selectPath(candidates, { entry, exit })) seen.add(toHex(hop.id));
    }
    assert.equal(seen.size, 2 + 9);
    const surbPath = selectPath(candidates, { exit: entry });
    assert.equal(surbPath.length, 4);
    const { surb } = sphinx.newSurb(surbPath);
    assert.equal(surb.length, geometry.surbLength);
  });

  test('a document with an empty layer is refused as unreachable', () => {
    const sparse = {
      ...network.document,
      nodes: network.document.nodes.filter((node) => node.layer !== 2),
    };
    assert.throws(
      () => pathCandidates(sparse),
      (error: unknown) => error instanceof CarrierError && error.reason === 'unreachable',
    );
  });

  test('NodeHealth: a node on which every recent loop was lost is avoided; one sharing its paths is not', () => {
    const health = new NodeHealth();
    const [dead, twin] = network.mixes(2);
    const [shared] = network.mixes(1);
    if (!dead || !twin || !shared) throw new Error('the test network has two mixes per layer');
    for (let i = 0; i < 8; i++) {
      health.record([shared.id, dead.id], false);
      health.record([shared.id, twin.id], true);
    }
    assert.equal(health.isSuspect(dead.id), true);
    assert.equal(health.isSuspect(twin.id), false);
    assert.equal(health.isSuspect(shared.id), false, 'half its loops were lost, through the dead node');
    for (let i = 0; i < 200; i++) {
      const path = selectPath(candidates, { entry, exit, avoid: health.isSuspect });
      assert.notEqual(toHex(path[2]?.id ?? new Uint8Array()), toHex(dead.id));
    }
    // Loops through it coming back clear it.
    for (let i = 0; i < 4; i++) health.record([dead.id], true);
    assert.equal(health.isSuspect(dead.id), false);
    // One live node is enough for a layer to have a path; when a whole layer is suspect there is none (the
    // carrier reports it), and the layer is used as is rather than not at all.
    assert.equal(health.noPath(candidates), false);
    const layer3 = network.mixes(3).map((node) => node.id);
    for (let i = 0; i < 4; i++) health.record(layer3, false);
    assert.equal(health.noPath(candidates), true);
    assert.equal(selectPath(candidates, { entry, exit, avoid: health.isSuspect }).length, 5);
    for (let i = 0; i < 4; i++) health.record(layer3.slice(0, 1), true);
    assert.equal(health.noPath(candidates), false, 'a loop back through one of its nodes');
  });

  test('NodeHealth: loops counted lost that come back late undo their loss', () => {
    const health = new NodeHealth();
    const layer1 = network.mixes(1).map((node) => node.id);
    for (let i = 0; i < 6; i++) health.record(layer1, false);
    assert.equal(health.noPath(candidates), true);
    for (let i = 0; i < 5; i++) health.returnedLate(layer1);
    assert.equal(health.noPath(candidates), false, 'five of six came back: the layer works, slowly');
    assert.equal(health.isSuspect(layer1[0] as Uint8Array), false);
  });
});
