/**
 * HPKE (RFC 9180) in base mode with DHKEM(X25519, HKDF-SHA256), for the MLS native provider: the KEM of
 * suites 1 and 3 (RFC 9420 §5.1), with their KDF (sha2.ts) and AEAD (aead.ts). X25519 is libsodium's through
 * umbra's node backend. Single-shot only (§6.1: sequence number 0), which is all MLS uses (§5.1.3
 * EncryptWithLabel, the external-init exporter of §8.3).
 *
 * Keys stay raw bytes inside small objects that ts-mls treats as opaque; private ones never print their
 * bytes. Input from the wire fails without crashing: a public key or encapsulation that is not 32 bytes, or
 * a low-order X25519 point (the all-zero shared secret RFC 9180 §7.1.4 rejects), raises
 * `CodecError('invalid_value')`; a ciphertext that does not open raises `AuthenticationError`.
 */
import type { AeadAlgorithm, Hpke, HpkeAlgorithm, KdfAlgorithm, PrivateKey, PublicKey } from 'ts-mls';
import { concatBytes, utf8, wipe } from '../../bytes.ts';
import { nodeBackend } from '../../crypto/backends/node.ts';
import { SecretHolder } from '../../crypto/secret.ts';
import { ArgumentError, CodecError } from '../../errors.ts';
import { mlsAead } from './aead.ts';
import { type Sha2, sha2, sha2OfKdf } from './sha2.ts';

const KEY_LENGTH = 32;
const EMPTY = new Uint8Array(0);
const HPKE_V1 = utf8('HPKE-v1');
const MODE_BASE = new Uint8Array([0]);
const KEM_ID = 0x0020;
const KDF_IDS: Record<KdfAlgorithm, number> = { 'HKDF-SHA256': 1, 'HKDF-SHA384': 2, 'HKDF-SHA512': 3 };
const AEAD_IDS: Record<AeadAlgorithm, number> = { AES128GCM: 1, AES256GCM: 2, CHACHA20POLY1305: 3 };

const { x25519 } = nodeBackend;

function u16(value: number): Uint8Array {
  return new Uint8Array([value >> 8, value & 0xff]);
}

class X25519PublicKey {
  readonly type = 'public';
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

class X25519PrivateKey extends SecretHolder {
  readonly type = 'private';
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;

  constructor(secretKey: Uint8Array) {
    super();
    this.secretKey = secretKey;
    this.publicKey = x25519.publicKeyFromSecret(secretKey);
  }

