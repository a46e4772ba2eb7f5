// X-Wing against the draft's published test vectors (committed under test/vectors/xwing with their source),
// on both backends, plus cross-backend round trips and hostile ciphertexts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fromHex, toHex } from '../../src/bytes.ts';
import { createXWing } from '../../src/crypto/xwing.ts';
import { ArgumentError } from '../../src/errors.ts';
import { backends, nodeBackend, portableBackend } from '../support/backends.ts';

interface XWingVector {
  seed: string;
  sk: string;
  pk: string;
  eseed: string;
  ct: string;
  ss: string;
}

const vectors = JSON.parse(
  readFileSync(new URL('../vectors/xwing/test-vectors.json', import.meta.url), 'utf8'),
) as XWingVector[];

for (const backend of backends) {
  describe(`X-Wing on the ${backend.name} backend`, () => {
    const xwing = createXWing(backend);

    test('sizes match the draft', () => {
      assert.deepEqual(
        [xwing.publicKeyLength, xwing.secretKeyLength, xwing.cipherTextLength, xwing.sharedSecretLength],
        [1216, 32, 1120, 32],
      );
    });

    test(`passes all ${vectors.length} published vectors: key generation, encapsulation, decapsulation`, () => {
      assert.ok(vectors.length >= 3);
      for (const vector of vectors) {
        const keyPair = xwing.generateKeyPair(fromHex(vector.seed));
        assert.equal(toHex(keyPair.secretKey), vector.sk);
        assert.equal(toHex(keyPair.publicKey), vector.pk);
        const { cipherText, sharedSecret } = xwing.encapsulate(keyPair.publicKey, fromHex(vector.eseed));
        assert.equal(toHex(cipherText), vector.ct);
        assert.equal(toHex(sharedSecret), vector.ss);
        assert.equal(toHex(xwing.decapsulate(fromHex(vector.ct), fromHex(vector.sk))), vector.ss);
      }
    });

    test('a modified ciphertext decapsulates to an unrelated secret (implicit rejection), never an exception', () => {
      const keyPair = xwing.generateKeyPair();
      const { cipherText, sharedSecret } = xwing.encapsulate(keyPair.publicKey);
      for (const position of [0, 500, 1087, 1088, 1119]) {
        const modified = cipherText.slice();
        modified[position] = (modified[position] as number) ^ 1;
        assert.notDeepEqual(xwing.decapsulate(modified, keyPair.secretKey), sharedSecret);
      }
      const lowOrder = cipherText.slice();
      lowOrder.fill(0, 1088);
      assert.notDeepEqual(xwing.decapsulate(lowOrder, keyPair.secretKey), sharedSecret);
    });

    test('wrong lengths are typed errors', () => {
      const keyPair = xwing.generateKeyPair();
      assert.throws(() => xwing.encapsulate(keyPair.publicKey.subarray(1)), ArgumentError);
      assert.throws(() => xwing.decapsulate(new Uint8Array(1119), keyPair.secretKey), ArgumentError);
      assert.throws(() => xwing.generateKeyPair(new Uint8Array(31)), ArgumentError);
    });
  });
}

test('X-Wing: what one backend encapsulates the other decapsulates', () => {
  const node = createXWing(nodeBackend);
  const portable = createXWing(portableBackend);
  for (let i = 0; i < 5; i++) {
    const keyPair = node.generateKeyPair();
    const fromNode = node.encapsulate(keyPair.publicKey);
    assert.deepEqual(portable.decapsulate(fromNode.cipherText, keyPair.secretKey), fromNode.sharedSecret);
    const fromPortable = portable.encapsulate(keyPair.publicKey);
    assert.deepEqual(node.decapsulate(fromPortable.cipherText, keyPair.secretKey), fromPortable.sharedSecret);
  }
});
