/**
 * Requests to a service behind an exit gateway and their replies, as they ride in Sphinx payloads
 * (docs/gateway.md, "Services"). Shared by the gateway (which reassembles requests and splits replies) and
 * the client's mixnet carrier (which splits requests and reassembles replies), so both use one codec.
 *
 * Addressing: a service is the `recipient` of a packet's last hop, that hop being the exit gateway that
 * offers it; its recipient id is `serviceId(name)`, BLAKE2b-256 of a context and the name (`echo`,
 * `delivery`). Client inbox ids (`inboxId` in gateway-protocol.ts) hash under another context, so the two
 * never collide.
 *
 * A request of any length is cut into fragments, one per packet, in the user payload of a geometry built
 * `withSurb`; each packet may carry one SURB in the Sphinx SURB slot (`encodeForwardPayload`). The gateway
 * collects the fragments of one request id; once all have come it calls the service with the concatenated
 * data and sends the response back split over the SURBs the fragments carried, one reply fragment per SURB
 * (`newPacketFromSurb`). A client that expects a response longer than its request sends extra fragments
 * with no data, only for their SURBs (`splitRequest`'s `surbCount`). A response that does not fit the SURBs
 * comes back as one `too_large` fragment; the client retries with more.
 *
 * ```
 * RequestFragment (in userForwardPayloadLength bytes)   ReplyFragment (in forwardPayloadLength bytes)
 *   u8     version = 1                                    u8     version = 1
 *   opaque requestId[16]                                  opaque requestId[16]
 *   u16    index          0 .. count − 1                  u8     status   1 ok, 2 too_large,
 *   u16    count          1 .. 256                                         3 unknown_service, 4 failed
 *   opaque data<capacity> this fragment's slice           u16    index, u16 count
 *   zero padding to the end                               opaque data<capacity>
 *                                                         zero padding to the end
 * ```
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { assertBytes, concatBytes, toHex, utf8 } from '../bytes.ts';
import {
  type Codec,
  type CodecValue,
  enumeration,
  fixedBytes,
  literal,
  opaque,
  Reader,
  struct,
  u8,
  u16,
  Writer,
} from '../codec/index.ts';
import { randomBytes } from '../crypto/random.ts';
import { ArgumentError, CodecError } from '../errors.ts';
import { type Geometry, RECIPIENT_ID_LENGTH } from '../sphinx/geometry.ts';

export const SERVICE_FRAMING_VERSION = 1 as const;
export const REQUEST_ID_LENGTH = 16;
/** Most fragments of one request (and so of one reply): 256 × ~2 KB by default. */
export const MAX_FRAGMENTS = 256;
export const ECHO_SERVICE = 'echo';
export const DELIVERY_SERVICE = 'delivery';

const SERVICE_CONTEXT = utf8('umbra gateway service v1\n');
/** version, request id, index, count (status adds one byte to replies), and a varint length of ≤ 4 bytes. */
const REQUEST_OVERHEAD = 1 + REQUEST_ID_LENGTH + 2 + 2 + 4;
const REPLY_OVERHEAD = REQUEST_OVERHEAD + 1;

/** The recipient id of the service called `name` at an exit gateway. */
export function serviceId(name: string): Uint8Array {
  if (typeof name !== 'string' || name.length === 0)
    throw new ArgumentError('name', 'expected a service name');
  return blake2b(concatBytes(SERVICE_CONTEXT, utf8(name)), { dkLen: RECIPIENT_ID_LENGTH });
}

/** A fresh random request id. */
export function newRequestId(): Uint8Array {
  return randomBytes(REQUEST_ID_LENGTH);
}

/** Request bytes one fragment carries in this geometry. */
export function requestCapacity(geometry: Geometry): number {
  return geometry.userForwardPayloadLength - REQUEST_OVERHEAD;
}

/** Response bytes one SURB carries in this geometry. */
export function replyCapacity(geometry: Geometry): number {
  return geometry.forwardPayloadLength - REPLY_OVERHEAD;
}

export type ReplyStatus = 'ok' | 'too_large' | 'unknown_service' | 'failed';

const replyStatus = enumeration(u8, {
  ok: 1,
  too_large: 2,
  unknown_service: 3,
  failed: 4,
} satisfies Record<ReplyStatus, number>);