  protected override publicView(): Record<string, unknown> {
    return { publicKey: this.publicKey };
  }
}

// ts-mls types HPKE keys as WebCrypto CryptoKeys but only hands them back to the provider that made them.
const asPublic = (key: X25519PublicKey) => key as unknown as PublicKey;
const asPrivate = (key: X25519PrivateKey) => key as unknown as PrivateKey;

function ownPublic(key: PublicKey): X25519PublicKey {
  const own: unknown = key;
  if (!(own instanceof X25519PublicKey)) throw new ArgumentError('publicKey', 'not a key of this provider');
  return own;
}

function ownPrivate(key: PrivateKey): X25519PrivateKey {
  const own: unknown = key;
  if (!(own instanceof X25519PrivateKey)) throw new ArgumentError('privateKey', 'not a key of this provider');
  return own;
}

function wireKey(what: string, bytes: Uint8Array): Uint8Array {
  if (bytes.length !== KEY_LENGTH) {
    throw new CodecError('invalid_value', `${what}: expected ${KEY_LENGTH} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** LabeledExtract and LabeledExpand (RFC 9180 §4) under one suite_id. */
function labeled(kdf: Sha2, suiteId: Uint8Array) {
  return {
    extract: (salt: Uint8Array, label: string, ikm: Uint8Array) =>
      kdf.extract(salt, concatBytes(HPKE_V1, suiteId, utf8(label), ikm)),
    expand: (prk: Uint8Array, label: string, info: Uint8Array, length: number) =>
      kdf.expand(prk, concatBytes(u16(length), HPKE_V1, suiteId, utf8(label), info), length),
  };
}

/** DHKEM(X25519, HKDF-SHA256), RFC 9180 §4.1 and §7.1. */
const kem = labeled(sha2('SHA-256'), concatBytes(utf8('KEM'), u16(KEM_ID)));

function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return x25519.sharedSecret(secretKey, publicKey);
  } catch (error) {
    if (error instanceof ArgumentError)
      throw new CodecError('invalid_value', 'X25519 public key of low order');
    throw error;
  }
}

function kemSecret(dhResult: Uint8Array, enc: Uint8Array, recipient: Uint8Array): Uint8Array {
  const prk = kem.extract(EMPTY, 'eae_prk', dhResult);
  const sharedSecret = kem.expand(prk, 'shared_secret', concatBytes(enc, recipient), KEY_LENGTH);
  wipe(prk, dhResult);
  return sharedSecret;
}

function encapsulate(recipient: X25519PublicKey): { sharedSecret: Uint8Array; enc: Uint8Array } {
  const ephemeral = x25519.generateKeyPair();
  const enc = ephemeral.publicKey;
  const sharedSecret = kemSecret(dh(ephemeral.secretKey, recipient.bytes), enc, recipient.bytes);
  wipe(ephemeral.secretKey);
  return { sharedSecret, enc };
}

function decapsulate(enc: Uint8Array, recipient: X25519PrivateKey): Uint8Array {
  wireKey('enc', enc);
  return kemSecret(dh(recipient.secretKey, enc), enc, recipient.publicKey);
}

function deriveSecretKey(ikm: Uint8Array): X25519PrivateKey {
  const prk = kem.extract(EMPTY, 'dkp_prk', ikm);
  const secretKey = kem.expand(prk, 'sk', EMPTY, KEY_LENGTH);
  wipe(prk);
  return new X25519PrivateKey(secretKey);
}

export function isNativeHpke(algorithm: HpkeAlgorithm): boolean {
  return algorithm.kem === 'DHKEM-X25519-HKDF-SHA256';
}

export function nativeHpke(algorithm: HpkeAlgorithm): Hpke {
  if (!isNativeHpke(algorithm)) throw new ArgumentError('algorithm', `no native HPKE for ${algorithm.kem}`);
  const kdf = sha2OfKdf(algorithm.kdf);
  const aead = mlsAead(algorithm.aead);
  const suite = labeled(
    kdf,
    concatBytes(utf8('HPKE'), u16(KEM_ID), u16(KDF_IDS[algorithm.kdf]), u16(AEAD_IDS[algorithm.aead])),
  );
  const pskIdHash = suite.extract(EMPTY, 'psk_id_hash', EMPTY);

  /** KeySchedule (RFC 9180 §5.1) in base mode: the context's secret and key_schedule_context. */
  function schedule(sharedSecret: Uint8Array, info: Uint8Array) {
    const context = concatBytes(MODE_BASE, pskIdHash, suite.extract(EMPTY, 'info_hash', info));
    const secret = suite.extract(sharedSecret, 'secret', EMPTY);
    wipe(sharedSecret);
    return { secret, context };
  }

  function aeadKeys(sharedSecret: Uint8Array, info: Uint8Array) {
    const { secret, context } = schedule(sharedSecret, info);
    const key = suite.expand(secret, 'key', context, aead.keyLength);
    const nonce = suite.expand(secret, 'base_nonce', context, aead.nonceLength);
    wipe(secret);
    return { key, nonce };
  }

  /** Export (RFC 9180 §5.3) from a fresh context. */
  function exported(sharedSecret: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number) {
    const { secret, context } = schedule(sharedSecret, info);
    const exporterSecret = suite.expand(secret, 'exp', context, kdf.outputLength);
    const out = suite.expand(exporterSecret, 'sec', exporterContext, length);
    wipe(secret, exporterSecret);
    return out;
  }

  return {
    keyLength: aead.keyLength,
    nonceLength: aead.nonceLength,
    async seal(publicKey, plaintext, info, aad) {
      const { sharedSecret, enc } = encapsulate(ownPublic(publicKey));
      const { key, nonce } = aeadKeys(sharedSecret, info);
      const ct = aead.seal(key, nonce, aad, plaintext);
      wipe(key, nonce);
      return { ct, enc };
    },
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      const { key, nonce } = aeadKeys(decapsulate(kemOutput, ownPrivate(privateKey)), info);
      try {
        return aead.open(key, nonce, aad, ciphertext);
      } finally {
        wipe(key, nonce);
      }
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const { sharedSecret, enc } = encapsulate(ownPublic(publicKey));
      return { enc, secret: exported(sharedSecret, info, exporterContext, length) };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      return exported(decapsulate(kemOutput, ownPrivate(privateKey)), info, exporterContext, length);
    },
    async importPrivateKey(bytes) {
      return asPrivate(new X25519PrivateKey(Uint8Array.from(wireKey('private key', bytes))));
    },
    async importPublicKey(bytes) {
      return asPublic(new X25519PublicKey(Uint8Array.from(wireKey('public key', bytes))));
    },
    async exportPublicKey(key) {
      return Uint8Array.from(ownPublic(key).bytes);
    },
    async exportPrivateKey(key) {
      return Uint8Array.from(ownPrivate(key).secretKey);
    },
    async encryptAead(key, nonce, aad, plaintext) {
      return aead.seal(key, nonce, aad, plaintext);
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      return aead.open(key, nonce, aad, ciphertext);
    },
    async deriveKeyPair(ikm) {
      const privateKey = deriveSecretKey(ikm);
      return {
        privateKey: asPrivate(privateKey),
        publicKey: asPublic(new X25519PublicKey(privateKey.publicKey)),
      };
    },
    async generateKeyPair() {
      const privateKey = new X25519PrivateKey(x25519.generateKeyPair().secretKey);
      return {
        privateKey: asPrivate(privateKey),
        publicKey: asPublic(new X25519PublicKey(privateKey.publicKey)),
      };
    },
  };
}
