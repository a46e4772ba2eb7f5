/**
 * The directory authority's signing keys: Ed25519 (RFC 8032) and ML-DSA-65 (FIPS 204), both of which must
 * verify on every network document, so forging one needs both a classical and a post-quantum break. The
 * public half is what clients and nodes pin; it travels as one base64url string (the two keys encoded with
 * the codec kit) that operators hand out with their deployment. The secret half is the two 32-byte seeds.
 */

import { fromBase64Url, toBase64Url, toHex } from '../bytes.ts';
import { decode, encode, fixedBytes, struct } from '../codec/index.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { type KeyPair, SecretHolder } from '../crypto/secret.ts';
import { CodecError } from '../errors.ts';

export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const MLDSA65_PUBLIC_KEY_LENGTH = 1952;
export const AUTHORITY_SEED_LENGTH = 32;

export interface AuthorityPublicKeys {
  readonly ed25519: Uint8Array;
  readonly mldsa65: Uint8Array;
}

const publicKeysCodec = struct({
  ed25519: fixedBytes(ED25519_PUBLIC_KEY_LENGTH),
  mldsa65: fixedBytes(MLDSA65_PUBLIC_KEY_LENGTH),
});

/** The text form operators distribute and pass to `--authority-keys`. */
export function formatAuthorityPublicKeys(keys: AuthorityPublicKeys): string {
  return toBase64Url(encode(publicKeysCodec, keys));
}

/** Reads the text form back; anything else is a `CodecError`. */
export function parseAuthorityPublicKeys(text: string): AuthorityPublicKeys {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text.trim());
  } catch {
    throw new CodecError('invalid_value', 'authority keys must be base64url');
  }
  return decode(publicKeysCodec, bytes);
}

/** Both key pairs. Printing it shows the public keys only. */
export class AuthorityKeys extends SecretHolder {
  readonly ed25519: KeyPair;
  readonly mldsa65: KeyPair;

  constructor(ed25519: KeyPair, mldsa65: KeyPair) {
    super();
    this.ed25519 = ed25519;
    this.mldsa65 = mldsa65;
  }

  /** Fresh keys from the system CSPRNG. */
  static generate(backend: CryptoBackend): AuthorityKeys {
    return new AuthorityKeys(backend.ed25519.generateKeyPair(), backend.mldsa65.generateKeyPair());
  }

  /** The keys two stored seeds determine (both schemes keep their 32-byte seed as the secret key). */
  static fromSeeds(backend: CryptoBackend, ed25519Seed: Uint8Array, mldsa65Seed: Uint8Array): AuthorityKeys {
    return new AuthorityKeys(
      backend.ed25519.generateKeyPair(ed25519Seed),
      backend.mldsa65.generateKeyPair(mldsa65Seed),
    );
  }

  get publicKeys(): AuthorityPublicKeys {
    return { ed25519: this.ed25519.publicKey, mldsa65: this.mldsa65.publicKey };
  }

  protected override publicView(): Record<string, unknown> {
    return { ed25519PublicKey: toHex(this.ed25519.publicKey) };
  }
}
