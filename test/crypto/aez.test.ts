// AEZ v5 against the reference known-answer vectors (committed under test/vectors/aez with their source):
// Extract, AEZ-hash, AEZ-prf and Encrypt/Decrypt, plus round trips, tag checks, the wide-block property Sphinx
// relies on (tau = 0) and argument validation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/bytes.ts';
import { aezHash, aezPrf, expandKey, extract, KEY_SCHEDULE_WORDS } from '../../src/crypto/aez/core.ts';
import { AEZ_MAX_TAU, Aez, aezDecrypt, aezEncipherInPlace, aezEncrypt } from '../../src/crypto/aez/index.ts';
import { ArgumentError, AuthenticationError } from '../../src/errors.ts';

function readVectors<T>(name: string): T[] {
  return JSON.parse(readFileSync(new URL(`../vectors/aez/${name}.json`, import.meta.url), 'utf8')) as T[];
}

interface ExtractVector {
  a: string;
  b: string;
}
interface HashVector {
  k: string;
  tau: number;
  data: string[];
  v: string;
}
interface PrfVector {
  k: string;
  delta: string;
  tau: number;
  r: string;
}
interface EncryptVector {
  k: string;
  nonce: string;
  data: string[];
  tau: number;
  m: string;
  c: string;
}

const ENCRYPT_FILES = ['encrypt', 'encrypt_no_ad', 'encrypt_33_byte_ad', 'encrypt_16_byte_key'];
const encryptVectors = ENCRYPT_FILES.flatMap((name) => readVectors<EncryptVector>(name));

function schedule(keyHex: string): Int32Array {
  const words = new Int32Array(KEY_SCHEDULE_WORDS);
  expandKey(extract(fromHex(keyHex)), words);
  return words;
}

function blockToHex(words: Int32Array): string {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  for (let q = 0; q < 4; q++) view.setInt32(4 * q, words[q] as number);
  return toHex(bytes);
}

function hexToBlock(hex: string): Int32Array {
  const view = new DataView(fromHex(hex).buffer);
  return Int32Array.from({ length: 4 }, (_, q) => view.getInt32(4 * q));
}

function differingBytes(a: Uint8Array, b: Uint8Array, from: number, to: number): number {
  let count = 0;
  for (let q = from; q < to; q++) if (a[q] !== b[q]) count++;
  return count;
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >>> 3] = (out[bit >>> 3] as number) ^ (0x80 >>> (bit & 7));
  return out;
}

describe('AEZ v5 known-answer vectors', () => {
  test('Extract: all 110 vectors (BLAKE2b-384, except a 48-byte key used as is)', () => {
    const vectors = readVectors<ExtractVector>('extract');
    assert.equal(vectors.length, 110);
    for (const vector of vectors) assert.equal(toHex(extract(fromHex(vector.a))), vector.b);
  });

  test('AEZ-hash: all 27 vectors', () => {
    const vectors = readVectors<HashVector>('hash');
    assert.equal(vectors.length, 27);
    for (const vector of vectors) {
      const [nonce, ...associatedData] = vector.data.map(fromHex);
      const out = new Int32Array(4);
      aezHash(schedule(vector.k), vector.tau, nonce ?? new Uint8Array(0), associatedData, out, 0);
      assert.equal(blockToHex(out), vector.v);
    }
  });

  test('AEZ-prf: all 16 vectors', () => {
    const vectors = readVectors<PrfVector>('prf');
    assert.equal(vectors.length, 16);
    for (const vector of vectors) {
      const out = new Uint8Array(vector.tau);
      aezPrf(schedule(vector.k), hexToBlock(vector.delta), 0, out);
      assert.equal(toHex(out), vector.r);
    }
  });

  test(`Encrypt and Decrypt: all ${encryptVectors.length} vectors, one-shot and keyed`, () => {
    assert.equal(encryptVectors.length, 1036);
    for (const vector of encryptVectors) {
      const key = fromHex(vector.k);
      const nonce = fromHex(vector.nonce);
      const associatedData = vector.data.map(fromHex);
      const message = fromHex(vector.m);
      const cipherText = fromHex(vector.c);
      assert.equal(toHex(aezEncrypt(key, nonce, associatedData, vector.tau, message)), vector.c);
      assert.equal(toHex(aezDecrypt(key, nonce, associatedData, vector.tau, cipherText)), vector.m);
      const aez = new Aez(key);
      assert.equal(toHex(aez.encrypt(nonce, associatedData, vector.tau, message)), vector.c);
      assert.equal(toHex(aez.decrypt(nonce, associatedData, vector.tau, cipherText)), vector.m);
    }
  });

  test('in place (tau = 0): every tau-0 vector, also in an unaligned view whose neighbours stay untouched', () => {
    const vectors = encryptVectors.filter((vector) => vector.tau === 0 && vector.m.length > 0);
    assert.ok(vectors.length > 100);
    for (const vector of vectors) {
      const key = fromHex(vector.k);
      const nonce = fromHex(vector.nonce);
      const associatedData = vector.data.map(fromHex);
      const length = vector.m.length / 2;
      const buffer = new Uint8Array(length + 3).fill(0xee);
      const view = buffer.subarray(1, 1 + length);
      view.set(fromHex(vector.m));
      aezEncipherInPlace(key, nonce, associatedData, view, false);
      assert.equal(toHex(view), vector.c);
      aezEncipherInPlace(key, nonce, associatedData, view, true);
      assert.equal(toHex(view), vector.m);
      assert.deepEqual([buffer[0], buffer[length + 1], buffer[length + 2]], [0xee, 0xee, 0xee]);
    }
  });

  test('the vectors cover AEZ-prf, every AEZ-tiny length, AEZ-core with and without fragments, both tags', () => {
    const lengths = new Set(encryptVectors.map((vector) => vector.m.length / 2));
    for (let length = 0; length < 64; length++) assert.ok(lengths.has(length), `message length ${length}`);
    assert.ok(Math.max(...lengths) >= 16 * 32, 'more than 8 pairs, so the I offset doubles');
    assert.deepEqual(new Set(encryptVectors.map((vector) => vector.tau)), new Set([0, 16]));
  });
});

