/**
 * The WebSocket protocol between a client and its gateway (docs/gateway.md), built with the codec kit
 * (RFC 9420 §2.1 presentation language). Each WebSocket binary message is exactly one encoded message;
 * text messages are a protocol error. The gateway listens at `CLIENT_PROTOCOL_PATH`.
 *
 * How a client (the mixnet carrier) uses it:
 *
 * 1. Open `wss://<gateway address>/v1/client` (plain `ws://` only on loopback) and send `hello` first:
 *    protocol version, the hash of the geometry it builds packets for (`Geometry.hash()` from the network
 *    document) and its 32-byte inbox secret. The gateway answers `welcome` (its node id, the inbox id,
 *    how many items wait, its limits) or a fatal `error` (`wrong_geometry`, `unsupported_version`,
 *    `protocol`) and closes. The inbox id is `inboxId(secret)`, BLAKE2b-256 of a context and the secret: the
 *    client gives the id to whoever may write to it (as the `recipient` command of a path's last hop, this
 *    gateway being that hop) and only a holder of the secret can open, read and empty it.
 * 2. Send `packet` messages, each one Sphinx packet of exactly `geometry.packetLength` bytes whose first hop
 *    is this gateway. The gateway unwraps its hop and forwards the packet to the first mix layer at once;
 *    above its rate limit (token bucket, `welcome.sendRate` per second, `welcome.burst`) it drops the packet
 *    and answers a non-fatal `rate_limited` error. A client sending at the network document's
 *    `clientSendRate` never reaches it.
 * 3. Receive one downstream **frame** per tick of the gateway's downstream clock (`welcome.downstreamRate`
 *    frames per second, from the moment of the welcome): the next waiting `item`, or else `padding`, which
 *    the client discards. Items and padding encode to exactly `ClientProtocol.frameLength` bytes whatever
 *    they carry, so an observer of the link sees one size at one rate, whether items arrive or not. Every
 *    frame starts with `packetsRead`, the number of `packet` messages the gateway has read from this
 *    connection so far: the client's receipt for its packets (a packet has been taken once a frame counts
 *    it). The frames are also the link's heartbeat: a client that receives none for a few ticks knows the
 *    gateway or the path to it is hung, even though the connection is still open. An item
 *    is a forward payload (`message`: a packet whose last hop named the inbox, e.g. another client's message
 *    or the client's own loop cover; open it with `decodeForwardPayload`) or a SURB reply (`reply`: the
 *    still-enciphered reply payload and its SURB id; open it with `Sphinx.decryptSurbPayload` and the keys
 *    kept for that id). Items go in sequence order, at most 256 unacknowledged at a time (padding fills the
 *    ticks until acks come). Nothing is pushed on arrival: an item waits for the next tick.
 * 4. Send `ack` with the sequence numbers of items it has stored: the gateway deletes them (sequence 0 names
 *    no item: a client pads its acks to a fixed count with it, so their size says nothing). Items not
 *    acknowledged are pushed again on the next connection (the client de-duplicates by sequence number or by
 *    content); they expire 72 hours after arrival.
 *
 * A non-fatal `inbox_full` error tells the owner that items were refused because its inbox was at its quota
 * (`welcome.dropped` counts those refused while it was away); it takes the place of a frame on a tick. One connection per inbox: a newer `hello` for
 * the same inbox closes the older connection.
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { assertBytes, concatBytes, utf8 } from '../bytes.ts';
import {
  bool,
  type Codec,
  type CodecValue,
  decode,
  encode,
  enumeration,
  fixedBytes,
  type Reader,
  struct,
  taggedUnion,
  u8,
  u32,
  u64,
  utf8String,
  vectorOf,
  type Writer,
} from '../codec/index.ts';
import { ArgumentError, CodecError, type GatewayErrorReason } from '../errors.ts';
import { type Geometry, NODE_ID_LENGTH, RECIPIENT_ID_LENGTH, SURB_ID_LENGTH } from '../sphinx/geometry.ts';

export const CLIENT_PROTOCOL_VERSION = 3;
/** The HTTP path of the gateway's WebSocket endpoint. */
export const CLIENT_PROTOCOL_PATH = '/v1/client';
export const INBOX_SECRET_LENGTH = 32;
export const GEOMETRY_HASH_LENGTH = 32;
/** At most this many sequence numbers in one `ack`. */
export const MAX_ACK_SEQUENCES = 1024;
export const MAX_ERROR_MESSAGE_BYTES = 256;
/** Sequence numbers start at 1: 0 in an `ack` names no item (the client's padding). */
export const NO_SEQUENCE = 0n;