function requestCodec(geometry: Geometry) {
  return struct({
    version: literal(u8, SERVICE_FRAMING_VERSION),
    requestId: fixedBytes(REQUEST_ID_LENGTH),
    index: u16,
    count: u16,
    data: opaque(requestCapacity(geometry)),
  });
}

function replyCodec(geometry: Geometry) {
  return struct({
    version: literal(u8, SERVICE_FRAMING_VERSION),
    requestId: fixedBytes(REQUEST_ID_LENGTH),
    status: replyStatus,
    index: u16,
    count: u16,
    data: opaque(replyCapacity(geometry)),
  });
}

export type RequestFragment = CodecValue<ReturnType<typeof requestCodec>>;
export type ReplyFragment = CodecValue<ReturnType<typeof replyCodec>>;

interface Fragment {
  readonly requestId: Uint8Array;
  readonly index: number;
  readonly count: number;
}

function checkFragment(fragment: Fragment): void {
  if (fragment.count < 1 || fragment.count > MAX_FRAGMENTS || fragment.index >= fragment.count) {
    throw new CodecError(
      'invalid_value',
      `a fragment index must be below its count, at most ${MAX_FRAGMENTS}`,
    );
  }
}

/** Encodes `value` at the start of `length` zero bytes. */
function padded<T>(codec: Codec<T>, value: T, length: number): Uint8Array {
  const writer = new Writer(length);
  codec.encode(writer, value);
  const out = new Uint8Array(length);
  out.set(writer.finish());
  return out;
}

/** Decodes a value followed by nothing but zero padding. Throws `CodecError` only. */
function unpadded<T>(codec: Codec<T>, bytes: Uint8Array, length: number): T {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new CodecError('truncated', `a fragment of this geometry is ${length} bytes`);
  }
  const reader = new Reader(bytes);
  const value = codec.decode(reader);
  if (reader.fixed(reader.remaining).some((byte) => byte !== 0)) {
    throw new CodecError('trailing_bytes', 'the padding after a fragment is not zero');
  }
  return value;
}

function chunks(bytes: Uint8Array, size: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
}

/**
 * The user payloads (`userForwardPayloadLength` bytes each) of a request: enough fragments for its bytes,
 * and at least `surbCount` (the extra ones empty), so that the request can carry that many SURBs. Put one
 * SURB in the SURB slot of each of the first `surbCount` packets.
 */
export function splitRequest(
  geometry: Geometry,
  requestId: Uint8Array,
  request: Uint8Array,
  surbCount = 1,
): Uint8Array[] {
  assertBytes('requestId', requestId, REQUEST_ID_LENGTH);
  assertBytes('request', request);
  const capacity = requestCapacity(geometry);
  const count = Math.max(1, Math.ceil(request.length / capacity), surbCount);
  if (count > MAX_FRAGMENTS) {
    throw new ArgumentError('request', `needs ${count} fragments, at most ${MAX_FRAGMENTS} are allowed`);
  }
  const codec = requestCodec(geometry);
  return chunks(request, capacity, count).map((data, index) =>
    padded(
      codec,
      { version: SERVICE_FRAMING_VERSION, requestId, index, count, data },
      geometry.userForwardPayloadLength,
    ),
  );
}

/** Reads a request fragment from a final hop's user payload. Throws `CodecError` only. */
export function decodeRequestFragment(geometry: Geometry, userPayload: Uint8Array): RequestFragment {
  const fragment = unpadded(requestCodec(geometry), userPayload, geometry.userForwardPayloadLength);
  checkFragment(fragment);
  return fragment;
}

/** SURBs a response of `length` bytes needs. */
export function replyFragmentsNeeded(geometry: Geometry, length: number): number {
  return Math.max(1, Math.ceil(length / replyCapacity(geometry)));
}

/**
 * The reply payloads (`forwardPayloadLength` bytes each, one per SURB, at most `surbCount`) for a response.
 * A response that needs more SURBs than there are becomes one `too_large` fragment; no SURB, no reply.
 */
