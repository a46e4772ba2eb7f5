/**
 * The `node` crypto backend, for servers and Node clients: node:crypto in Node 24 (OpenSSL 3.5: SHA-2,
 * SHA-3, HKDF, AES, ChaCha20-Poly1305, ML-KEM-768, ML-DSA-65, Argon2id) and libsodium through sodium-native
 * where libsodium is faster or node:crypto lacks the primitive (X25519 scalar multiplication, Ed25519,
 * ChaCha20-Poly1305, XChaCha20-Poly1305). The choices are measured in bench/results/crypto.md.
 *
 * One exception to "native": OpenSSL offers no way to supply ML-KEM's encapsulation randomness, so
 * deterministic encapsulation — used only by known-answer tests — goes through @noble/post-quantum.
 */
import {
  argon2,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  decapsulate,
  encapsulate,
  hash,
  hkdfSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import sodium from 'sodium-native';
import { AuthenticationError } from '../../errors.ts';
import type { CryptoBackend } from '../backend.ts';
import { cachedPerKey } from '../key-cache.ts';
import { checked, type RawBackend } from './checked.ts';
import { hmacFromHash } from './hmac-from-hash.ts';

/** A view of a Buffer as a plain Uint8Array, so results compare equal across backends. */
function view(buffer: Buffer | ArrayBuffer): Uint8Array {
  return buffer instanceof ArrayBuffer
    ? new Uint8Array(buffer)
    : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function digest(algorithm: string, data: Uint8Array): Uint8Array {
  return view(hash(algorithm, data, 'buffer'));
}

function hkdf(algorithm: string): RawBackend['hkdfSha256'] {
  return (ikm, salt, info, length) => view(hkdfSync(algorithm, ikm, salt, info, length));
}

/** AES-GCM from OpenSSL; AES-128-GCM serves the MLS native provider (src/mls/crypto/aead.ts). */
export function nodeAead(algorithm: 'aes-128-gcm' | 'aes-256-gcm'): RawBackend['aes256gcm'] {
  return {
    seal(key, nonce, plaintext, associatedData = new Uint8Array(0)) {
      const cipher = createCipheriv(algorithm, createSecretKey(key), nonce, { authTagLength: 16 });
      cipher.setAAD(associatedData, { plaintextLength: plaintext.length });
      const body = cipher.update(plaintext);
      const final = cipher.final();
      const tag = cipher.getAuthTag();
      const out = new Uint8Array(body.length + final.length + 16);
      out.set(body, 0);
      out.set(final, body.length);
      out.set(tag, body.length + final.length);
      return out;
    },
    open(key, nonce, cipherText, associatedData = new Uint8Array(0)) {
      const bodyLength = cipherText.length - 16;
      const decipher = createDecipheriv(algorithm, createSecretKey(key), nonce, { authTagLength: 16 });
      decipher.setAuthTag(cipherText.subarray(bodyLength));
      decipher.setAAD(associatedData, { plaintextLength: bodyLength });
      const body = decipher.update(cipherText.subarray(0, bodyLength));
      try {
        const final = decipher.final();
        return final.length === 0 ? view(body) : view(Buffer.concat([body, final]));
      } catch {
        body.fill(0);
        throw new AuthenticationError(`${algorithm}: ciphertext failed authentication`);
      }
    },
  };
}

type SodiumAeadFunction = (
  out: Uint8Array,
  inputOrNonce: Uint8Array | null,
  inputOrAd: Uint8Array | null,
  adOrNonce: Uint8Array | null,
  nonce: Uint8Array,
  key: Uint8Array,
) => number;

/** libsodium's IETF ChaCha20-Poly1305 and XChaCha20-Poly1305 share one calling convention. */
function sodiumAead(
  name: string,
  encrypt: SodiumAeadFunction,
  decrypt: SodiumAeadFunction,
): RawBackend['aes256gcm'] {
  return {
    seal(key, nonce, plaintext, associatedData) {
      const out = new Uint8Array(plaintext.length + 16);
      encrypt(out, plaintext, associatedData ?? null, null, nonce, key);
      return out;
    },
    open(key, nonce, cipherText, associatedData) {
      const out = new Uint8Array(cipherText.length - 16);
      try {
        decrypt(out, null, cipherText, associatedData ?? null, nonce, key);
      } catch {
        throw new AuthenticationError(`${name}: ciphertext failed authentication`);
      }
      return out;
    },
  };
}

function privateKeyFromSeed(type: 'ml-kem-768' | 'ml-dsa-65', seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(seed), format: 'raw-seed', asymmetricKeyType: type });
}

