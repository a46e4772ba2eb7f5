/**
 * The `portable` crypto backend, for browsers (and any JavaScript runtime): audited pure-JavaScript
 * primitives from @noble (hashes, curves, ciphers, post-quantum) with randomness from WebCrypto's
 * getRandomValues; X25519 from libsodium's WebAssembly build (libsodium-wrappers: the library the node
 * backend binds natively), and Argon2id from hash-wasm's WebAssembly (argon2-wasm.ts; in a worker on browser
 * pages). It is synchronous like the node backend, so every caller is written once (only Argon2id is
 * asynchronous, in both); the same known-answer suites and a cross-test on random inputs tie the two together.
 *
 * Why X25519 in WebAssembly: a client builds every packet it sends, cover included, and a 5-hop Sphinx header
 * takes 20 X25519 operations (src/sphinx/sphinx.ts). At λ = 20 packets/s noble's 1.1 ms per operation
 * (bench/results/crypto.md) kept ~45 % of a core busy in every tab, on a phone or a busy machine more than
 * the page had; libsodium's takes ~0.1 ms. Loading it is asynchronous, so this module awaits it once at
 * import (top-level await): pages need `'wasm-unsafe-eval'` in their Content-Security-Policy.
 */

import { ctr, gcm } from '@noble/ciphers/aes.js';
import { chacha20orig, chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { expand, hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import sodium from 'libsodium-wrappers';
import { AuthenticationError } from '../../errors.ts';
import type { Argon2Parameters, CryptoBackend } from '../backend.ts';
import { cachedPerKey } from '../key-cache.ts';
import { argon2idWasm } from './argon2-wasm.ts';
import { type Argon2Reply, argon2WorkerSource } from './argon2-worker.ts';
import { checked, type RawBackend } from './checked.ts';

type NobleCipher = (
  key: Uint8Array,
  nonce: Uint8Array,
  associatedData?: Uint8Array,
) => { encrypt(data: Uint8Array): Uint8Array; decrypt(data: Uint8Array): Uint8Array };

function nobleAead(name: string, cipher: NobleCipher): RawBackend['aes256gcm'] {
  return {
    seal: (key, nonce, plaintext, associatedData) => cipher(key, nonce, associatedData).encrypt(plaintext),
    open(key, nonce, cipherText, associatedData) {
      try {
        return cipher(key, nonce, associatedData).decrypt(cipherText);
      } catch {
        throw new AuthenticationError(`${name}: ciphertext failed authentication`);
      }
    },
  };
}

/**
 * Argon2id in a dedicated worker (argon2-worker.ts), one per derivation so its 64 MiB is freed at once. The
 * secrets go over as copies that are transferred, so no clone of them stays on this thread.
 */
function argon2idInWorker(
  source: string,
  password: Uint8Array,
  salt: Uint8Array,
  parameters: Argon2Parameters,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const worker = new Worker(url, { name: 'argon2id' });
    const finish = (): void => {
      worker.terminate();
      URL.revokeObjectURL(url);
    };
    worker.onmessage = ({ data }: MessageEvent<Argon2Reply>) => {
      finish();
      if ('key' in data) resolve(data.key);
      else reject(new Error(`Argon2id failed in its worker: ${data.error}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      finish();
      reject(new Error(`the Argon2id worker failed: ${event.message}`));
    };
    const { memoryKiB, iterations, parallelism } = parameters;
    const request = {
      password: password.slice(),
      salt: salt.slice(),
      parameters: { memoryKiB, iterations, parallelism },
    };
    worker.postMessage(request, [request.password.buffer, request.salt.buffer]);
  });
}

/** A browser page (not Node, not a worker) whose bundle carries the worker's script. */
const argon2Worker =
  argon2WorkerSource !== undefined && typeof Worker !== 'undefined' && typeof window !== 'undefined'
    ? argon2WorkerSource
    : undefined;

await sodium.ready;

const mlkemDecapsulationKey = cachedPerKey((seed) => ml_kem768.keygen(seed).secretKey);

const raw: RawBackend = {
  name: 'portable',
  sha256: (data) => sha256(data),
  sha512: (data) => sha512(data),
  sha3_256: (data) => sha3_256(data),
  shake256: (data, outputLength) => shake256(data, { dkLen: outputLength }),
  hmacSha256(key, ...data) {
    const mac = hmac.create(sha256, key);
    for (const part of data) mac.update(part);
    return mac.digest();
  },
  hkdfExpandSha256: (pseudorandomKey, info, length) => expand(sha256, pseudorandomKey, info, length),
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  hkdfSha3_256: (ikm, salt, info, length) => hkdf(sha3_256, ikm, salt, info, length),
  aesCtr: (key, iv, data) => ctr(key, iv).encrypt(data),
  chacha20: (key, nonce, data) => chacha20orig(key, nonce, data),
  x25519PublicKey: (secretKey) => sodium.crypto_scalarmult_base(secretKey),
  x25519(secretKey, publicKey) {
    try {
      return sodium.crypto_scalarmult(secretKey, publicKey);
    } catch {
      // libsodium refuses an all-zero result (a low-order point); report it for the wrapper to reject.
      return new Uint8Array(32);
    }
  },
  ed25519PublicKey: (seed) => ed25519.getPublicKey(seed),
  ed25519Sign: (seed, message) => ed25519.sign(message, seed),
  ed25519Verify: (publicKey, message, signature) => ed25519.verify(signature, message, publicKey),
  mlkem768PublicKey: (seed) => ml_kem768.keygen(seed).publicKey,
  mlkem768Encapsulate: (publicKey, encapsulationSeed) => ml_kem768.encapsulate(publicKey, encapsulationSeed),
  mlkem768Decapsulate: (cipherText, seed) => ml_kem768.decapsulate(cipherText, mlkemDecapsulationKey(seed)),
  mldsa65PublicKey: (seed) => ml_dsa65.keygen(seed).publicKey,
  mldsa65Sign(seed, message) {
    const { secretKey } = ml_dsa65.keygen(seed);
    return ml_dsa65.sign(message, secretKey);
  },
  mldsa65Verify: (publicKey, message, signature) => ml_dsa65.verify(signature, message, publicKey),
  aes256gcm: nobleAead('AES-256-GCM', gcm),
  chacha20poly1305: nobleAead('ChaCha20-Poly1305', chacha20poly1305),
  xchacha20poly1305: nobleAead('XChaCha20-Poly1305', xchacha20poly1305),
  argon2id: (password, salt, parameters) =>
    argon2Worker === undefined
      ? argon2idWasm(password, salt, parameters)
      : argon2idInWorker(argon2Worker, password, salt, parameters),
};

export const portableBackend: CryptoBackend = checked(raw);
export { portableBackend as backend };
