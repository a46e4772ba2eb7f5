/**
 * The small codecs every delivery-protocol message is built from (src/codec, RFC 9420 §2.1 style): handles,
 * fixed-length identifiers, tags, hybrid identity keys and signatures, and non-negative safe integers for
 * sequence numbers and timestamps. Decoders throw only `CodecError`; encoders refuse bad values with
 * `ArgumentError`.
 */

import { backend as cryptoBackend } from '#default-backend';
import { type Codec, fixedBytes, opaque, struct, u64, utf8String } from '../codec/index.ts';
import { ArgumentError, CodecError } from '../errors.ts';
import { ID_LENGTH, type IdentityKey, MAX_HANDLE_BYTES, MAX_TAG_LENGTH } from './api.ts';

export const ED25519_PUBLIC_KEY_LENGTH = cryptoBackend.ed25519.publicKeyLength;
export const MLDSA65_PUBLIC_KEY_LENGTH = cryptoBackend.mldsa65.publicKeyLength;
/** A hybrid identity signature: Ed25519 then ML-DSA-65, fixed length. */
export const IDENTITY_SIGNATURE_LENGTH =
  cryptoBackend.ed25519.signatureLength + cryptoBackend.mldsa65.signatureLength;

/** Why `handle` is not a valid handle, or undefined when it is. */
export function handleProblem(handle: unknown): string | undefined {
  if (typeof handle !== 'string' || !handle.isWellFormed()) return 'expected a well-formed string';
  const bytes = new TextEncoder().encode(handle).length;
  if (bytes < 1 || bytes > MAX_HANDLE_BYTES) return `must be 1 to ${MAX_HANDLE_BYTES} bytes of UTF-8`;
  if (handle.normalize('NFC') !== handle) return 'must be in Unicode NFC';
  if (/\p{Cc}/u.test(handle)) return 'must not contain control characters';
  return undefined;
}

const handleBytes = utf8String(MAX_HANDLE_BYTES);
/** A handle: 1–64 bytes of UTF-8 in NFC without control characters; anything else is refused both ways. */
export const handleCodec: Codec<string> = {
  encode(writer, value) {
    const problem = handleProblem(value);
    if (problem !== undefined) throw new ArgumentError('handle', problem);
    handleBytes.encode(writer, value);
  },
  decode(reader) {
    const value = handleBytes.decode(reader);
    if (handleProblem(value) !== undefined) throw new CodecError('invalid_value', 'not a valid handle');
    return value;
  },
};

/** Routing IDs, mailbox IDs and mailbox secrets. */
export const idCodec = fixedBytes(ID_LENGTH);

const tagBytes = opaque(MAX_TAG_LENGTH);
/** Message, device and KeyPackage IDs: 1 to 64 bytes. */
export const tagCodec: Codec<Uint8Array> = {
  encode(writer, value) {
    if (value instanceof Uint8Array && value.length === 0)
      throw new ArgumentError('tag', 'must not be empty');
    tagBytes.encode(writer, value);
  },
  decode(reader) {
    const value = tagBytes.decode(reader);
    if (value.length === 0) throw new CodecError('invalid_value', 'an empty tag');
    return value;
  },
};

/** A non-negative safe integer (sequence numbers, timestamps, counts) as a u64. */
export const uint53: Codec<number> = {
  encode(writer, value) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ArgumentError('value', 'expected a non-negative safe integer');
    }
    u64.encode(writer, BigInt(value));
  },
  decode(reader) {
    const value = u64.decode(reader);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CodecError('invalid_value', 'integer too large');
    return Number(value);
  },
};

export const identityKeyCodec: Codec<IdentityKey> = struct({
  ed25519: fixedBytes(ED25519_PUBLIC_KEY_LENGTH),
  mldsa65: fixedBytes(MLDSA65_PUBLIC_KEY_LENGTH),
});

export const identitySignatureCodec = fixedBytes(IDENTITY_SIGNATURE_LENGTH);
