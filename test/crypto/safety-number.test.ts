// Safety numbers on both backends: a known answer computed once by an independent Python (hashlib) script
// of the construction, symmetry between the two sides, sensitivity to every input, the display format and
// argument checks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromHex, toHex, utf8 } from '../../src/bytes.ts';
import type { CryptoBackend } from '../../src/crypto/backend.ts';
import {
  compareSafetyNumberQr,
  type SafetyNumberParty,
  safetyNumber,
} from '../../src/crypto/safety-number.ts';
import { ArgumentError } from '../../src/errors.ts';
import { backends } from '../support/backends.ts';

const range = (length: number, start = 0) => Uint8Array.from({ length }, (_, i) => start + i);

const alice: SafetyNumberParty = { id: 'alice@umbra.example', identityKey: range(32) };
const bob: SafetyNumberParty = { id: fromHex('b0b0b0b0'), identityKey: range(33, 0x20) };

// From the reference script: alice's half is 277834636334142535396043589181,
// bob's 521155599906861821876106691185.
const EXPECTED_DIGITS = '277834636334142535396043589181521155599906861821876106691185';
const EXPECTED_QR =
  '0000' +
  '6b48b515a714e9eb1fdbe12dc3959ee6981900e367021fa793e75bf159bd' +
  '210d58ebd3109d8a305faf409cfc6d7bfec0232b7fc2e6ef6a4f19c0f031';

for (const backend of backends) {
  describe(`safety number on the ${backend.name} backend`, () => {
    const number = safetyNumber(backend, alice, bob);

    test('matches the independently computed known answer', () => {
      assert.equal(number.digits, EXPECTED_DIGITS);
      assert.equal(toHex(number.qrBytes), EXPECTED_QR);
    });

    test('is the same from both sides', () => {
      const theirs = safetyNumber(backend, bob, alice);
      assert.deepEqual(theirs, number);
      assert.ok(compareSafetyNumberQr(number.qrBytes, theirs.qrBytes));
    });

    test('is 60 digits in 12 groups of 5', () => {
      assert.match(number.digits, /^\d{60}$/);
      assert.equal(number.groups.length, 12);
      for (const group of number.groups) assert.match(group, /^\d{5}$/);
      assert.equal(number.groups.join(''), number.digits);
      assert.equal(number.display, number.groups.join(' '));
      assert.equal(number.qrBytes.length, 62);
    });

    test('changes with either key or either id, in digits and QR payload', () => {
      const flipped = (bytes: Uint8Array) => Uint8Array.from(bytes, (byte, i) => (i === 0 ? byte ^ 1 : byte));
      const variants = [
        safetyNumber(backend, { ...alice, identityKey: flipped(alice.identityKey) }, bob),
        safetyNumber(backend, alice, { ...bob, identityKey: flipped(bob.identityKey) }),
        safetyNumber(backend, { ...alice, id: 'alice@umbra.example.' }, bob),
        safetyNumber(backend, alice, { ...bob, id: fromHex('b0b0b0b1') }),
      ];
      for (const variant of variants) {
        assert.notEqual(variant.digits, number.digits);
        assert.ok(!compareSafetyNumberQr(number.qrBytes, variant.qrBytes));
      }
    });

    test('a string id is its UTF-8 bytes', () => {
      const asBytes = safetyNumber(backend, { ...alice, id: utf8('alice@umbra.example') }, bob);
      assert.equal(asBytes.digits, number.digits);
    });
  });
}

describe('safety number arguments', () => {
  const [backend] = backends as [CryptoBackend];

  test('are checked', () => {
    const invalid: unknown[] = [
      { id: '', identityKey: range(32) },
      { id: new Uint8Array(0), identityKey: range(32) },
      { id: 'a\uD800', identityKey: range(32) },
      { id: 5, identityKey: range(32) },
      { id: 'alice', identityKey: new Uint8Array(0) },
      { id: 'alice', identityKey: [1, 2, 3] },
      null,
    ];
    for (const party of invalid) {
      assert.throws(() => safetyNumber(backend, party as SafetyNumberParty, bob), ArgumentError);
      assert.throws(() => safetyNumber(backend, alice, party as SafetyNumberParty), ArgumentError);
    }
    assert.throws(() => safetyNumber({} as CryptoBackend, alice, bob), ArgumentError);
  });

  test('QR comparison refuses non-bytes and treats other lengths as a mismatch', () => {
    const { qrBytes } = safetyNumber(backend, alice, bob);
    assert.ok(!compareSafetyNumberQr(qrBytes, qrBytes.subarray(0, 61)));
    assert.throws(() => compareSafetyNumberQr(qrBytes, 'qr' as unknown as Uint8Array), ArgumentError);
  });
});
