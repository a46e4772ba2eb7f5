// umbra's committed Sphinx vectors (test/vectors/kem-sphinx): KEM Sphinx with ML-KEM-768 and X-Wing, and X25519
// SURB replies. On each backend the generator must reproduce every committed byte from the recorded seeds, and
// the committed packets must unwrap hop by hop into the committed packets, replay tags and payloads.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  generateVectors,
  type HopByHop,
  type SphinxVectorFile,
  VECTOR_SETS,
} from '../../scripts/generate-kem-sphinx-vectors.ts';
import { fromHex, toHex } from '../../src/bytes.ts';
import { Geometry, Sphinx, SurbKeys, type UnwrapResult } from '../../src/sphinx/index.ts';
import { backends } from '../support/backends.ts';

for (const { file, choices, forwardHops } of VECTOR_SETS) {
  const vectors = JSON.parse(
    readFileSync(new URL(`../vectors/kem-sphinx/${file}`, import.meta.url), 'utf8'),
  ) as SphinxVectorFile;
  const geometry = Geometry.fromFields(vectors.geometry);

  for (const backend of backends) {
    describe(`${file} on the ${backend.name} backend`, () => {
      const sphinx = new Sphinx(geometry, backend);
      const secretKeys = vectors.nodes.map((node) => fromHex(node.secretKey));

      /** Unwraps each committed packet with its hop's key; returns the last hop's result. */
      function walkCommitted(vector: HopByHop): UnwrapResult {
        assert.equal(vector.packets.length, vector.hops);
        let result: UnwrapResult | undefined;
        for (const [hop, packet] of vector.packets.entries()) {
          result = sphinx.unwrap(secretKeys[hop] as Uint8Array, fromHex(packet));
          assert.equal(toHex(result.replayTag), vector.replayTags[hop], `hop ${hop} replay tag`);
          if (hop < vector.hops - 1) {
            assert.equal(result.kind, 'forward', `hop ${hop}`);
            if (result.kind === 'forward')
              assert.equal(toHex(result.packet), vector.packets[hop + 1], `hop ${hop}`);
          }
        }
        return result ?? assert.fail('no packets');
      }

      test('the geometry and its hash are the committed ones', () => {
        assert.equal(geometry.scheme, choices.scheme);
        assert.equal(toHex(geometry.hash()), vectors.geometryHash);
      });

      test('forward packets unwrap hop by hop into the committed packets and payload', () => {
        assert.deepEqual(
          vectors.forward.map((vector) => vector.hops),
          forwardHops,
        );
        for (const vector of vectors.forward) {
          const last = walkCommitted(vector);
          assert.equal(last.kind, 'final');
          if (last.kind !== 'final') continue;
          assert.equal(toHex(last.payload), vector.finalPayload);
          assert.equal(toHex(last.payload).slice(0, vector.payload.length), vector.payload);
          assert.equal(toHex(last.recipient ?? new Uint8Array(0)), vector.recipient);
        }
      });

      test('the SURB reply is rebuilt byte for byte, routed, and opened with the committed keys', () => {
        const { surb } = vectors;
        const { packet, firstHop } = sphinx.newPacketFromSurb(fromHex(surb.surb), fromHex(surb.reply));
        assert.equal(toHex(packet), surb.packets[0]);
        assert.equal(toHex(firstHop), vectors.nodes[0]?.id);
        const last = walkCommitted(surb);
        assert.equal(last.kind, 'reply');
        if (last.kind !== 'reply') return;
        assert.equal(toHex(last.surbId), surb.surbId);
        assert.equal(toHex(last.payload), surb.deliveredPayload);
        const opened = sphinx.decryptSurbPayload(
          fromHex(surb.deliveredPayload),
          new SurbKeys(fromHex(surb.surbKeys)),
        );
        assert.equal(toHex(opened), surb.reply);
      });

      test('the generator reproduces every committed byte from the recorded seeds', () => {
        assert.deepEqual(generateVectors(backend, choices, forwardHops), vectors);
      });
    });
  }
}