export function splitReply(
  geometry: Geometry,
  requestId: Uint8Array,
  status: ReplyStatus,
  response: Uint8Array,
  surbCount: number,
): Uint8Array[] {
  assertBytes('requestId', requestId, REQUEST_ID_LENGTH);
  assertBytes('response', response);
  if (surbCount < 1) return [];
  const needed = replyFragmentsNeeded(geometry, response.length);
  if (needed > Math.min(surbCount, MAX_FRAGMENTS)) {
    return splitReply(geometry, requestId, 'too_large', new Uint8Array(0), 1);
  }
  const codec = replyCodec(geometry);
  return chunks(response, replyCapacity(geometry), needed).map((data, index) =>
    padded(
      codec,
      { version: SERVICE_FRAMING_VERSION, requestId, status, index, count: needed, data },
      geometry.forwardPayloadLength,
    ),
  );
}

/** Reads a reply fragment from an opened SURB reply payload. Throws `CodecError` only. */
export function decodeReplyFragment(geometry: Geometry, payload: Uint8Array): ReplyFragment {
  const fragment = unpadded(replyCodec(geometry), payload, geometry.forwardPayloadLength);
  checkFragment(fragment);
  return fragment;
}

export interface ReassemblerOptions {
  /** Most incomplete messages kept; the oldest is dropped to admit another. */
  readonly maxPending: number;
  /** Most fragment bytes kept over all incomplete messages; oldest messages are dropped to stay below. */
  readonly maxPendingBytes: number;
  /** An incomplete message older than this is dropped by `prune`. */
  readonly maxAgeMs: number;
  readonly now?: () => number;
}

interface PartialMessage<T> {
  readonly count: number;
  readonly startedAt: number;
  readonly parts: Map<number, { readonly data: Uint8Array; readonly attachment: T }>;
  bytes: number;
}

/**
 * Collects the fragments of messages (requests at the gateway, replies at the client) keyed by request id,
 * with bounded memory. A fragment whose index was already seen, or whose count disagrees with the first
 * fragment's, is ignored. Each fragment may bring an attachment (the gateway keeps its SURB there).
 */
export class Reassembler<T> {
  readonly #options: ReassemblerOptions;
  readonly #now: () => number;
  readonly #pending = new Map<string, PartialMessage<T>>();
  #bytes = 0;

  constructor(options: ReassemblerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Incomplete messages held. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Adds a fragment; when it completes its message, returns the message's data and every attachment, in index order. */
  add(
    fragment: Fragment & { readonly data: Uint8Array },
    attachment: T,
  ): { data: Uint8Array; attachments: T[] } | undefined {
    const key = toHex(fragment.requestId);
    let entry = this.#pending.get(key);
    if (!entry) {
      entry = { count: fragment.count, startedAt: this.#now(), parts: new Map(), bytes: 0 };
      this.#pending.set(key, entry);
    }
    if (entry.count !== fragment.count || entry.parts.has(fragment.index) || fragment.index >= entry.count) {
      return undefined;
    }
    entry.parts.set(fragment.index, { data: fragment.data, attachment });
    entry.bytes += fragment.data.length;
    this.#bytes += fragment.data.length;
    if (entry.parts.size === entry.count) {
      this.#remove(key, entry);
      const parts = [...entry.parts.entries()].sort(([a], [b]) => a - b).map(([, part]) => part);
      return {
        data: concatBytes(...parts.map((part) => part.data)),
        attachments: parts.map((part) => part.attachment),
      };
    }
    this.#evict(key);
    return undefined;
  }

  /** Drops incomplete messages older than `maxAgeMs`; returns how many. */
  prune(): number {
    const cutoff = this.#now() - this.#options.maxAgeMs;
    let dropped = 0;
    for (const [key, entry] of this.#pending) {
      if (entry.startedAt > cutoff) break;
      this.#remove(key, entry);
      dropped++;
    }
    return dropped;
  }

  clear(): void {
    this.#pending.clear();
    this.#bytes = 0;
  }

  #remove(key: string, entry: PartialMessage<T>): void {
    this.#pending.delete(key);
    this.#bytes -= entry.bytes;
  }

  /** Drops the oldest messages (never `keep`, the one just added to) while over either bound. */
  #evict(keep: string): void {
    for (const [key, entry] of this.#pending) {
      if (this.#pending.size <= this.#options.maxPending && this.#bytes <= this.#options.maxPendingBytes)
        return;
      if (key !== keep) this.#remove(key, entry);
    }
  }
}
