/**
 * AEZ v5 (Hoang, Krovetz, Rogaway, CAESAR round 2): authenticated encryption by enciphering. The plaintext
 * followed by tau zero bytes is enciphered with a tweakable wide-block cipher whose tweak is (tau, nonce,
 * associated data); decryption deciphers and checks the zeros. With tau = 0 it is a length-preserving
 * strong pseudorandom permutation, which is how Sphinx (Katzenpost-compatible) encrypts payloads: changing
 * any bit of the input changes the whole output. Byte-compatible with the reference code and with the Go
 * package Katzenpost uses.
 */

import { assertBytes } from '../../bytes.ts';
import { ArgumentError, AuthenticationError } from '../../errors.ts';
import { SecretHolder } from '../secret.ts';
import { EXTRACTED_KEY_BYTES, encipher, expandKey, extract, KEY_SCHEDULE_WORDS, prf } from './core.ts';

/** The largest tag accepted, in bytes. The spec allows more; nothing needs it and it bounds allocations. */
export const AEZ_MAX_TAU = 65_536;

function checkTweak(
  nonce: unknown,
  associatedData: unknown,
  tau: unknown,
): asserts associatedData is Uint8Array[] {
  assertBytes('nonce', nonce);
  if (!Array.isArray(associatedData))
    throw new ArgumentError('associatedData', 'expected an array of Uint8Array');
  for (let index = 0; index < associatedData.length; index++) {
    assertBytes(`associatedData[${index}]`, associatedData[index]);
  }
  if (typeof tau !== 'number' || !Number.isInteger(tau) || tau < 0 || tau > AEZ_MAX_TAU) {
    throw new ArgumentError('tau', `expected an integer from 0 to ${AEZ_MAX_TAU}`);
  }
}

/** Fills `schedule` from `key`: Extract (BLAKE2b-384) unless the key already has 48 bytes. */
function scheduleKey(key: Uint8Array, schedule: Int32Array): void {
  if (key.length === EXTRACTED_KEY_BYTES) {
    expandKey(key, schedule);
    return;
  }
  const extracted = extract(key);
  expandKey(extracted, schedule);
  extracted.fill(0);
}

/** An AEZ key with its schedule computed once, for many messages under the same key. */
export class Aez extends SecretHolder {
  readonly #schedule = new Int32Array(KEY_SCHEDULE_WORDS);
  #wiped = false;

  /** `key` may have any length: 48 bytes are used directly, others go through Extract (BLAKE2b-384). */
  constructor(key: Uint8Array) {
    super();
    assertBytes('key', key);
    scheduleKey(key, this.#schedule);
  }

  #liveSchedule(): Int32Array {
    if (this.#wiped) throw new ArgumentError('key', 'this AEZ key was wiped');
    return this.#schedule;
  }

  /** Returns plaintext.length + tau bytes. */
  encrypt(
    nonce: Uint8Array,
    associatedData: readonly Uint8Array[],
    tau: number,
    plaintext: Uint8Array,
  ): Uint8Array {
    checkTweak(nonce, associatedData, tau);
    assertBytes('plaintext', plaintext);
    const schedule = this.#liveSchedule();
    const out = new Uint8Array(plaintext.length + tau);
    if (plaintext.length === 0) {
      prf(schedule, tau * 8, nonce, associatedData, out);
    } else {
      out.set(plaintext);
      encipher(schedule, tau * 8, nonce, associatedData, out, false);
    }
    return out;
  }

  /** Inverse of `encrypt`. Throws AuthenticationError when tau > 0 and the tag does not verify. */
  decrypt(
    nonce: Uint8Array,
    associatedData: readonly Uint8Array[],
    tau: number,
    cipherText: Uint8Array,
  ): Uint8Array {
    checkTweak(nonce, associatedData, tau);
    assertBytes('cipherText', cipherText);
    const schedule = this.#liveSchedule();
    if (cipherText.length < tau) throw new AuthenticationError('AEZ ciphertext shorter than its tag');
    let difference = 0;
    if (cipherText.length === tau) {
      const expected = new Uint8Array(tau);
      prf(schedule, tau * 8, nonce, associatedData, expected);
      for (let q = 0; q < tau; q++) difference |= (expected[q] as number) ^ (cipherText[q] as number);
      if (difference !== 0) throw new AuthenticationError('AEZ tag mismatch');
      return new Uint8Array(0);
    }
    const out = cipherText.slice();
    encipher(schedule, tau * 8, nonce, associatedData, out, true);
    const messageLength = out.length - tau;
    for (let q = messageLength; q < out.length; q++) difference |= out[q] as number;
    if (difference !== 0) {
      out.fill(0);
      throw new AuthenticationError('AEZ tag mismatch');
    }
    return tau === 0 ? out : out.subarray(0, messageLength);
  }

  /** Erases the key schedule; later calls throw ArgumentError. */
  wipe(): void {
    this.#schedule.fill(0);
    this.#wiped = true;
  }
}

/**
 * AEZ v5 encryption. key: any length (48 bytes used directly, others through Extract). nonce: any length,
 * may be empty. associatedData: a vector of strings, may be empty. tau: tag length in bytes (0 for the SPRP
 * use). Returns plaintext.length + tau bytes.
 */
export function aezEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData: readonly Uint8Array[],
  tau: number,
  plaintext: Uint8Array,
): Uint8Array {
  const aez = new Aez(key);
  try {
    return aez.encrypt(nonce, associatedData, tau, plaintext);
  } finally {
    aez.wipe();
  }
}

/** AEZ v5 decryption; with tau > 0 an altered input throws AuthenticationError, with tau = 0 it always returns. */
export function aezDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData: readonly Uint8Array[],
  tau: number,
  cipherText: Uint8Array,
): Uint8Array {
  const aez = new Aez(key);
  try {
    return aez.decrypt(nonce, associatedData, tau, cipherText);
  } finally {
    aez.wipe();
  }
}

/** Key schedule of `aezEncipherInPlace`; it is synchronous and wipes the schedule before returning. */
const inPlaceSchedule = new Int32Array(KEY_SCHEDULE_WORDS);

/**
 * AEZ v5 with tau = 0 (the length-preserving SPRP) applied to `bytes` in place: enciphers them, or deciphers
 * them when `decipher` is true. The same bytes as `aezEncrypt`/`aezDecrypt` with tau 0, without allocating a
 * key object or an output: Sphinx runs it on every packet's payload at every hop.
 */
export function aezEncipherInPlace(
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData: readonly Uint8Array[],
  bytes: Uint8Array,
  decipher: boolean,
): void {
  assertBytes('key', key);
  checkTweak(nonce, associatedData, 0);
  assertBytes('bytes', bytes);
  scheduleKey(key, inPlaceSchedule);
  try {
    encipher(inPlaceSchedule, 0, nonce, associatedData, bytes, decipher);
  } finally {
    inPlaceSchedule.fill(0);
  }
}
