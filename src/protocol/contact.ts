/**
 * First contact (issue 12, docs/delivery.md "First contact"): what a published KeyPackage carries so that
 * whoever claims it can deliver the Welcome, without the delivery service or the claimer learning any
 * lasting address of the owner.
 *
 * Each KeyPackage the owner publishes names its own **contact mailbox**, used for that KeyPackage alone. The
 * owner derives the mailbox's secret from its device's contact seed and the KeyPackage's upload ID, so it
 * keeps nothing per KeyPackage but a cursor; the ID is `mailboxIdOf(secret)` as for every mailbox. A claimer
 * learns one address that leads nowhere else, and posting to it costs a token like any mailbox post. The
 * service hands the package out as opaque bytes and seals it at rest (src/delivery/sealing.ts).
 *
 * ```
 * ContactKeyPackage = struct { u8 version = 1; opaque contactMailboxId[32]; opaque keyPackage<V> }
 * ```
 */

import { utf8 } from '../bytes.ts';
import { decode, encode, literal, opaque, struct, u8 } from '../codec/index.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { ArgumentError } from '../errors.ts';
import { ID_LENGTH } from './api.ts';
import { mailboxIdOf } from './identity.ts';
import { idCodec } from './primitives.ts';

/** The largest MLS KeyPackage a contact package carries (the service's KeyPackage limit minus framing). */
const MAX_INNER_KEY_PACKAGE_BYTES = 64 * 1024 - 64;
const CONTACT_SECRET_CONTEXT = utf8('umbra/delivery/v1 contact mailbox\0');

const contactKeyPackageCodec = struct({
  version: literal(u8, 1),
  contactMailboxId: idCodec,
  keyPackage: opaque(MAX_INNER_KEY_PACKAGE_BYTES),
});

export interface ContactKeyPackage {
  /** Where the Welcome for this KeyPackage goes. */
  readonly contactMailboxId: Uint8Array;
  /** The MLSMessage-framed KeyPackage (RFC 9420 §10). */
  readonly keyPackage: Uint8Array;
}

/** The bytes published as the KeyPackage's `data`. */
export function encodeContactKeyPackage(value: ContactKeyPackage): Uint8Array {
  return encode(contactKeyPackageCodec, { version: 1 as const, ...value });
}

/** Throws `CodecError` for anything but a well-formed contact package. */
export function decodeContactKeyPackage(bytes: Uint8Array): ContactKeyPackage {
  const { contactMailboxId, keyPackage } = decode(contactKeyPackageCodec, bytes);
  return { contactMailboxId, keyPackage };
}

/** The secret of the contact mailbox of the KeyPackage published under `uploadId` (HMAC of the seed). */
export function contactMailboxSecret(
  seed: Uint8Array,
  uploadId: Uint8Array,
  backend: CryptoBackend,
): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== ID_LENGTH) {
    throw new ArgumentError('seed', `must be ${ID_LENGTH} bytes`);
  }
  return backend.hmacSha256(seed, CONTACT_SECRET_CONTEXT, uploadId);
}

/** The contact mailbox's public ID, for the owner to publish. */
export function contactMailboxId(seed: Uint8Array, uploadId: Uint8Array, backend: CryptoBackend): Uint8Array {
  return mailboxIdOf(contactMailboxSecret(seed, uploadId, backend), backend);
}
