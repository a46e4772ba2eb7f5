/**
 * Randomness from the platform CSPRNG: WebCrypto's getRandomValues, which Node (≥ 19, backed by OpenSSL's
 * RAND_bytes) and every browser provide. Both crypto backends draw from here, so there is one source.
 */
import { ArgumentError } from '../errors.ts';

/** getRandomValues refuses requests above 65,536 bytes; larger ones are filled in slices. */
const MAX_REQUEST = 65_536;

export function randomBytes(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new ArgumentError('length', 'expected a non-negative integer');
  }
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += MAX_REQUEST) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + MAX_REQUEST)));
  }
  return out;
}

/** A uniform integer in [0, bound) without modulo bias (rejection sampling on 32-bit draws). */
export function randomInt(bound: number): number {
  if (!Number.isSafeInteger(bound) || bound <= 0 || bound > 2 ** 32) {
    throw new ArgumentError('bound', 'expected an integer in [1, 2^32]');
  }
  const limit = 2 ** 32 - (2 ** 32 % bound);
  const word = new Uint32Array(1);
  for (;;) {
    globalThis.crypto.getRandomValues(word);
    if ((word[0] as number) < limit) return (word[0] as number) % bound;
  }
}
