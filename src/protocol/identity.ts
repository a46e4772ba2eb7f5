/**
 * Identities of the delivery protocol (design brief §3, docs/delivery.md): hybrid identity keys (Ed25519,
 * RFC 8032, and ML-DSA-65, FIPS 204), the registration that binds a handle to one, and mailbox IDs. A hybrid
 * signature is the two signatures side by side over the same labelled message and verifies only if both do,
 * so forging one needs breaking both schemes. Every signed message starts with its own context label, so a
 * signature made for one purpose (a registration, a KeyPackage upload, an MLS leaf signing with the same
 * Ed25519 key under MLS's own "MLS 1.0 " labels) never verifies as another.
 */

import { backend as cryptoBackend } from '#default-backend';
import { concatBytes, utf8 } from '../bytes.ts';
import { decode, encode, struct } from '../codec/index.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { type KeyPair, SecretHolder } from '../crypto/secret.ts';
import { ArgumentError, CodecError, DeliveryError } from '../errors.ts';
import { ID_LENGTH, type IdentityKey, type IdentitySigner, type Registration } from './api.ts';
import {
  ED25519_PUBLIC_KEY_LENGTH,
  handleCodec,
  IDENTITY_SIGNATURE_LENGTH,
  identityKeyCodec,
  identitySignatureCodec,
  MLDSA65_PUBLIC_KEY_LENGTH,
  uint53,
} from './primitives.ts';

/** Labels that start every message an identity signs, one per purpose. */
export const REGISTRATION_CONTEXT = utf8('umbra/delivery/v1 registration\0');
export const SIGNED_REQUEST_CONTEXT = utf8('umbra/delivery/v1 signed request\0');
const MAILBOX_ID_CONTEXT = utf8('umbra/delivery/v1 mailbox id\0');

/** An identity's two key pairs, in memory. The secret keys are the 32-byte seeds (store those in the vault). */
export class IdentityKeyPair extends SecretHolder implements IdentitySigner {
  readonly ed25519: KeyPair;
  readonly mldsa65: KeyPair;
  readonly publicKey: IdentityKey;
  readonly #backend: CryptoBackend;

  private constructor(ed25519: KeyPair, mldsa65: KeyPair, backend: CryptoBackend) {
    super();
    this.ed25519 = ed25519;
    this.mldsa65 = mldsa65;
    this.publicKey = { ed25519: ed25519.publicKey, mldsa65: mldsa65.publicKey };
    this.#backend = backend;
  }

  static generate(backend: CryptoBackend = cryptoBackend): IdentityKeyPair {
    return new IdentityKeyPair(backend.ed25519.generateKeyPair(), backend.mldsa65.generateKeyPair(), backend);
  }

  /** Rebuilds the key pairs from their seeds (`ed25519.secretKey`, `mldsa65.secretKey`). */
  static fromSeeds(
    ed25519Seed: Uint8Array,
    mldsa65Seed: Uint8Array,
    backend: CryptoBackend = cryptoBackend,
  ): IdentityKeyPair {
    return new IdentityKeyPair(
      backend.ed25519.generateKeyPair(ed25519Seed),
      backend.mldsa65.generateKeyPair(mldsa65Seed),
      backend,
    );
  }

  sign(message: Uint8Array): Uint8Array {
    return concatBytes(
      this.#backend.ed25519.sign(this.ed25519.secretKey, message),
      this.#backend.mldsa65.sign(this.mldsa65.secretKey, message),
    );
  }

  protected override publicView(): Record<string, unknown> {
    return { ed25519: this.publicKey.ed25519, mldsa65: this.publicKey.mldsa65 };
  }
}

/** The identity key as bytes (what the store keeps and what is compared). */
export function encodeIdentityKey(key: IdentityKey): Uint8Array {
  return encode(identityKeyCodec, key);
}

export function decodeIdentityKey(bytes: Uint8Array): IdentityKey {
  return decode(identityKeyCodec, bytes);
}

