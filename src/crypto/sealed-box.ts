/**
 * The sealed box: one-shot public-key encryption to a recipient (the seeds' `ISecureCrypto.encryptForRecipient`
 * / `decryptFromSender`). A KEM encapsulates a fresh secret to the recipient, HKDF-SHA3-256 turns it into an
 * AES-256-GCM key and nonce, and the plaintext is sealed under it. The box is self-describing: its first byte
 * is the protocol version.
 *
 *   v1 = ML-KEM-768 (FIPS 203) + HKDF-SHA3-256 + AES-256-GCM   (the seeds' protocol)
 *   v2 = X-Wing (ML-KEM-768 + X25519) + HKDF-SHA3-256 + AES-256-GCM   (hybrid; the default)
 *
 * Wire format (docs/crypto.md): version (1) ‖ recipient key id (16) ‖ plaintext length (u32, big-endian)
 * ‖ KEM ciphertext ‖ AES-GCM ciphertext and tag. The key id (first 16 bytes of SHA3-256 of the recipient's
 * public key) and the length are hints that let `open` say precisely what went wrong — a wrong key, a
 * truncated box, or tampering — instead of one opaque failure; neither is trusted: a box opens only when the
 * AEAD verifies under the recipient's own key id and the box's real length. The key id means a box names its
 * recipient to anyone who holds the candidate public keys: sealed boxes give no recipient anonymity.
 */

import { assertBytes, concatBytes, constantTimeEqual, utf8, wipe } from '../bytes.ts';
import { ArgumentError, AuthenticationError, SealedBoxError } from '../errors.ts';
import type { CryptoBackend, Kem } from './backend.ts';
import type { KeyPair } from './secret.ts';
import { createXWing } from './xwing.ts';

export type SealedBoxVersion = 1 | 2;

export interface SealOptions {
  /** 2 (X-Wing, hybrid) unless set. */
  readonly version?: SealedBoxVersion;
  /** Bound to the box: `open` must be given the same bytes. */
  readonly associatedData?: Uint8Array;
}

export interface OpenOptions {
  readonly associatedData?: Uint8Array;
}

export interface SealedBox {
  generateKeyPair(version?: SealedBoxVersion, seed?: Uint8Array): KeyPair;
  seal(recipientPublicKey: Uint8Array, plaintext: Uint8Array, options?: SealOptions): Uint8Array;
  /** Throws `SealedBoxError` with reason unknown_version, truncated, wrong_key or tampered. */
  open(recipientSecretKey: Uint8Array, sealed: Uint8Array, options?: OpenOptions): Uint8Array;
}

export const DEFAULT_SEALED_BOX_VERSION: SealedBoxVersion = 2;
/** Largest plaintext a box carries: 16 MiB. Larger payloads belong in a stream, not a one-shot box. */
export const MAX_SEALED_PLAINTEXT = 16 * 1024 * 1024;

const KEY_ID_LENGTH = 16;
const PREFIX_LENGTH = 1 + KEY_ID_LENGTH + 4;
const TAG_LENGTH = 16;
const KDF_LABEL = utf8('umbra/sealed-box');
const EMPTY = new Uint8Array(0);

