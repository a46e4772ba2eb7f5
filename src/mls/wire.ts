/**
 * The RFC 9420 wire formats the rest of umbra handles as bytes: MLSMessage (§6) carrying a PublicMessage,
 * PrivateMessage, Welcome (§12.4.3.1), GroupInfo (§12.4.3) or KeyPackage (§10), and the ratchet tree of
 * §12.4.3.3 for joins whose Welcome does not carry it. Encoding and decoding are ts-mls 1.6.4's codecs; this
 * module makes them strict (the whole input must be one structure: trailing bytes are refused) and total
 * (whatever the bytes, decoding fails only with `CodecError`), and exposes what a received message says in
 * clear, so the caller can route it before any cryptography runs.
 */
import type { MLSMessage, RatchetTree } from 'ts-mls';
import { decodeMlsMessage, encodeMlsMessage } from 'ts-mls';
import { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { ArgumentError, CodecError } from '../errors.ts';
import { type MlsCredential, toMlsCredential } from './authentication.ts';
import type { MlsCiphersuiteName } from './ciphersuites.ts';

export type ContentType = 'application' | 'proposal' | 'commit';
export type SenderType = 'member' | 'external' | 'new_member_proposal' | 'new_member_commit';

interface Framed {
  readonly bytes: Uint8Array;
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly contentType: ContentType;
}

/**
 * A decoded MLSMessage: the first stage of receiving. Nothing in it is authenticated yet; a group message
 * becomes trustworthy only through `Group.verify`. `bytes` is the exact encoding that was decoded.
 */
export type ReceivedMessage =
  | ({ readonly kind: 'private-message' } & Framed)
  | ({ readonly kind: 'public-message'; readonly senderType: SenderType } & Framed)
  | { readonly kind: 'welcome'; readonly bytes: Uint8Array; readonly ciphersuite: MlsCiphersuiteName }
  | {
      readonly kind: 'group-info';
      readonly bytes: Uint8Array;
      readonly ciphersuite: MlsCiphersuiteName;
      readonly groupId: Uint8Array;
      readonly epoch: bigint;
    }
  | {
      readonly kind: 'key-package';
      readonly bytes: Uint8Array;
      readonly ciphersuite: MlsCiphersuiteName;
      readonly credential: MlsCredential;
      readonly signaturePublicKey: Uint8Array;
    };

const decoded = new WeakMap<ReceivedMessage, MLSMessage>();

function describe(message: MLSMessage, bytes: Uint8Array): ReceivedMessage {
  switch (message.wireformat) {
    case 'mls_private_message': {
      const { groupId, epoch, contentType } = message.privateMessage;
      return { kind: 'private-message', bytes, groupId, epoch, contentType };
    }
    case 'mls_public_message': {
      const { groupId, epoch, contentType, sender } = message.publicMessage.content;
      return { kind: 'public-message', bytes, groupId, epoch, contentType, senderType: sender.senderType };
    }
    case 'mls_welcome':
      return { kind: 'welcome', bytes, ciphersuite: message.welcome.cipherSuite };
    case 'mls_group_info': {
      const { groupId, epoch, cipherSuite } = message.groupInfo.groupContext;
      return { kind: 'group-info', bytes, ciphersuite: cipherSuite, groupId, epoch };
    }
    case 'mls_key_package': {
      const { cipherSuite, leafNode } = message.keyPackage;
      return {
        kind: 'key-package',
        bytes,
        ciphersuite: cipherSuite,
        credential: toMlsCredential(leafNode.credential),
        signaturePublicKey: leafNode.signaturePublicKey,
      };
    }
  }
}

/** Runs a ts-mls decoder and insists that it consumed exactly `bytes`; any failure becomes a CodecError. */
export function decodeExactly<T>(
  what: string,
  bytes: Uint8Array,
  decoder: (b: Uint8Array, offset: number) => [T, number] | undefined,
): T {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('bytes', 'expected a Uint8Array');
  let result: [T, number] | undefined;
  try {
    result = decoder(bytes, 0);
  } catch {
    throw new CodecError('invalid_value', `malformed ${what}`);
  }
  if (result === undefined) throw new CodecError('invalid_value', `malformed ${what}`);
  if (result[1] !== bytes.length)
    throw new CodecError('trailing_bytes', `${bytes.length - result[1]} bytes after the ${what}`);
  return result[0];
}

/** Decodes one MLSMessage. Throws `CodecError` for anything that is not exactly one well-formed message. */
export function decodeMessage(bytes: Uint8Array): ReceivedMessage {
  const copy = Uint8Array.from(bytes);
  const message = decodeExactly('MLSMessage', copy, decodeMlsMessage);
  const received = Object.freeze(describe(message, copy));
  decoded.set(received, message);
  return received;
}

/** The library's view of a message that `decodeMessage` produced; anything else is a caller's mistake. */
export function libraryMessage(received: ReceivedMessage): MLSMessage {
  const message = decoded.get(received);
  if (message === undefined) throw new ArgumentError('message', 'expected a value returned by decodeMessage');
  return message;
}

/** Re-encodes a decoded message from its parsed structure (equal to `received.bytes`: the codecs are canonical). */
export function encodeMessage(received: ReceivedMessage): Uint8Array {
  return encodeMlsMessage(libraryMessage(received));
}

export function encodeLibraryMessage(message: MLSMessage): Uint8Array {
  return encodeMlsMessage(message);
}

export function decodeTree(bytes: Uint8Array): RatchetTree {
  return decodeExactly('ratchet tree', bytes, decodeRatchetTree);
}

export function encodeTree(tree: RatchetTree): Uint8Array {
  return encodeRatchetTree(tree);
}