const INBOX_CONTEXT = utf8('umbra gateway inbox v1\n');

/** The inbox (Sphinx recipient) id that `secret` owns: BLAKE2b-256(context ‖ secret). */
export function inboxId(secret: Uint8Array): Uint8Array {
  assertBytes('secret', secret, INBOX_SECRET_LENGTH);
  return blake2b(concatBytes(INBOX_CONTEXT, secret), { dkLen: RECIPIENT_ID_LENGTH });
}

/**
 * Why the gateway refused something; the same names as `GatewayError` reasons, so a client rethrows them
 * as `new GatewayError(reason, message)`. Fatal ones are followed by the gateway closing the socket.
 */
export type ClientProtocolErrorReason = Extract<
  GatewayErrorReason,
  | 'protocol'
  | 'unsupported_version'
  | 'wrong_geometry'
  | 'unauthorized'
  | 'rate_limited'
  | 'inbox_full'
  | 'closed'
>;

const errorReason = enumeration(u8, {
  protocol: 1,
  unsupported_version: 2,
  wrong_geometry: 3,
  unauthorized: 4,
  rate_limited: 5,
  inbox_full: 6,
  closed: 7,
} satisfies Record<ClientProtocolErrorReason, number>);

/**
 * `codec`'s encoding followed by zeros up to exactly `length` bytes: every downstream frame has one size.
 * The decoder refuses nonzero padding, so each frame has one encoding.
 */
function padded<T>(codec: Codec<T>, length: number): Codec<T> {
  return {
    encode(writer: Writer, value: T) {
      const start = writer.length;
      codec.encode(writer, value);
      const used = writer.length - start;
      if (used > length) throw new ArgumentError('value', `encodes to more than ${length} bytes`);
      writer.bytes(new Uint8Array(length - used));
    },
    decode(reader: Reader): T {
      const start = reader.remaining;
      const value = codec.decode(reader);
      const used = start - reader.remaining;
      if (used > length) throw new CodecError('too_long', `a frame holds ${length} bytes`);
      if (reader.fixed(length - used).some((byte) => byte !== 0))
        throw new CodecError('invalid_value', 'nonzero frame padding');
      return value;
    },
  };
}

/** Bytes of a downstream frame after its tag: an item with the largest content (a SURB reply). */
function frameBodyLength(geometry: Geometry): number {
  return 8 + 8 + 8 + 1 + SURB_ID_LENGTH + geometry.payloadTagLength + geometry.forwardPayloadLength;
}

function clientCodecs(geometry: Geometry) {
  const hello = struct({
    version: u8,
    geometryHash: fixedBytes(GEOMETRY_HASH_LENGTH),
    inboxSecret: fixedBytes(INBOX_SECRET_LENGTH),
  });
  const packet = struct({ packet: fixedBytes(geometry.packetLength) });
  const ack = struct({ sequences: vectorOf(u64, MAX_ACK_SEQUENCES) });
  return taggedUnion(enumeration(u8, { hello: 1, packet: 2, ack: 3 }), { hello, packet, ack });
}