export function createSealedBox(backend: CryptoBackend): SealedBox {
  const kems: Record<SealedBoxVersion, Kem> = { 1: backend.mlkem768, 2: createXWing(backend) };

  function kemFor(version: number): Kem | undefined {
    return version === 1 || version === 2 ? kems[version] : undefined;
  }

  function recipientDigest(publicKey: Uint8Array): Uint8Array {
    return backend.sha3_256(publicKey);
  }

  function aeadKeyAndNonce(version: SealedBoxVersion, digest: Uint8Array, sharedSecret: Uint8Array) {
    const info = concatBytes(KDF_LABEL, Uint8Array.of(version), digest);
    const okm = backend.hkdfSha3_256(sharedSecret, EMPTY, info, 32 + 12);
    return { key: okm.subarray(0, 32), nonce: okm.subarray(32), okm };
  }

  function tryOpen(
    version: SealedBoxVersion,
    kem: Kem,
    secretKey: Uint8Array,
    digest: Uint8Array,
    kemCipherText: Uint8Array,
    aeadCipherText: Uint8Array,
    associatedData: Uint8Array,
  ): Uint8Array | undefined {
    const sharedSecret = kem.decapsulate(kemCipherText, secretKey);
    const { key, nonce, okm } = aeadKeyAndNonce(version, digest, sharedSecret);
    try {
      return backend.aes256gcm.open(key, nonce, aeadCipherText, associatedData);
    } catch (error) {
      if (error instanceof AuthenticationError) return undefined;
      throw error;
    } finally {
      wipe(sharedSecret, okm);
    }
  }

  return {
    generateKeyPair(version = DEFAULT_SEALED_BOX_VERSION, seed) {
      const kem = kemFor(version);
      if (!kem) throw new ArgumentError('version', 'expected 1 or 2');
      return kem.generateKeyPair(seed);
    },

    seal(recipientPublicKey, plaintext, options = {}) {
      const version = options.version ?? DEFAULT_SEALED_BOX_VERSION;
      const kem = kemFor(version);
      if (!kem) throw new ArgumentError('version', 'expected 1 or 2');
      assertBytes('recipientPublicKey', recipientPublicKey, kem.publicKeyLength);
      assertBytes('plaintext', plaintext);
      if (plaintext.length > MAX_SEALED_PLAINTEXT) {
        throw new ArgumentError('plaintext', `longer than ${MAX_SEALED_PLAINTEXT} bytes`);
      }
      const associatedData = options.associatedData ?? EMPTY;
      assertBytes('associatedData', associatedData);

      const digest = recipientDigest(recipientPublicKey);
      const { cipherText: kemCipherText, sharedSecret } = kem.encapsulate(recipientPublicKey);
      const { key, nonce, okm } = aeadKeyAndNonce(version, digest, sharedSecret);
      const aeadCipherText = backend.aes256gcm.seal(key, nonce, plaintext, associatedData);
      wipe(sharedSecret, okm);

      const prefix = new Uint8Array(PREFIX_LENGTH);
      prefix[0] = version;
      prefix.set(digest.subarray(0, KEY_ID_LENGTH), 1);
      new DataView(prefix.buffer).setUint32(1 + KEY_ID_LENGTH, plaintext.length);
      return concatBytes(prefix, kemCipherText, aeadCipherText);
    },

    open(recipientSecretKey, sealed, options = {}) {
      assertBytes('recipientSecretKey', recipientSecretKey);
      assertBytes('sealed', sealed);
      const associatedData = options.associatedData ?? EMPTY;
      assertBytes('associatedData', associatedData);
      if (sealed.length === 0) throw new SealedBoxError('truncated', 'empty box');
      const version = sealed[0] as number;
      const kem = kemFor(version);
      if (!kem) throw new SealedBoxError('unknown_version', `protocol version ${version} is not supported`);
      const boxVersion = version as SealedBoxVersion;
      const bodyStart = PREFIX_LENGTH + kem.cipherTextLength;
      if (sealed.length < bodyStart + TAG_LENGTH) {
        throw new SealedBoxError(
          'truncated',
          `a version ${version} box has at least ${bodyStart + TAG_LENGTH} bytes`,
        );
      }
      if (recipientSecretKey.length !== kem.secretKeyLength) {
        throw new SealedBoxError('wrong_key', `a version ${version} box needs a ${kem.name} secret key`);
      }

      const digest = recipientDigest(kem.generateKeyPair(recipientSecretKey).publicKey);
      const keyIdMatches = constantTimeEqual(
        sealed.subarray(1, 1 + KEY_ID_LENGTH),
        digest.subarray(0, KEY_ID_LENGTH),
      );
      const declaredLength = new DataView(sealed.buffer, sealed.byteOffset).getUint32(1 + KEY_ID_LENGTH);
      const actualLength = sealed.length - bodyStart - TAG_LENGTH;
      const plaintext = tryOpen(
        boxVersion,
        kem,
        recipientSecretKey,
        digest,
        sealed.subarray(PREFIX_LENGTH, bodyStart),
        sealed.subarray(bodyStart),
        associatedData,
      );

      if (plaintext && keyIdMatches && declaredLength === actualLength) return plaintext;
      if (plaintext) {
        // The ciphertext verified, so the hints in the prefix were altered after sealing.
        wipe(plaintext);
        throw new SealedBoxError('tampered', 'the box header was modified');
      }
      if (!keyIdMatches) throw new SealedBoxError('wrong_key', 'the box was sealed to another public key');
      if (actualLength < declaredLength)
        throw new SealedBoxError('truncated', 'the box is shorter than sealed');
      throw new SealedBoxError(
        'tampered',
        'the box failed authentication (modified, or other associated data)',
      );
    },
  };
}