const mlkemDecapsulationKey = cachedPerKey((seed) => privateKeyFromSeed('ml-kem-768', seed));

function publicKeyFromRaw(type: 'ml-kem-768' | 'ml-dsa-65', key: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(key), format: 'raw-public', asymmetricKeyType: type });
}

function rawPublic(privateKey: KeyObject): Uint8Array {
  return view(createPublicKey(privateKey).export({ format: 'raw-public' }));
}

function ed25519SecretKey(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(64);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
  return { publicKey, secretKey };
}

/**
 * Below this many bytes libsodium's SHA-256 beats OpenSSL's: node:crypto's per-call setup costs more than
 * OpenSSL's SHA-NI saves on a few blocks (measured on the reference machine: 0.4 against 0.9 µs for 32 bytes,
 * 1.4 against 1.0 µs for 256). Sphinx hashes 32 to 126 bytes a dozen times per packet.
 */
const SODIUM_SHA256_BELOW = 192;

function sha256(data: Uint8Array): Uint8Array {
  if (data.length >= SODIUM_SHA256_BELOW) return digest('sha256', data);
  const out = new Uint8Array(32);
  sodium.crypto_hash_sha256(out, data);
  return out;
}

const fastHmac = hmacFromHash(sha256);

// HKDF-Expand's scratch: each call is synchronous and wipes them before returning.
const SHA256_BLOCK = 64;
const innerState = new Uint8Array(sodium.crypto_hash_sha256_STATEBYTES);
const outerState = new Uint8Array(sodium.crypto_hash_sha256_STATEBYTES);
const workState = new Uint8Array(sodium.crypto_hash_sha256_STATEBYTES);
const padBlock = new Uint8Array(SHA256_BLOCK);

/** A SHA-256 state that has absorbed one block of `key` XOR `pad` (HMAC's ipad or opad). */
function absorbPaddedKey(state: Uint8Array, key: Uint8Array, pad: number): void {
  padBlock.fill(pad);
  for (let i = 0; i < key.length; i++) padBlock[i] = pad ^ (key[i] as number);
  sodium.crypto_hash_sha256_init(state);
  sodium.crypto_hash_sha256_update(state, padBlock);
}

/**
 * HKDF-Expand (RFC 5869 §2.3) with the HMAC key's two padded blocks hashed once and every T(n) started from
 * copies of those states: a third fewer SHA-256 compressions than hashing each HMAC whole, and no allocation
 * per block. Sphinx derives 160 bytes per packet this way.
 */
function hkdfExpandSha256(pseudorandomKey: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const key = pseudorandomKey.length > SHA256_BLOCK ? sha256(pseudorandomKey) : pseudorandomKey;
  absorbPaddedKey(innerState, key, 0x36);
  absorbPaddedKey(outerState, key, 0x5c);
  padBlock.fill(0);
  const blocks = Math.ceil(length / 32);
  const out = new Uint8Array(blocks * 32);
  // T(n) = HMAC(PRK, T(n-1) ‖ info ‖ n): T(n-1) goes in front of info, T(0) is empty.
  const message = new Uint8Array(32 + info.length + 1);
  message.set(info, 32);
  for (let block = 0; block < blocks; block++) {
    const t = out.subarray(block * 32, block * 32 + 32);
    message[message.length - 1] = block + 1;
    workState.set(innerState);
    if (block === 0) {
      sodium.crypto_hash_sha256_update(workState, message.subarray(32));
    } else {
      message.set(out.subarray((block - 1) * 32, block * 32));
      sodium.crypto_hash_sha256_update(workState, message);
    }
    sodium.crypto_hash_sha256_final(workState, t);
    workState.set(outerState);
    sodium.crypto_hash_sha256_update(workState, t);
    sodium.crypto_hash_sha256_final(workState, t);
  }
  innerState.fill(0);
  outerState.fill(0);
  workState.fill(0);
  message.fill(0);
  return length === out.length ? out : out.slice(0, length);
}