describe('AEZ properties', () => {
  const arbitraryKey = fc.oneof(
    fc.uint8Array({ minLength: 48, maxLength: 48 }),
    fc.uint8Array({ maxLength: 80 }),
  );
  const arbitraryTweak = fc.record({
    nonce: fc.uint8Array({ maxLength: 40 }),
    associatedData: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }),
    tau: fc.integer({ min: 0, max: 32 }),
  });

  test('decrypt inverts encrypt for messages of 0..3000 bytes and tags of 0..32 bytes', () => {
    fc.assert(
      fc.property(
        arbitraryKey,
        arbitraryTweak,
        fc.uint8Array({ maxLength: 3000 }),
        (key, { nonce, associatedData, tau }, message) => {
          const cipherText = aezEncrypt(key, nonce, associatedData, tau, message);
          assert.equal(cipherText.length, message.length + tau);
          assert.deepEqual(aezDecrypt(key, nonce, associatedData, tau, cipherText), message);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('with tau > 0, any flipped bit, a different nonce or different associated data is rejected', () => {
    fc.assert(
      fc.property(
        arbitraryKey,
        arbitraryTweak.filter(({ tau }) => tau >= 8),
        fc.uint8Array({ maxLength: 600 }),
        fc.nat(),
        (key, { nonce, associatedData, tau }, message, position) => {
          const cipherText = aezEncrypt(key, nonce, associatedData, tau, message);
          const tampered = flipBit(cipherText, position % (8 * cipherText.length));
          assert.throws(() => aezDecrypt(key, nonce, associatedData, tau, tampered), AuthenticationError);
          const otherNonce = Uint8Array.of(...nonce, 0);
          assert.throws(
            () => aezDecrypt(key, otherNonce, associatedData, tau, cipherText),
            AuthenticationError,
          );
          const otherData = [...associatedData, new Uint8Array(0)];
          assert.throws(() => aezDecrypt(key, nonce, otherData, tau, cipherText), AuthenticationError);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('a ciphertext shorter than the tag, or random bytes, fail with AuthenticationError only', () => {
    const key = new Uint8Array(48).fill(1);
    assert.throws(() => aezDecrypt(key, new Uint8Array(0), [], 16, new Uint8Array(15)), AuthenticationError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 8, max: 32 }), (cipherText, tau) => {
        assert.throws(() => aezDecrypt(key, new Uint8Array(16), [], tau, cipherText), AuthenticationError);
      }),
    );
  });

  test('tau = 0 is length-preserving and wide-block: one flipped bit changes bytes in both halves', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 48, maxLength: 48 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 32, maxLength: 3000 }),
        fc.nat(),
        (key, nonce, message, position) => {
          const flipped = flipBit(message, position % (8 * message.length));
          const a = aezEncrypt(key, nonce, [], 0, message);
          const b = aezEncrypt(key, nonce, [], 0, flipped);
          const middle = message.length >>> 1;
          assert.equal(a.length, message.length);
          assert.ok(differingBytes(a, b, 0, middle) > 0 && differingBytes(a, b, middle, a.length) > 0);
          const c = aezDecrypt(key, nonce, [], 0, flipBit(a, position % (8 * a.length)));
          assert.ok(
            differingBytes(c, message, 0, middle) > 0 && differingBytes(c, message, middle, a.length) > 0,
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  test('tau = 0 on a 2,000-byte Sphinx-sized payload: a flipped bit anywhere changes almost every byte', () => {
    const key = Uint8Array.from({ length: 48 }, (_, q) => q);
    const nonce = new Uint8Array(16).fill(9);
    const payload = Uint8Array.from({ length: 2000 }, (_, q) => q * 7);
    const cipherText = aezEncrypt(key, nonce, [], 0, payload);
    for (const bit of [0, 7, 8 * 999, 8 * 1968 + 3, 8 * 1984, 8 * 2000 - 1]) {
      const changed = aezEncrypt(key, nonce, [], 0, flipBit(payload, bit));
      assert.ok(differingBytes(cipherText, changed, 0, 2000) > 1950, `bit ${bit}`);
      const opened = aezDecrypt(key, nonce, [], 0, flipBit(cipherText, bit));
      assert.ok(differingBytes(opened, payload, 0, 2000) > 1950, `bit ${bit}`);
    }
  });

  test('messages over 64 KiB round-trip and stay wide-block', () => {
    const key = new Uint8Array(48).fill(3);
    const message = Uint8Array.from({ length: 70_001 }, (_, q) => q);
    const cipherText = aezEncrypt(key, new Uint8Array(0), [], 0, message);
    assert.deepEqual(aezDecrypt(key, new Uint8Array(0), [], 0, cipherText), message);
    const changed = aezEncrypt(key, new Uint8Array(0), [], 0, flipBit(message, 8 * 70_000));
    assert.ok(differingBytes(cipherText, changed, 0, 70_001) > 69_000);
  });

  test('a keyed Aez gives the one-shot results across messages and refuses use after wipe', () => {
    const key = Uint8Array.from({ length: 48 }, (_, q) => 255 - q);
    const aez = new Aez(key);
    for (const length of [0, 1, 15, 31, 32, 33, 2000]) {
      const message = new Uint8Array(length).fill(length);
      const cipherText = aez.encrypt(new Uint8Array(16), [], 0, message);
      assert.deepEqual(cipherText, aezEncrypt(key, new Uint8Array(16), [], 0, message));
      assert.deepEqual(aez.decrypt(new Uint8Array(16), [], 0, cipherText), message);
    }
    assert.doesNotMatch(`${aez} ${JSON.stringify(aez)}`, new RegExp(toHex(key.subarray(0, 8))));
    aez.wipe();
    assert.throws(() => aez.encrypt(new Uint8Array(0), [], 0, new Uint8Array(1)), ArgumentError);
  });
});

describe('AEZ argument validation', () => {
  const key = new Uint8Array(48);
  const nonce = new Uint8Array(16);
  const cases: [string, () => unknown][] = [
    ['key not bytes', () => aezEncrypt('key' as unknown as Uint8Array, nonce, [], 0, new Uint8Array(1))],
    ['nonce not bytes', () => aezEncrypt(key, [1, 2] as unknown as Uint8Array, [], 0, new Uint8Array(1))],
    [
      'associated data not an array',
      () => aezEncrypt(key, nonce, nonce as unknown as Uint8Array[], 0, nonce),
    ],
    [
      'associated data element',
      () => aezDecrypt(key, nonce, [nonce, 'x' as unknown as Uint8Array], 0, nonce),
    ],
    ['negative tau', () => aezEncrypt(key, nonce, [], -1, nonce)],
    ['fractional tau', () => aezDecrypt(key, nonce, [], 1.5, nonce)],
    ['tau too large', () => aezEncrypt(key, nonce, [], AEZ_MAX_TAU + 1, nonce)],
    ['tau not a number', () => aezEncrypt(key, nonce, [], '16' as unknown as number, nonce)],
    ['plaintext not bytes', () => aezEncrypt(key, nonce, [], 0, null as unknown as Uint8Array)],
    ['ciphertext not bytes', () => aezDecrypt(key, nonce, [], 0, {} as unknown as Uint8Array)],
    ['keyed: key not bytes', () => new Aez(undefined as unknown as Uint8Array)],
    [
      'in place: bytes not bytes',
      () => aezEncipherInPlace(key, nonce, [], [1, 2] as unknown as Uint8Array, false),
    ],
    [
      'in place: key not bytes',
      () => aezEncipherInPlace(null as unknown as Uint8Array, nonce, [], nonce, true),
    ],
  ];
  for (const [name, call] of cases) {
    test(`${name} throws ArgumentError`, () => assert.throws(call, ArgumentError));
  }
});
