/**
 * The outer layer between MLS and the delivery service (ARCHITECTURE.md §3): each epoch's routing ID and an
 * outer key, both MLS exporter values (RFC 9420 §8.5) under umbra labels, and the seal the delivery service
 * stores. The server sees a routing ID that changes every epoch and cannot be linked across epochs, a kind
 * (commit or not), the size bucket and its own sequence number; the MLS message inside — group ID, epoch,
 * content type, sizes — stays hidden from it.
 *
 * Sealed format, version 1 (all lengths fixed by the bucket):
 *
 *     sealed    = version (0x01) || nonce (12 random bytes) || AES-256-GCM(outerKey, nonce, padded, aad)
 *     padded    = uint32 length of message || message || zero bytes up to bucket − 29
 *     aad       = "umbra outer v1" || version || kind (1 = commit, 2 = application) || routing ID (32)
 *
 * so `sealed.length` is exactly one of the buckets: 1 KiB, 4 KiB, 16 KiB, 64 KiB, 256 KiB, 1 MiB. Powers of
 * four keep the number of classes small (six) at a worst-case cost of 4× padding. Application messages are
 * already padded inside MLS to nearly fill their bucket (config.ts), so texts up to about 700 bytes share
 * the smallest one. The AAD binds the routing ID and kind, so the server cannot move a blob to another
 * routing ID or relabel a commit. Nonces are random: a key serves one epoch of one group, far below the
 * 2^32 messages where random 96-bit nonces become a concern.
 */

import { assertBytes, concatBytes, utf8, wipe } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { randomBytes } from '../crypto/random.ts';
import { SecretHolder } from '../crypto/secret.ts';
import { ArgumentError, CodecError } from '../errors.ts';

/** MLS-Exporter labels (RFC 9420 §8.5). Distinct labels give independent values from one exporter secret. */
export const ROUTING_ID_LABEL = 'umbra routing id v1';
export const OUTER_KEY_LABEL = 'umbra outer key v1';
export const ROUTING_ID_LENGTH = 32;
export const OUTER_KEY_LENGTH = 32;
/** Prefix of every application's exporter label (`Group.exportSecret`): apart from umbra's own labels. */
export const APPLICATION_EXPORT_PREFIX = 'umbra app v1 ';
export const MAX_EXPORT_LABEL_BYTES = 64;
export const MAX_EXPORT_CONTEXT_BYTES = 4096;
/** 64 bytes: two 256-bit keys; well under HKDF's limit (255 hash lengths). */
export const MAX_EXPORT_LENGTH = 64;

export const OUTER_BUCKETS = [1024, 4096, 16_384, 65_536, 262_144, 1_048_576] as const;

export type OuterKind = 'commit' | 'application';

const VERSION = 1;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const LENGTH_PREFIX = 4;
const HEADER = 1 + NONCE_LENGTH;
const OVERHEAD = HEADER + TAG_LENGTH + LENGTH_PREFIX;
const AAD_LABEL = utf8('umbra outer v1');
const KIND_BYTES: Record<OuterKind, number> = { commit: 1, application: 2 };

/** The largest MLS message that fits the largest bucket. */
export const MAX_OUTER_MESSAGE = outerCapacity(OUTER_BUCKETS.at(-1) ?? 0);

/** The largest MLS message a bucket holds. */
export function outerCapacity(bucket: number): number {
  return bucket - OVERHEAD;
}

/** The bucket a message of `messageLength` bytes is sealed into. */
export function outerBucket(messageLength: number): number {
  const bucket = OUTER_BUCKETS.find((size) => outerCapacity(size) >= messageLength);
  if (bucket === undefined || !Number.isSafeInteger(messageLength) || messageLength < 0) {
    throw new ArgumentError('message', `an MLS message must be at most ${MAX_OUTER_MESSAGE} bytes`);
  }
  return bucket;
}

export interface OuterAddress {
  readonly routingId: Uint8Array;
  readonly kind: OuterKind;
}

function associatedData({ routingId, kind }: OuterAddress): Uint8Array {
  assertBytes('routingId', routingId, ROUTING_ID_LENGTH);
  const kindByte = KIND_BYTES[kind];
  if (kindByte === undefined) throw new ArgumentError('kind', "expected 'commit' or 'application'");
  return concatBytes(AAD_LABEL, Uint8Array.of(VERSION, kindByte), routingId);
}

/** One epoch's outer key with the AEAD bound to it. Obtained from `Group.outerKey()`. */
export class OuterKey extends SecretHolder {
  readonly epoch: bigint;
  readonly #key: Uint8Array;
  readonly #backend: CryptoBackend;

  constructor(backend: CryptoBackend, key: Uint8Array, epoch: bigint) {
    super();
    assertBytes('key', key, OUTER_KEY_LENGTH);
    this.#backend = backend;
    this.#key = key;
    this.epoch = epoch;
  }

  protected override publicView(): Record<string, unknown> {
    return { epoch: this.epoch.toString() };
  }

  seal(message: Uint8Array, address: OuterAddress): Uint8Array {
    assertBytes('message', message);
    const bucket = outerBucket(message.length);
    const padded = new Uint8Array(bucket - HEADER - TAG_LENGTH);
    new DataView(padded.buffer).setUint32(0, message.length);
    padded.set(message, LENGTH_PREFIX);
    const nonce = randomBytes(NONCE_LENGTH);
    const sealed = this.#backend.aes256gcm.seal(this.#key, nonce, padded, associatedData(address));
    wipe(padded);
    return concatBytes(Uint8Array.of(VERSION), nonce, sealed);
  }

  /**
   * The MLS message inside `sealed`. Throws `CodecError` when the size is not a bucket or the version is
   * unknown, and `AuthenticationError` when the blob was altered or belongs to another epoch, routing ID
   * or kind.
   */
  open(sealed: Uint8Array, address: OuterAddress): Uint8Array {
    assertBytes('sealed', sealed);
    if (!(OUTER_BUCKETS as readonly number[]).includes(sealed.length)) {
      throw new CodecError('invalid_value', 'a sealed message is always exactly one bucket long');
    }
    if (sealed[0] !== VERSION) throw new CodecError('invalid_value', 'unknown outer seal version');
    const padded = this.#backend.aes256gcm.open(
      this.#key,
      sealed.subarray(1, HEADER),
      sealed.subarray(HEADER),
      associatedData(address),
    );
    const length = new DataView(padded.buffer, padded.byteOffset).getUint32(0);
    if (length > padded.length - LENGTH_PREFIX)
      throw new CodecError('invalid_value', 'length beyond the bucket');
    const end = LENGTH_PREFIX + length;
    if (padded.subarray(end).some((byte) => byte !== 0)) {
      throw new CodecError('invalid_value', 'non-zero padding');
    }
    return padded.slice(LENGTH_PREFIX, end);
  }

  wipe(): void {
    wipe(this.#key);
  }
}