const raw: RawBackend = {
  name: 'node',
  sha256,
  sha512: (data) => digest('sha512', data),
  sha3_256: (data) => digest('sha3-256', data),
  shake256: (data, outputLength) => view(hash('shake256', data, { outputEncoding: 'buffer', outputLength })),
  hmacSha256: fastHmac.hmac,
  hkdfExpandSha256,
  hkdfSha256: hkdf('sha256'),
  hkdfSha3_256: hkdf('sha3-256'),
  aesCtr(key, iv, data) {
    // A KeyObject is several times cheaper for OpenSSL to take than raw key bytes (bench/results/sphinx.md).
    const cipher = createCipheriv(
      key.length === 16 ? 'aes-128-ctr' : 'aes-256-ctr',
      createSecretKey(key),
      iv,
    );
    return view(cipher.update(data));
  },
  chacha20(key, nonce, data) {
    const out = new Uint8Array(data.length);
    sodium.crypto_stream_chacha20_xor(out, data, nonce, key);
    return out;
  },
  x25519PublicKey(secretKey) {
    const out = new Uint8Array(32);
    sodium.crypto_scalarmult_base(out, secretKey);
    return out;
  },
  x25519(secretKey, publicKey) {
    const out = new Uint8Array(32);
    try {
      sodium.crypto_scalarmult(out, secretKey, publicKey);
    } catch {
      // libsodium refuses low-order points; report the all-zero result the wrapper rejects.
      out.fill(0);
    }
    return out;
  },
  ed25519PublicKey: (seed) => ed25519SecretKey(seed).publicKey,
  ed25519Sign(seed, message) {
    const { secretKey } = ed25519SecretKey(seed);
    const signature = new Uint8Array(64);
    sodium.crypto_sign_detached(signature, message, secretKey);
    secretKey.fill(0);
    return signature;
  },
  ed25519Verify: (publicKey, message, signature) =>
    sodium.crypto_sign_verify_detached(signature, message, publicKey),
  mlkem768PublicKey: (seed) => rawPublic(privateKeyFromSeed('ml-kem-768', seed)),
  mlkem768Encapsulate(publicKey, encapsulationSeed) {
    if (encapsulationSeed !== undefined) return ml_kem768.encapsulate(publicKey, encapsulationSeed);
    const { sharedKey, ciphertext } = encapsulate(publicKeyFromRaw('ml-kem-768', publicKey));
    return { cipherText: view(ciphertext), sharedSecret: view(sharedKey) };
  },
  mlkem768Decapsulate: (cipherText, seed) => view(decapsulate(mlkemDecapsulationKey(seed), cipherText)),
  mldsa65PublicKey: (seed) => rawPublic(privateKeyFromSeed('ml-dsa-65', seed)),
  mldsa65Sign: (seed, message) => view(sign(null, message, privateKeyFromSeed('ml-dsa-65', seed))),
  mldsa65Verify: (publicKey, message, signature) =>
    verify(null, message, publicKeyFromRaw('ml-dsa-65', publicKey), signature),
  aes256gcm: nodeAead('aes-256-gcm'),
  chacha20poly1305: sodiumAead(
    'ChaCha20-Poly1305',
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt as SodiumAeadFunction,
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt as SodiumAeadFunction,
  ),
  xchacha20poly1305: sodiumAead(
    'XChaCha20-Poly1305',
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt as SodiumAeadFunction,
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt as SodiumAeadFunction,
  ),
  argon2id(password, salt, { memoryKiB, iterations, parallelism }) {
    return new Promise((resolve, reject) => {
      argon2(
        'argon2id',
        { message: password, nonce: salt, memory: memoryKiB, passes: iterations, parallelism, tagLength: 32 },
        (error, key) => (error ? reject(error) : resolve(view(key))),
      );
    });
  },
};

export const nodeBackend: CryptoBackend = checked(raw);
export { nodeBackend as backend };
