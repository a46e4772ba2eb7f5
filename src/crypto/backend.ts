/**
 * The interface both crypto backends implement: `node` (node:crypto in Node 24 and libsodium through
 * sodium-native, for servers) and `portable` (@noble/* with WebCrypto randomness, for browsers). Everything
 * above this line — X-Wing, the sealed box, the vault, Sphinx — is written once against this interface, and
 * the same known-answer suites run on both implementations.
 *
 * All primitives are synchronous except password hashing: Sphinx unwrapping is a hot path where promise
 * overhead would dominate, and noble is synchronous anyway. Keys are raw bytes in the standard encodings
 * (RFC 7748, RFC 8032, FIPS 203 and 204 seeds and encodings), so the two backends exchange them freely.
 */
import type { KeyPair } from './secret.ts';

/** A key-encapsulation mechanism with the deterministic inputs that known-answer tests need. */
export interface Kem {
  readonly name: string;
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly cipherTextLength: number;
  readonly sharedSecretLength: number;
  /** Length of the seed `generateKeyPair` accepts. */
  readonly seedLength: number;
  /** Length of the randomness `encapsulate` accepts for deterministic (test) encapsulation. */
  readonly encapsulationSeedLength: number;
  generateKeyPair(seed?: Uint8Array): KeyPair;
  encapsulate(
    publicKey: Uint8Array,
    encapsulationSeed?: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  decapsulate(cipherText: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

/** A non-interactive key exchange (X25519, RFC 7748). Secret keys are 32 bytes, clamped when used. */
export interface Nike {
  readonly name: string;
  readonly publicKeyLength: number;
  readonly secretKeyLength: number;
  readonly sharedSecretLength: number;
  generateKeyPair(seed?: Uint8Array): KeyPair;
  publicKeyFromSecret(secretKey: Uint8Array): Uint8Array;
  /** Throws `ArgumentError` when the result is all zeros (a low-order public key), as RFC 7748 §6.1 allows. */
  sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

/** A signature scheme. Ed25519 (RFC 8032) and ML-DSA-65 (FIPS 204, pure, empty context). */
export interface SignatureScheme {
  readonly name: string;
  readonly publicKeyLength: number;
  /** The secret key is the seed (32 bytes for both schemes): the compact form FIPS 204 recommends storing. */
  readonly secretKeyLength: number;
  readonly signatureLength: number;
  generateKeyPair(seed?: Uint8Array): KeyPair;
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Returns false for a bad signature or a malformed key; never throws on hostile input of the right type. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** An AEAD with a fixed-length key and nonce and a 16-byte tag appended to the ciphertext. */
export interface Aead {
  readonly name: string;
  readonly keyLength: number;
  readonly nonceLength: number;
  readonly tagLength: number;
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array;
  /** Throws `AuthenticationError` when the ciphertext, nonce, key or associated data do not match. */
  open(key: Uint8Array, nonce: Uint8Array, cipherText: Uint8Array, associatedData?: Uint8Array): Uint8Array;
}

export interface Argon2Parameters {
  /** Memory in KiB. */
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
}

export interface CryptoBackend {
  readonly name: 'node' | 'portable';

  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  sha3_256(data: Uint8Array): Uint8Array;
  shake256(data: Uint8Array, outputLength: number): Uint8Array;
  /** HMAC-SHA256 (RFC 2104) of the concatenation of `data`. */
  hmacSha256(key: Uint8Array, ...data: Uint8Array[]): Uint8Array;
  /** HKDF (RFC 5869), extract then expand. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** HKDF-Expand alone (RFC 5869 §2.3), for protocols (Katzenpost's Sphinx) that use a secret as the PRK. */
  hkdfExpandSha256(pseudorandomKey: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  hkdfSha3_256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** AES-CTR keystream XOR with a 16-byte initial counter block; 16- or 32-byte keys (AES-128 / AES-256). */
  aesCtr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  /**
   * ChaCha20 keystream XOR as Bernstein first defined it: 32-byte key, 8-byte nonce, 64-bit block counter
   * from 0 (not RFC 8439's 12-byte nonce). Katzenpost's Sphinx derives its blinding factors with it.
   */
  chacha20(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array;

  readonly x25519: Nike;
  readonly ed25519: SignatureScheme;
  readonly mlkem768: Kem;
  readonly mldsa65: SignatureScheme;

  readonly aes256gcm: Aead;
  readonly chacha20poly1305: Aead;
  readonly xchacha20poly1305: Aead;

  /** Argon2id (RFC 9106) with a 32-byte output. Asynchronous so that it never blocks an event loop. */
  argon2id(password: Uint8Array, salt: Uint8Array, parameters: Argon2Parameters): Promise<Uint8Array>;
}
