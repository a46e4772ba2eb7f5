// The per-key cache must never serve a result for bytes other than the key it is given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cachedPerKey } from '../../src/crypto/key-cache.ts';
import { createXWing } from '../../src/crypto/xwing.ts';
import { backends } from '../support/backends.ts';

test('a key array overwritten in place is derived again, not served from the cache', () => {
  let derivations = 0;
  const firstByte = cachedPerKey((key) => {
    derivations++;
    return key[0];
  });
  const key = Uint8Array.of(1, 2, 3);
  assert.equal(firstByte(key), 1);
  assert.equal(firstByte(key), 1);
  assert.equal(derivations, 1);
  key[0] = 9;
  assert.equal(firstByte(key), 9);
  assert.equal(derivations, 2);
});

for (const backend of backends) {
  test(`${backend.name}: decapsulating with a reused key array that was overwritten uses the new key`, () => {
    for (const kem of [backend.mlkem768, createXWing(backend)]) {
      const first = kem.generateKeyPair();
      const second = kem.generateKeyPair();
      const secretKey = Uint8Array.from(first.secretKey);
      const toFirst = kem.encapsulate(first.publicKey);
      assert.deepEqual(kem.decapsulate(toFirst.cipherText, secretKey), toFirst.sharedSecret);
      secretKey.set(second.secretKey);
      const toSecond = kem.encapsulate(second.publicKey);
      assert.deepEqual(kem.decapsulate(toSecond.cipherText, secretKey), toSecond.sharedSecret, kem.name);
    }
  });
}
