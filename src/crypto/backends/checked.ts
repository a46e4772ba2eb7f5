/**
 * Argument checking shared by both backends. Each backend implements the raw operations; `checked` wraps
 * them so that every public entry point validates types and lengths the same way and throws the same named
 * `ArgumentError`, whichever backend runs. The sizes are those of RFC 7748, RFC 8032, FIPS 203 (seed-form
 * secret keys, 64 bytes) and FIPS 204 (seed-form secret keys, 32 bytes).
 */

import { assertBytes } from '../../bytes.ts';
import { ArgumentError } from '../../errors.ts';
import type { Aead, Argon2Parameters, CryptoBackend, Kem, Nike, SignatureScheme } from '../backend.ts';
import { randomBytes } from '../random.ts';
import { KeyPair } from '../secret.ts';

/** The raw operations a backend provides; lengths are guaranteed by the wrapper before they are called. */
export interface RawBackend {
  readonly name: CryptoBackend['name'];
  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  sha3_256(data: Uint8Array): Uint8Array;
  shake256(data: Uint8Array, outputLength: number): Uint8Array;
  hmacSha256(key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  hkdfExpandSha256(pseudorandomKey: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  hkdfSha3_256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  aesCtr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  chacha20(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array;
  x25519PublicKey(secretKey: Uint8Array): Uint8Array;
  /** Returns the raw result; the wrapper rejects the all-zero output. */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  mlkem768PublicKey(seed: Uint8Array): Uint8Array;
  mlkem768Encapsulate(
    publicKey: Uint8Array,
    encapsulationSeed?: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  mlkem768Decapsulate(cipherText: Uint8Array, seed: Uint8Array): Uint8Array;
  mldsa65PublicKey(seed: Uint8Array): Uint8Array;
  mldsa65Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  mldsa65Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** Raw AEADs throw `AuthenticationError` on a failed open. */
  aes256gcm: Pick<Aead, 'seal' | 'open'>;
  chacha20poly1305: Pick<Aead, 'seal' | 'open'>;
  xchacha20poly1305: Pick<Aead, 'seal' | 'open'>;
  argon2id(password: Uint8Array, salt: Uint8Array, parameters: Argon2Parameters): Promise<Uint8Array>;
}

const EMPTY = new Uint8Array(0);
/** HKDF-Expand can produce at most 255 blocks of the hash output. */
const HKDF_MAX_OUTPUT = 255 * 32;

function checkLength(argument: string, length: number, max: number): void {
  if (!Number.isSafeInteger(length) || length < 1 || length > max) {
    throw new ArgumentError(argument, `expected an integer in [1, ${max}]`);
  }
}

function checkedHash(raw: (data: Uint8Array) => Uint8Array): (data: Uint8Array) => Uint8Array {
  return (data) => {
    assertBytes('data', data);
    return raw(data);
  };
}

function checkedHkdf(raw: RawBackend['hkdfSha256']): CryptoBackend['hkdfSha256'] {
  return (ikm, salt, info, length) => {
    assertBytes('ikm', ikm);
    assertBytes('salt', salt);
    assertBytes('info', info);
    checkLength('length', length, HKDF_MAX_OUTPUT);
    return raw(ikm, salt, info, length);
  };
}

function isAllZero(bytes: Uint8Array): boolean {
  let accumulator = 0;
  for (const byte of bytes) accumulator |= byte;
  return accumulator === 0;
}

/** Also wraps the MLS native provider's AES-128-GCM (src/mls/crypto/aead.ts). */
export function checkedAead(
  name: string,
  keyLength: number,
  nonceLength: number,
  raw: Pick<Aead, 'seal' | 'open'>,
): Aead {
  const tagLength = 16;
  return {
    name,
    keyLength,
    nonceLength,
    tagLength,
    seal(key, nonce, plaintext, associatedData = EMPTY) {
      assertBytes('key', key, keyLength);
      assertBytes('nonce', nonce, nonceLength);
      assertBytes('plaintext', plaintext);
      assertBytes('associatedData', associatedData);
      return raw.seal(key, nonce, plaintext, associatedData);
    },
    open(key, nonce, cipherText, associatedData = EMPTY) {
      assertBytes('key', key, keyLength);
      assertBytes('nonce', nonce, nonceLength);
      assertBytes('cipherText', cipherText);
      assertBytes('associatedData', associatedData);
      if (cipherText.length < tagLength) throw new ArgumentError('cipherText', 'shorter than the tag');
      return raw.open(key, nonce, cipherText, associatedData);
    },
  };
}

function signatureScheme(
  name: string,
  sizes: { publicKeyLength: number; secretKeyLength: number; signatureLength: number },
  publicKey: (seed: Uint8Array) => Uint8Array,
  sign: (seed: Uint8Array, message: Uint8Array) => Uint8Array,
  verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean,
): SignatureScheme {
  return {
    name,
    ...sizes,
    generateKeyPair(seed = randomBytes(sizes.secretKeyLength)) {
      assertBytes('seed', seed, sizes.secretKeyLength);
      return new KeyPair(publicKey(seed), Uint8Array.from(seed));
    },
    sign(secretKey, message) {
      assertBytes('secretKey', secretKey, sizes.secretKeyLength);
      assertBytes('message', message);
      return sign(secretKey, message);
    },
    verify(key, message, signature) {
      assertBytes('publicKey', key);
      assertBytes('message', message);
      assertBytes('signature', signature);
      if (key.length !== sizes.publicKeyLength || signature.length !== sizes.signatureLength) return false;
      try {
        return verify(key, message, signature);
      } catch {
        return false;
      }
    },
  };
}

function x25519Nike(raw: RawBackend): Nike {
  return {
    name: 'X25519',
    publicKeyLength: 32,
    secretKeyLength: 32,
    sharedSecretLength: 32,
    generateKeyPair(seed = randomBytes(32)) {
      assertBytes('seed', seed, 32);
      return new KeyPair(raw.x25519PublicKey(seed), Uint8Array.from(seed));
    },
    publicKeyFromSecret(secretKey) {
      assertBytes('secretKey', secretKey, 32);
      return raw.x25519PublicKey(secretKey);
    },
    sharedSecret(secretKey, publicKey) {
      assertBytes('secretKey', secretKey, 32);
      assertBytes('publicKey', publicKey, 32);
      const shared = raw.x25519(secretKey, publicKey);
      if (isAllZero(shared)) throw new ArgumentError('publicKey', 'low-order point (all-zero shared secret)');
      return shared;
    },
  };
}

const ML_KEM_Q = 3329;
const ML_KEM_768_ENCODED_VECTOR = 1152;

/**
 * FIPS 203 §7.2 "modulus check": every 12-bit coefficient of the encoded vector t̂ must be below q.
 * Checked here so that both backends refuse the same keys whatever their library does.
 */
function isValidMlKemPublicKey(publicKey: Uint8Array): boolean {
  for (let i = 0; i < ML_KEM_768_ENCODED_VECTOR; i += 3) {
    const b0 = publicKey[i] as number;
    const b1 = publicKey[i + 1] as number;
    const b2 = publicKey[i + 2] as number;
    if ((b0 | ((b1 & 0x0f) << 8)) >= ML_KEM_Q || ((b1 >> 4) | (b2 << 4)) >= ML_KEM_Q) return false;
  }
  return true;
}

function mlkem768Kem(raw: RawBackend): Kem {
  const sizes = {
    publicKeyLength: 1184,
    secretKeyLength: 64,
    cipherTextLength: 1088,
    sharedSecretLength: 32,
    seedLength: 64,
    encapsulationSeedLength: 32,
  };
  return {
    name: 'ML-KEM-768',
    ...sizes,
    generateKeyPair(seed = randomBytes(sizes.seedLength)) {
      assertBytes('seed', seed, sizes.seedLength);
      return new KeyPair(raw.mlkem768PublicKey(seed), Uint8Array.from(seed));
    },
    encapsulate(publicKey, encapsulationSeed) {
      assertBytes('publicKey', publicKey, sizes.publicKeyLength);
      if (encapsulationSeed !== undefined) {
        assertBytes('encapsulationSeed', encapsulationSeed, sizes.encapsulationSeedLength);
      }
      if (!isValidMlKemPublicKey(publicKey)) {
        throw new ArgumentError('publicKey', 'not a valid ML-KEM-768 encapsulation key (FIPS 203 §7.2)');
      }
      return raw.mlkem768Encapsulate(publicKey, encapsulationSeed);
    },
    decapsulate(cipherText, secretKey) {
      assertBytes('cipherText', cipherText, sizes.cipherTextLength);
      assertBytes('secretKey', secretKey, sizes.secretKeyLength);
      return raw.mlkem768Decapsulate(cipherText, secretKey);
    },
  };
}

/** Wraps a raw backend with the argument checks every caller relies on. */
export function checked(raw: RawBackend): CryptoBackend {
  return {
    name: raw.name,
    sha256: checkedHash(raw.sha256),
    sha512: checkedHash(raw.sha512),
    sha3_256: checkedHash(raw.sha3_256),
    shake256(data, outputLength) {
      assertBytes('data', data);
      checkLength('outputLength', outputLength, 1 << 20);
      return raw.shake256(data, outputLength);
    },
    hmacSha256(key, ...data) {
      assertBytes('key', key);
      for (const part of data) assertBytes('data', part);
      return raw.hmacSha256(key, ...data);
    },
    hkdfSha256: checkedHkdf(raw.hkdfSha256),
    hkdfSha3_256: checkedHkdf(raw.hkdfSha3_256),
    hkdfExpandSha256(pseudorandomKey, info, length) {
      assertBytes('pseudorandomKey', pseudorandomKey);
      if (pseudorandomKey.length < 32)
        throw new ArgumentError('pseudorandomKey', 'expected at least 32 bytes');
      assertBytes('info', info);
      checkLength('length', length, HKDF_MAX_OUTPUT);
      return raw.hkdfExpandSha256(pseudorandomKey, info, length);
    },
    aesCtr(key, iv, data) {
      assertBytes('key', key);
      if (key.length !== 16 && key.length !== 32) throw new ArgumentError('key', 'expected 16 or 32 bytes');
      assertBytes('iv', iv, 16);
      assertBytes('data', data);
      return raw.aesCtr(key, iv, data);
    },
    chacha20(key, nonce, data) {
      assertBytes('key', key, 32);
      assertBytes('nonce', nonce, 8);
      assertBytes('data', data);
      return raw.chacha20(key, nonce, data);
    },
    x25519: x25519Nike(raw),
    ed25519: signatureScheme(
      'Ed25519',
      { publicKeyLength: 32, secretKeyLength: 32, signatureLength: 64 },
      raw.ed25519PublicKey,
      raw.ed25519Sign,
      raw.ed25519Verify,
    ),
    mlkem768: mlkem768Kem(raw),
    mldsa65: signatureScheme(
      'ML-DSA-65',
      { publicKeyLength: 1952, secretKeyLength: 32, signatureLength: 3309 },
      raw.mldsa65PublicKey,
      raw.mldsa65Sign,
      raw.mldsa65Verify,
    ),
    aes256gcm: checkedAead('AES-256-GCM', 32, 12, raw.aes256gcm),
    chacha20poly1305: checkedAead('ChaCha20-Poly1305', 32, 12, raw.chacha20poly1305),
    xchacha20poly1305: checkedAead('XChaCha20-Poly1305', 32, 24, raw.xchacha20poly1305),
    async argon2id(password, salt, parameters) {
      assertBytes('password', password);
      assertBytes('salt', salt);
      if (salt.length < 8)
        throw new ArgumentError('salt', 'Argon2 requires at least 8 bytes (RFC 9106 §3.1)');
      const { memoryKiB, iterations, parallelism } = parameters;
      checkLength('parallelism', parallelism, 255);
      checkLength('iterations', iterations, 1 << 16);
      if (!Number.isSafeInteger(memoryKiB) || memoryKiB < 8 * parallelism || memoryKiB > 4 * 1024 * 1024) {
        throw new ArgumentError('memoryKiB', 'expected at least 8 × parallelism and at most 4 GiB');
      }
      return raw.argon2id(password, salt, parameters);
    },
  };
}