/** True when `signature` is a valid hybrid signature of `message` by `key`; never throws on hostile input. */
export function verifyIdentitySignature(
  key: IdentityKey,
  message: Uint8Array,
  signature: Uint8Array,
  backend: CryptoBackend = cryptoBackend,
): boolean {
  if (signature.length !== IDENTITY_SIGNATURE_LENGTH) return false;
  const split = backend.ed25519.signatureLength;
  // Both are always checked, so the time taken does not say which half failed.
  const classical = backend.ed25519.verify(key.ed25519, message, signature.subarray(0, split));
  const postQuantum = backend.mldsa65.verify(key.mldsa65, message, signature.subarray(split));
  return classical && postQuantum;
}

/** Signs with `signer` and checks the result's shape, so a faulty signer fails here, not at the service. */
export async function signWith(signer: IdentitySigner, message: Uint8Array): Promise<Uint8Array> {
  const signature = await signer.sign(message);
  if (!(signature instanceof Uint8Array) || signature.length !== IDENTITY_SIGNATURE_LENGTH) {
    throw new ArgumentError('signer', `must return a ${IDENTITY_SIGNATURE_LENGTH}-byte hybrid signature`);
  }
  return signature;
}

const registrationBodyCodec = struct({
  handle: handleCodec,
  identityKey: identityKeyCodec,
  signedAt: uint53,
});
/**
 * What is stored and handed out: the key, the time and the signature, without the handle, so that the
 * service's database holds handles only as keyed hashes. Whoever verifies knows the handle they asked for.
 */
const registrationCodec = struct({
  identityKey: identityKeyCodec,
  signedAt: uint53,
  signature: identitySignatureCodec,
});

/** Bytes of an identity key, and of a registration: a response that hands out an identity holds both. */
export const IDENTITY_KEY_LENGTH = ED25519_PUBLIC_KEY_LENGTH + MLDSA65_PUBLIC_KEY_LENGTH;
export const REGISTRATION_LENGTH = encode(registrationCodec, {
  identityKey: {
    ed25519: new Uint8Array(ED25519_PUBLIC_KEY_LENGTH),
    mldsa65: new Uint8Array(MLDSA65_PUBLIC_KEY_LENGTH),
  },
  signedAt: 0,
  signature: new Uint8Array(IDENTITY_SIGNATURE_LENGTH),
}).length;

function registrationMessage(body: Registration): Uint8Array {
  return concatBytes(REGISTRATION_CONTEXT, encode(registrationBodyCodec, body));
}

/** The registration binding `handle` to the signer's identity key, signed by it. */
export async function createRegistration(
  signer: IdentitySigner,
  handle: string,
  signedAt: number,
): Promise<Uint8Array> {
  const body: Registration = { handle, identityKey: signer.publicKey, signedAt };
  const signature = await signWith(signer, registrationMessage(body));
  return encode(registrationCodec, { identityKey: body.identityKey, signedAt, signature });
}

/**
 * What `registration` binds, after checking its hybrid signature over `handle` by the key it names. Throws
 * `CodecError` for malformed bytes or handle and `DeliveryError('bad_signature')` for a signature that does
 * not verify (another handle included).
 */
export function verifyRegistration(
  registration: Uint8Array,
  handle: string,
  backend: CryptoBackend = cryptoBackend,
): Registration {
  const { identityKey, signedAt, signature } = decode(registrationCodec, registration);
  const body: Registration = { handle, identityKey, signedAt };
  let message: Uint8Array;
  try {
    message = registrationMessage(body);
  } catch {
    throw new CodecError('invalid_value', 'not a valid handle');
  }
  if (!verifyIdentitySignature(identityKey, message, signature, backend)) {
    throw new DeliveryError('bad_signature', 'the registration’s signature does not verify');
  }
  return body;
}

/** The identity key a registration names, unverified (the service reads back what it verified when storing). */
export function registrationIdentityKey(registration: Uint8Array): IdentityKey {
  return decode(registrationCodec, registration).identityKey;
}

/** The public ID of the mailbox whose owner holds `secret` (32 bytes): SHA-256 of a labelled secret. */
export function mailboxIdOf(secret: Uint8Array, backend: CryptoBackend = cryptoBackend): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== ID_LENGTH) {
    throw new ArgumentError('mailboxSecret', `must be ${ID_LENGTH} bytes`);
  }
  return backend.sha256(concatBytes(MAILBOX_ID_CONTEXT, secret));
}
