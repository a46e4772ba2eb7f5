/**
 * Invitations: how a Welcome (RFC 9420 §12.4.3.1) reaches a new member. The inviter posts it to the mailbox
 * named by the claimed KeyPackage's upload ID (identity.ts) once its commit has won the epoch, with the upload
 * ID so the invitee knows which KeyPackage's keys open it. The Welcome carries the ratchet tree (the facade
 * commits with the ratchet_tree extension), so nothing else is needed to join.
 *
 *     invitation = struct { version u8 = 1; keyPackageId opaque<0..64>; welcome opaque<V> }
 *     blob       = u32 length of invitation ‖ invitation ‖ zeros up to the bucket
 *
 * Buckets are the outer seal's (src/mls/outer.ts), so the service sees one of the same six sizes as on group
 * logs. The Welcome is already encrypted to the KeyPackage's init key; the mailbox adds no encryption.
 */
import { decode, encode, literal, opaque, Reader, struct, u8, VARINT_MAX } from '../codec/index.ts';
import { CodecError } from '../errors.ts';
import { OUTER_BUCKETS } from '../mls/index.ts';
import { MAX_TAG_LENGTH } from '../protocol/api.ts';

const invitationCodec = struct({
  version: literal(u8, 1),
  keyPackageId: opaque(MAX_TAG_LENGTH),
  welcome: opaque(VARINT_MAX),
});

export interface Invitation {
  readonly keyPackageId: Uint8Array;
  readonly welcome: Uint8Array;
}

const LENGTH_PREFIX = 4;

export function encodeInvitation(invitation: Invitation): Uint8Array {
  const body = encode(invitationCodec, { version: 1 as const, ...invitation });
  const bucket = OUTER_BUCKETS.find((size) => size >= body.length + LENGTH_PREFIX);
  if (bucket === undefined) throw new CodecError('too_long', 'the Welcome does not fit the largest bucket');
  const blob = new Uint8Array(bucket);
  new DataView(blob.buffer).setUint32(0, body.length);
  blob.set(body, LENGTH_PREFIX);
  return blob;
}

/** Throws `CodecError` for anything but a well-formed, zero-padded invitation. */
export function decodeInvitation(blob: Uint8Array): Invitation {
  const reader = new Reader(blob);
  const length = reader.u32();
  const body = reader.fixed(length);
  if (reader.fixed(reader.remaining).some((byte) => byte !== 0)) {
    throw new CodecError('invalid_value', 'non-zero padding after the invitation');
  }
  const { keyPackageId, welcome } = decode(invitationCodec, body);
  return { keyPackageId, welcome };
}
