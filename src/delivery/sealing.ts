/**
 * What the delivery service keeps about a handle, sealed at rest (issue 12, docs/delivery.md "At rest"). A
 * database copy alone must name nobody: handles, routing IDs and mailbox IDs are stored as keyed hashes
 * (service.ts), and what a row holds about a handle (its registration, its KeyPackages, which carry the MLS
 * credential and the contact mailbox) is encrypted under a key only someone holding both the handle and the
 * service's identifier key can derive:
 *
 *     handleKey = HKDF-SHA256(ikm = identifierKey, salt = "umbra/delivery/v1 seal\0", info = handle, 32)
 *     sealed    = u8 version(1) ‖ nonce[24] ‖ XChaCha20-Poly1305(handleKey, nonce, plaintext, label ‖ context)
 *
 * The identifier key lives apart from the database (its own file, path or environment variable), so a
 * backup of the database holds neither. The running service, which sees handles in requests, can open them:
 * sealing protects the data at rest, not from the service itself. Random nonces: 2^96 seals per key before a
 * collision is likely, far beyond any handle's lifetime of uploads.
 */

import { concatBytes, utf8 } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { randomBytes } from '../crypto/random.ts';
import { AuthenticationError } from '../errors.ts';

const SEAL_SALT = utf8('umbra/delivery/v1 seal\0');
const SEALED_VERSION = 1;

/** What a sealed value is, bound into its associated data so that one kind never opens as another. */
export const SEAL_LABELS = {
  registration: utf8('umbra/delivery/v1 sealed registration\0'),
  identityKey: utf8('umbra/delivery/v1 identity key tag\0'),
  keyPackage: utf8('umbra/delivery/v1 sealed key package\0'),
} as const;

export type SealLabel = keyof typeof SEAL_LABELS;

/** Seals and opens the per-handle values of one service (one identifier key). */
export class AtRestSealer {
  readonly #identifierKey: Uint8Array;
  readonly #backend: CryptoBackend;

  constructor(identifierKey: Uint8Array, backend: CryptoBackend) {
    this.#identifierKey = identifierKey;
    this.#backend = backend;
  }

  /** The key that seals everything stored about `handle`. */
  handleKey(handle: string): Uint8Array {
    return this.#backend.hkdfSha256(this.#identifierKey, SEAL_SALT, utf8(handle), 32);
  }

  /**
   * A deterministic tag of `value` under the handle's key: stored where the store must compare values (is a
   * re-registration the same identity key?) without holding them.
   */
  tag(handleKey: Uint8Array, label: SealLabel, value: Uint8Array): Uint8Array {
    return this.#backend.hmacSha256(handleKey, SEAL_LABELS[label], value);
  }

  seal(
    handleKey: Uint8Array,
    label: SealLabel,
    plaintext: Uint8Array,
    context: Uint8Array = new Uint8Array(0),
  ): Uint8Array {
    const aead = this.#backend.xchacha20poly1305;
    const nonce = randomBytes(aead.nonceLength);
    const sealed = aead.seal(handleKey, nonce, plaintext, concatBytes(SEAL_LABELS[label], context));
    return concatBytes(Uint8Array.of(SEALED_VERSION), nonce, sealed);
  }

  /**
   * Opens what `seal` made with the same key, label and context. Throws `AuthenticationError` for anything
   * else (another handle's row, a row moved between devices or IDs, a value written before sealing).
   */
  open(
    handleKey: Uint8Array,
    label: SealLabel,
    sealed: Uint8Array,
    context: Uint8Array = new Uint8Array(0),
  ): Uint8Array {
    const aead = this.#backend.xchacha20poly1305;
    if (sealed.length < 1 + aead.nonceLength + aead.tagLength || sealed[0] !== SEALED_VERSION) {
      throw new AuthenticationError('not a sealed value');
    }
    const nonce = sealed.subarray(1, 1 + aead.nonceLength);
    return aead.open(
      handleKey,
      nonce,
      sealed.subarray(1 + aead.nonceLength),
      concatBytes(SEAL_LABELS[label], context),
    );
  }
}