function gatewayCodecs(geometry: Geometry) {
  const welcome = struct({
    version: u8,
    /** The gateway's Sphinx node id: the first hop of the client's packets. */
    gatewayId: fixedBytes(NODE_ID_LENGTH),
    inboxId: fixedBytes(RECIPIENT_ID_LENGTH),
    /** Items waiting, pushed right after this message. */
    pending: u32,
    /** Items refused because the inbox was full since the owner last connected. */
    dropped: u32,
    /** Most items the inbox keeps. */
    inboxQuota: u32,
    /** Seconds an item is kept unacknowledged. */
    itemTtlSeconds: u32,
    /** Packets per second allowed, in thousandths, and the burst above it. */
    sendRate: u32,
    burst: u32,
    /** Downstream frames per second, in thousandths: one per tick, an item or padding. */
    downstreamRate: u32,
  });
  const content = taggedUnion(enumeration(u8, { message: 1, reply: 2 }), {
    /** The forward payload of a packet whose last hop named this inbox. */
    message: struct({ payload: fixedBytes(geometry.forwardPayloadLength) }),
    /** A SURB reply: still enciphered, opened with the keys kept for `surbId`. */
    reply: struct({
      surbId: fixedBytes(SURB_ID_LENGTH),
      payload: fixedBytes(geometry.payloadTagLength + geometry.forwardPayloadLength),
    }),
  });
  const body = frameBodyLength(geometry);
  const item = padded(
    struct({
      /** `packet` messages the gateway has read from this connection, this frame's included. */
      packetsRead: u64,
      sequence: u64,
      /** Unix milliseconds at which the gateway stored it. */
      receivedAt: u64,
      content,
    }),
    body,
  );
  /** A tick with no item: the packet count, then zeros; the client keeps only the count. */
  const padding = padded(struct({ packetsRead: u64 }), body);
  const error = struct({
    reason: errorReason,
    fatal: bool,
    message: utf8String(MAX_ERROR_MESSAGE_BYTES),
  });
  return taggedUnion(enumeration(u8, { welcome: 1, item: 2, error: 3, padding: 4 }), {
    welcome,
    item,
    error,
    padding,
  });
}

export type ClientMessage = CodecValue<ReturnType<typeof clientCodecs>>;
export type GatewayMessage = CodecValue<ReturnType<typeof gatewayCodecs>>;
export type Hello = Extract<ClientMessage, { kind: 'hello' }>['value'];
export type Welcome = Extract<GatewayMessage, { kind: 'welcome' }>['value'];
/** An item frame: the packet count and the item. */
export type ItemFrame = Extract<GatewayMessage, { kind: 'item' }>['value'];
/** An inbox item as the gateway stores it and the client opens it. */
export type InboxItem = Omit<ItemFrame, 'packetsRead'>;
export type InboxContent = InboxItem['content'];
export type ProtocolErrorMessage = Extract<GatewayMessage, { kind: 'error' }>['value'];

/**
 * The message codecs for one geometry (packet and payload sizes depend on it). Decoders throw `CodecError`
 * and nothing else on hostile bytes; encoders throw `ArgumentError` for values the decoders would refuse.
 */
export class ClientProtocol {
  readonly geometry: Geometry;
  readonly #client: Codec<ClientMessage>;
  readonly #gateway: Codec<GatewayMessage>;

  constructor(geometry: Geometry) {
    this.geometry = geometry;
    this.#client = clientCodecs(geometry);
    this.#gateway = gatewayCodecs(geometry);
  }

  encodeClientMessage(message: ClientMessage): Uint8Array {
    return encode(this.#client, message);
  }

  decodeClientMessage(bytes: Uint8Array): ClientMessage {
    return decode(this.#client, bytes);
  }

  encodeGatewayMessage(message: GatewayMessage): Uint8Array {
    return encode(this.#gateway, message);
  }

  decodeGatewayMessage(bytes: Uint8Array): GatewayMessage {
    return decode(this.#gateway, bytes);
  }

  /** The length of every downstream frame (`item` or `padding`), whatever it carries. */
  get frameLength(): number {
    return 1 + frameBodyLength(this.geometry);
  }

  /** The largest message either side sends: what a WebSocket endpoint should accept, no more. */
  get maxMessageLength(): number {
    const ack = 1 + 4 + 8 * MAX_ACK_SEQUENCES;
    return Math.max(
      1 + this.geometry.packetLength,
      this.frameLength,
      ack,
      1 + 1 + 1 + 4 + MAX_ERROR_MESSAGE_BYTES,
    );
  }
}

/** A `hello` for `secret` and `geometry`. */
export function helloMessage(geometry: Geometry, inboxSecret: Uint8Array): ClientMessage {
  return {
    kind: 'hello',
    value: { version: CLIENT_PROTOCOL_VERSION, geometryHash: geometry.hash(), inboxSecret },
  };
}

/** The frame of a tick with no item, after `packetsRead` packets read from the connection. */
export function paddingFrame(packetsRead: bigint): GatewayMessage {
  return { kind: 'padding', value: { packetsRead } };
}

/** An `error` message; `fatal` ones are followed by the gateway closing the connection. */
export function errorMessage(
  reason: ClientProtocolErrorReason,
  message: string,
  fatal: boolean,
): GatewayMessage {
  return { kind: 'error', value: { reason, fatal, message } };
}
