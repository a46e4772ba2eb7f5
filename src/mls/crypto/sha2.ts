/**
 * SHA-2 for the MLS native provider: the hash, HMAC (RFC 2104) and HKDF (RFC 5869) of SHA-256, SHA-384 and
 * SHA-512, the hash functions of the MLS ciphersuites (RFC 9420 §5.1, §17.1) and of their HPKE KDFs
 * (RFC 9180 §7.2). Synchronous, so that HPKE (hpke.ts) chains them without promises; native through umbra's
 * node backend (libsodium for short SHA-256 inputs, OpenSSL otherwise) and node:crypto for SHA-384.
 */
import { hash } from 'node:crypto';
import type { HashAlgorithm, KdfAlgorithm } from 'ts-mls';
import { hmacFromHash } from '../../crypto/backends/hmac-from-hash.ts';
import { nodeBackend } from '../../crypto/backends/node.ts';
import { ArgumentError } from '../../errors.ts';

export interface Sha2 {
  /** The hash's output length, Nh. */
  readonly outputLength: number;
  digest(data: Uint8Array): Uint8Array;
  /** HMAC of the concatenation of `data`. */
  hmac(key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
  /** HKDF-Extract (RFC 5869 §2.2); an empty salt is the same HMAC key as Nh zero bytes. */
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  /** HKDF-Expand (RFC 5869 §2.3), at most 255 × Nh bytes. */
  expand(pseudorandomKey: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

const EMPTY = new Uint8Array(0);

function sha384(data: Uint8Array): Uint8Array {
  const digest = hash('sha384', data, 'buffer');
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

function build(digest: (data: Uint8Array) => Uint8Array, block: number, outputLength: number): Sha2 {
  const { hmac } = hmacFromHash(digest, block);
  const counter = new Uint8Array(1);
  return {
    outputLength,
    digest,
    hmac,
    extract: (salt, ikm) => hmac(salt, ikm),
    expand(pseudorandomKey, info, length) {
      if (!Number.isSafeInteger(length) || length < 0 || length > 255 * outputLength) {
        throw new ArgumentError('length', `expected an integer in [0, ${255 * outputLength}]`);
      }
      const blocks = Math.ceil(length / outputLength);
      const out = new Uint8Array(blocks * outputLength);
      // T(n) = HMAC(PRK, T(n-1) ‖ info ‖ n), T(0) empty.
      let previous: Uint8Array = EMPTY;
      for (let n = 0; n < blocks; n++) {
        counter[0] = n + 1;
        previous = hmac(pseudorandomKey, previous, info, counter);
        out.set(previous, n * outputLength);
      }
      return length === out.length ? out : out.slice(0, length);
    },
  };
}

const functions: Record<HashAlgorithm, Sha2> = {
  'SHA-256': build(nodeBackend.sha256, 64, 32),
  'SHA-384': build(sha384, 128, 48),
  'SHA-512': build(nodeBackend.sha512, 128, 64),
};

const kdfHashes: Record<KdfAlgorithm, HashAlgorithm> = {
  'HKDF-SHA256': 'SHA-256',
  'HKDF-SHA384': 'SHA-384',
  'HKDF-SHA512': 'SHA-512',
};

export function sha2(algorithm: HashAlgorithm): Sha2 {
  return functions[algorithm];
}

/** The SHA-2 function under an HPKE KDF (RFC 9180 §7.2). */
export function sha2OfKdf(kdf: KdfAlgorithm): Sha2 {
  return functions[kdfHashes[kdf]];
}
