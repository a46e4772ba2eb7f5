// Properties a mix network relies on, checked over random inputs: any single flipped bit is caught (by the
// next hop's MAC for the header, by the payload tag at the end for the payload), the same packet always gives
// the same replay tag, and unwrap answers hostile bytes of any length with a SphinxError and nothing else.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { randomBytes } from '../../src/crypto/random.ts';
import { SphinxError, type SphinxErrorReason } from '../../src/errors.ts';
import { Geometry, Sphinx, type SphinxSchemeName } from '../../src/sphinx/index.ts';
import { nodeBackend } from '../support/backends.ts';
import { makeNodes, makePath } from './support.ts';

function sphinxFailure(operation: () => unknown): SphinxErrorReason | 'none' {
  try {
    operation();
  } catch (error) {
    if (error instanceof SphinxError) return error.reason;
    throw error;
  }
  return 'none';
}

function flipBit(packet: Uint8Array, bit: number): Uint8Array {
  const flipped = packet.slice();
  flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
  return flipped;
}

const cases: readonly { scheme: SphinxSchemeName; runs: number }[] = [
  { scheme: 'x25519', runs: 300 },
  { scheme: 'XWING', runs: 60 },
];

for (const { scheme, runs } of cases) {
  describe(`${scheme} Sphinx under random corruption`, () => {
    const geometry = Geometry.create({ scheme, userForwardPayloadLength: 64, withSurb: false, nrHops: 3 });
    const sphinx = new Sphinx(geometry, nodeBackend);
    const nodes = makeNodes(nodeBackend, geometry, 3);
    const recipient = randomBytes(32);
    const surbId = randomBytes(16);

    // The packet as each hop receives it, so a flip can hit any hop's input.
    const received: Uint8Array[] = [sphinx.newPacket(makePath(nodes, { recipient }), randomBytes(64))];
    for (const [hop, node] of nodes.slice(0, -1).entries()) {
      const result = sphinx.unwrap(node.keys.secretKey, received[hop] as Uint8Array);
      assert.equal(result.kind, 'forward');
      if (result.kind === 'forward') received.push(result.packet);
    }

    /** Unwraps from hop `from` to the end; returns where and how it first failed, or reason 'none'. */
    function walk(from: number, packet: Uint8Array): { at: number; reason: SphinxErrorReason | 'none' } {
      let current = packet;
      for (let hop = from; hop < nodes.length; hop++) {
        const key = (nodes[hop] ?? assert.fail()).keys.secretKey;
        const reason = sphinxFailure(() => {
          const result = sphinx.unwrap(key, current);
          if (result.kind === 'forward') {
            assert.equal(result.packet.length, current.length);
            current = result.packet;
          }
        });
        if (reason !== 'none') return { at: hop, reason };
      }
      return { at: nodes.length, reason: 'none' };
    }

    test('a flipped header bit fails the MAC at that very hop (bad_version in the version bytes)', () => {
      fc.assert(
        fc.property(fc.nat(nodes.length - 1), fc.nat(geometry.headerLength * 8 - 1), (hop, bit) => {
          const reason = bit < 16 ? 'bad_version' : 'mac_mismatch';
          assert.deepEqual(walk(hop, flipBit(received[hop] as Uint8Array, bit)), { at: hop, reason });
        }),
        { numRuns: runs },
      );
    });

    test('a flipped payload bit travels to the last hop and fails its payload tag', () => {
      const payloadBits = (geometry.packetLength - geometry.headerLength) * 8;
      fc.assert(
        fc.property(fc.nat(nodes.length - 1), fc.nat(payloadBits - 1), (hop, bit) => {
          const packet = flipBit(received[hop] as Uint8Array, geometry.headerLength * 8 + bit);
          assert.deepEqual(walk(hop, packet), { at: nodes.length - 1, reason: 'payload_tag_mismatch' });
        }),
        { numRuns: runs / 3 },
      );
    });

    test('a flipped bit in a SURB reply is caught when the SURB keys open it', () => {
      const { surb, keys } = sphinx.newSurb(makePath(nodes, { recipient, surbId }));
      const { packet } = sphinx.newPacketFromSurb(surb, randomBytes(32));
      fc.assert(
        fc.property(fc.nat((geometry.packetLength - geometry.headerLength) * 8 - 1), (bit) => {
          let current = flipBit(packet, geometry.headerLength * 8 + bit);
          for (const [hop, node] of nodes.entries()) {
            const result = sphinx.unwrap(node.keys.secretKey, current);
            if (result.kind === 'forward') current = result.packet;
            else {
              assert.equal(hop, nodes.length - 1);
              assert.equal(result.kind, 'reply');
              assert.equal(
                sphinxFailure(() => sphinx.decryptSurbPayload(result.payload, keys)),
                'payload_tag_mismatch',
              );
            }
          }
        }),
        { numRuns: runs / 10 },
      );
    });

    test('unwrapping the same packet twice gives the same replay tag; different packets, different tags', () => {
      const first = sphinx.unwrap((nodes[0] ?? assert.fail()).keys.secretKey, received[0] as Uint8Array);
      const again = sphinx.unwrap(
        (nodes[0] ?? assert.fail()).keys.secretKey,
        (received[0] as Uint8Array).slice(),
      );
      assert.equal(first.replayTag.length, 32);
      assert.deepEqual(again.replayTag, first.replayTag);
      const other = sphinx.newPacket(makePath(nodes, { recipient }), randomBytes(64));
      assert.notDeepEqual(
        sphinx.unwrap((nodes[0] ?? assert.fail()).keys.secretKey, other).replayTag,
        first.replayTag,
      );
    });

    test('hostile bytes of any length get a SphinxError and nothing else', () => {
      const key = (nodes[0] ?? assert.fail()).keys.secretKey;
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: geometry.packetLength + 64 }), (bytes) => {
          assert.equal(
            sphinxFailure(() => sphinx.unwrap(key, bytes)),
            'bad_length',
          );
        }),
        { numRuns: 100 },
      );
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: geometry.packetLength, maxLength: geometry.packetLength }),
          fc.boolean(),
          (bytes, versioned) => {
            if (versioned) bytes.fill(0, 0, 2);
            const reason = sphinxFailure(() => sphinx.unwrap(key, bytes));
            assert.ok(['bad_version', 'mac_mismatch', 'invalid_key'].includes(reason), reason);
          },
        ),
        { numRuns: runs / 3 },
      );
    });
  });
}
