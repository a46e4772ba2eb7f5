/**
 * Sphinx packet creation and processing, byte-compatible with Katzenpost (`core/sphinx/sphinx.go`, `surb.go`,
 * `kemsphinx.go` in katzenpost/katzenpost; specification `specs/sphinx.md` and `specs/kemsphinx.md` in
 * katzenpost/website). A packet is header ‖ payload: the header is version (0x0000) ‖ one element ‖ routing
 * information (one block of commands per hop, nested under each hop's header stream) ‖ MAC; the payload is a
 * 32-byte zero tag and the forward payload, enciphered once per hop with AEZ.
 *
 * Two variants share everything but the element. NIKE Sphinx (X25519) carries one group element, which each
 * hop raises to its private key for the shared secret and then blinds with a factor derived from that secret,
 * so consecutive hops see unlinkable elements. KEM Sphinx (ML-KEM-768, X-Wing) carries the current hop's KEM
 * ciphertext in the element's place and the next hop's ciphertext at the end of each hop's routing block; it
 * needs no blinding and is safe against a quantum adversary, at the cost of one ciphertext per hop of header.
 *
 * Every packet keeps the geometry's length at every hop; every failure on hostile bytes is a `SphinxError`.
 */

import { concatBytes, constantTimeEqual, wipe } from '../bytes.ts';
import type { CryptoBackend, Kem } from '../crypto/backend.ts';
import { randomBytes as systemRandomBytes } from '../crypto/random.ts';
import { SecretHolder } from '../crypto/secret.ts';
import { createXWing } from '../crypto/xwing.ts';
import { ArgumentError, SphinxError } from '../errors.ts';
import {
  decodeCommands,
  encodedCommandLength,
  type HopCommand,
  type RoutingCommand,
  writeCommand,
} from './commands.ts';
import {
  AD_LENGTH,
  type Geometry,
  MAC_LENGTH,
  NEXT_NODE_HOP_LENGTH,
  NODE_ID_LENGTH,
  PAYLOAD_TAG_LENGTH,
  SPRP_IV_LENGTH,
  SPRP_KEY_LENGTH,
} from './geometry.ts';
import { createPrimitives, type PacketKeys, type SphinxPrimitives, wipeKeys } from './primitives.ts';

/** One hop of a path: the node's id, its Sphinx public key, and the commands it should find (never next_node_hop). */
export interface PathHop {
  readonly id: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly commands?: readonly HopCommand[];
}

export interface SphinxOptions {
  /**
   * Source of the randomness packet creation consumes (ephemeral keys, KEM encapsulation seeds, padding, SURB
   * payload keys). Only known-answer generators set it; anything else must leave the system CSPRNG.
   */
  readonly randomBytes?: (length: number) => Uint8Array;
}

/** The node must forward `packet` to `nextHop` (after `delay` milliseconds, when the creator asked for one). */
export interface ForwardResult {
  readonly kind: 'forward';
  readonly packet: Uint8Array;
  readonly nextHop: Uint8Array;
  readonly delay: number | undefined;
  readonly commands: readonly RoutingCommand[];
  readonly replayTag: Uint8Array;
}

/** The packet ends here; `payload` is the forward payload, its zero tag verified and removed. */
export interface FinalResult {
  readonly kind: 'final';
  readonly payload: Uint8Array;
  readonly recipient: Uint8Array | undefined;
  readonly commands: readonly RoutingCommand[];
  readonly replayTag: Uint8Array;
}

/**
 * A reply sent with a SURB ends here. `payload` is still enciphered under keys only the SURB's creator holds:
 * deliver it (with `surbId`) to `recipient`, who opens it with `decryptSurbPayload`.
 */
export interface ReplyResult {
  readonly kind: 'reply';
  readonly payload: Uint8Array;
  readonly surbId: Uint8Array;
  readonly recipient: Uint8Array | undefined;
  readonly commands: readonly RoutingCommand[];
  readonly replayTag: Uint8Array;
}

export type UnwrapResult = ForwardResult | FinalResult | ReplyResult;

const SPRP_KEY_MATERIAL = SPRP_KEY_LENGTH + SPRP_IV_LENGTH;
const X25519_KEY_LENGTH = 32;

/** The keys that open the reply sent with one SURB: Katzenpost's opaque blob (per hop key ‖ IV, last hop first). */
export class SurbKeys extends SecretHolder {
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    super();
    if (
      !(bytes instanceof Uint8Array) ||
      bytes.length < 2 * SPRP_KEY_MATERIAL ||
      bytes.length % SPRP_KEY_MATERIAL
    ) {
      throw new SphinxError(
        'invalid_key',
        `SURB keys are a whole number (at least 2) of ${SPRP_KEY_MATERIAL}-byte keys`,
      );
    }
    this.bytes = bytes;
  }

  protected override publicView(): Record<string, unknown> {
    return { hops: this.bytes.length / SPRP_KEY_MATERIAL - 1 };
  }
}

export interface Surb {
  /** Give this to the party who will reply; it reveals neither the path nor who made it. */
  readonly surb: Uint8Array;
  /** Keep these, under the SURB id, to open the reply. */
  readonly keys: SurbKeys;
}

type NextNodeHop = Extract<RoutingCommand, { readonly type: 'next_node_hop' }>;
type SurbReply = Extract<RoutingCommand, { readonly type: 'surb_reply' }>;

/** Backend calls refuse malformed keys with ArgumentError; Sphinx reports them as its own typed error. */
function keyOperation<T>(what: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    if (error instanceof ArgumentError) throw new SphinxError('invalid_key', `${what}: ${error.message}`);
    throw error;
  }
}

export class Sphinx {
  readonly geometry: Geometry;
  readonly #backend: CryptoBackend;
  readonly #primitives: SphinxPrimitives;
  readonly #kem: Kem | undefined;
  readonly #randomBytes: (length: number) => Uint8Array;
  readonly #deterministic: boolean;
  readonly #routingOffset: number;
  readonly #macOffset: number;
  readonly #payloadOffset: number;
  /** Scratch for the header stream's input (not secret: the packet's routing information and zeros). */
  readonly #streamInput: Uint8Array;

  constructor(geometry: Geometry, backend: CryptoBackend, options: SphinxOptions = {}) {
    this.geometry = geometry;
    this.#backend = backend;
    this.#primitives = createPrimitives(backend);
    this.#kem =
      geometry.kemName === 'MLKEM768'
        ? backend.mlkem768
        : geometry.kemName === 'XWING'
          ? createXWing(backend)
          : undefined;
    this.#randomBytes = options.randomBytes ?? systemRandomBytes;
    this.#deterministic = options.randomBytes !== undefined;
    this.#routingOffset = AD_LENGTH + geometry.elementLength;
    this.#macOffset = this.#routingOffset + geometry.routingInfoLength;
    this.#payloadOffset = this.#macOffset + MAC_LENGTH;
    this.#streamInput = new Uint8Array(geometry.routingInfoLength + geometry.perHopRoutingInfoLength);
  }

  /** Length of a hop's public key in this geometry's scheme. */
  get publicKeyLength(): number {
    return this.#kem ? this.#kem.publicKeyLength : X25519_KEY_LENGTH;
  }

  /** Length of a node's private key in this geometry's scheme (KEM keys are seeds, as the backend stores them). */
  get secretKeyLength(): number {
    return this.#kem ? this.#kem.secretKeyLength : X25519_KEY_LENGTH;
  }

  /**
   * A forward packet along `path` carrying `payload` (at most `forwardPayloadLength` bytes; shorter payloads
   * are zero-padded, so the final hop returns exactly `forwardPayloadLength` bytes).
   */
  newPacket(path: readonly PathHop[], payload: Uint8Array): Uint8Array {
    const packet = new Uint8Array(this.geometry.packetLength);
    const body = this.#paddedPayload(payload, packet.subarray(this.#payloadOffset));
    const { header, keys } = this.#createHeader(path);
    packet.set(header);
    try {
      for (let i = keys.length - 1; i >= 0; i--) {
        const { payloadKey, headerIv } = keys[i] as PacketKeys;
        this.#primitives.sprpEncrypt(payloadKey, headerIv, body);
      }
      return packet;
    } finally {
      keys.forEach(wipeKeys);
    }
  }

  /**
   * Processes a packet with this node's private key. Throws `SphinxError` — bad_length, bad_version,
   * invalid_key, mac_mismatch, invalid_command or payload_tag_mismatch — and nothing else, whatever the bytes.
   */
  unwrap(privateKey: Uint8Array, packet: Uint8Array): UnwrapResult {
    const { geometry } = this;
    if (!(packet instanceof Uint8Array) || packet.length !== geometry.packetLength) {
      throw new SphinxError('bad_length', `a packet of this geometry is ${geometry.packetLength} bytes`);
    }
    this.#checkKey('privateKey', privateKey, this.secretKeyLength);
    if (packet[0] !== 0 || packet[1] !== 0) throw new SphinxError('bad_version', 'unknown packet version');

    const element = packet.subarray(AD_LENGTH, this.#routingOffset);
    const kem = this.#kem;
    const sharedSecret = kem
      ? keyOperation('KEM ciphertext', () => kem.decapsulate(element, privateKey))
      : keyOperation('group element', () => this.#backend.x25519.sharedSecret(privateKey, element));
    // NIKE: the shared secret, as the specification says (Katzenpost's Go hashes the group element instead;
    // the tag never leaves the node, so either is compatible). KEM: the ciphertext, as kemsphinx.go does.
    const replayTag = this.#primitives.hash(kem ? element : sharedSecret);
    const keys = this.#primitives.kdf(sharedSecret, kem === undefined);
    sharedSecret.fill(0);
    try {
      const mac = this.#primitives.mac(keys.headerMac, packet.subarray(0, this.#macOffset));
      if (!constantTimeEqual(mac, packet.subarray(this.#macOffset, this.#payloadOffset))) {
        throw new SphinxError('mac_mismatch', 'the header MAC does not verify');
      }

      const perHop = geometry.perHopRoutingInfoLength;
      // The routing information, then perHop zero bytes whose keystream becomes the next hop's last block.
      const padded = this.#streamInput;
      padded.set(packet.subarray(this.#routingOffset, this.#macOffset));
      const routing = this.#primitives.headerStream(keys, padded);
      const commands = decodeCommands(routing.subarray(0, geometry.commandsLength));

      let nextHop: NextNodeHop | undefined;
      let surbReply: SurbReply | undefined;
      let recipient: Uint8Array | undefined;
      let delay: number | undefined;
      for (const command of commands) {
        if (command.type === 'next_node_hop') nextHop = command;
        else if (command.type === 'surb_reply') surbReply = command;
        else if (command.type === 'recipient') recipient ??= command.id;
        else delay ??= command.delay;
      }

      if (nextHop) {
        // The payload is deciphered where the next packet carries it: no copy of it is ever made.
        const next = new Uint8Array(geometry.packetLength);
        next.set(
          kem
            ? routing.subarray(geometry.commandsLength, perHop)
            : this.#blind(keys.blindingFactor as Uint8Array, element),
          AD_LENGTH,
        );
        next.set(routing.subarray(perHop), this.#routingOffset);
        next.set(nextHop.mac, this.#macOffset);
        const body = next.subarray(this.#payloadOffset);
        body.set(packet.subarray(this.#payloadOffset));
        this.#primitives.sprpDecrypt(keys.payloadKey, keys.headerIv, body);
        return { kind: 'forward', packet: next, nextHop: nextHop.id, delay, commands, replayTag };
      }
      const payload = packet.slice(this.#payloadOffset);
      this.#primitives.sprpDecrypt(keys.payloadKey, keys.headerIv, payload);
      if (surbReply) {
        return { kind: 'reply', payload, surbId: surbReply.id, recipient, commands, replayTag };
      }
      if (!isZero(payload.subarray(0, PAYLOAD_TAG_LENGTH))) {
        throw new SphinxError('payload_tag_mismatch', 'the payload was altered on its way');
      }
      return { kind: 'final', payload: payload.subarray(PAYLOAD_TAG_LENGTH), recipient, commands, replayTag };
    } finally {
      wipeKeys(keys);
    }
  }

  /**
   * A single-use reply block along `path` (whose last hop's commands name the recipient and carry the
   * surb_reply id the creator will recognise), and the keys that open the reply sent with it.
   */
  newSurb(path: readonly PathHop[]): Surb {
    const payloadKey = this.#randomBytes(SPRP_KEY_MATERIAL);
    const { header, keys } = this.#createHeader(path);
    const first = path[0] as PathHop;
    const surb = concatBytes(header, first.id, payloadKey);
    // Last hop first, as Katzenpost serializes them, so that opening a reply walks the blob forward.
    const material = concatBytes(
      ...keys.toReversed().flatMap(({ payloadKey: key, headerIv }) => [key, headerIv]),
      payloadKey,
    );
    keys.forEach(wipeKeys);
    payloadKey.fill(0);
    return { surb, keys: new SurbKeys(material) };
  }

  /** The reply packet a SURB's holder sends, and the id of the node to send it to. */
  newPacketFromSurb(surb: Uint8Array, payload: Uint8Array): { packet: Uint8Array; firstHop: Uint8Array } {
    const { headerLength, surbLength } = this.geometry;
    if (!(surb instanceof Uint8Array) || surb.length !== surbLength) {
      throw new SphinxError('bad_length', `a SURB of this geometry is ${surbLength} bytes`);
    }
    const packet = new Uint8Array(this.geometry.packetLength);
    const body = this.#paddedPayload(payload, packet.subarray(headerLength));
    packet.set(surb.subarray(0, headerLength));
    const keyOffset = headerLength + NODE_ID_LENGTH;
    const key = surb.subarray(keyOffset, keyOffset + SPRP_KEY_LENGTH);
    const iv = surb.subarray(keyOffset + SPRP_KEY_LENGTH, surbLength);
    this.#primitives.sprpEncrypt(key, iv, body);
    return { packet, firstHop: surb.slice(headerLength, keyOffset) };
  }

  /**
   * Opens the payload of a reply (an unwrap's `reply` result) with the keys kept when its SURB was made.
   * Throws `SphinxError` payload_tag_mismatch when the payload was altered or the keys are not its SURB's.
   */
  decryptSurbPayload(payload: Uint8Array, keys: SurbKeys): Uint8Array {
    const expected = PAYLOAD_TAG_LENGTH + this.geometry.forwardPayloadLength;
    if (!(payload instanceof Uint8Array) || payload.length !== expected) {
      throw new SphinxError('bad_length', `a reply payload of this geometry is ${expected} bytes`);
    }
    if (!(keys instanceof SurbKeys))
      throw new SphinxError('invalid_key', 'expected the SurbKeys of the SURB');
    const material = keys.bytes;
    const count = material.length / SPRP_KEY_MATERIAL;
    const body = payload.slice();
    for (let i = 0; i < count; i++) {
      const offset = i * SPRP_KEY_MATERIAL;
      const key = material.subarray(offset, offset + SPRP_KEY_LENGTH);
      const iv = material.subarray(offset + SPRP_KEY_LENGTH, offset + SPRP_KEY_MATERIAL);
      // Each hop decrypted once on the way; encrypting undoes it, then the SURB's own key deciphers the reply.
      if (i === count - 1) this.#primitives.sprpDecrypt(key, iv, body);
      else this.#primitives.sprpEncrypt(key, iv, body);
    }
    if (!isZero(body.subarray(0, PAYLOAD_TAG_LENGTH))) {
      throw new SphinxError('payload_tag_mismatch', 'the reply was altered, or these are not its SURB keys');
    }
    return body.subarray(PAYLOAD_TAG_LENGTH);
  }

  /** Writes the zero tag and `payload`, zero-padded, into `body` (which the caller allocated zeroed). */
  #paddedPayload(payload: Uint8Array, body: Uint8Array): Uint8Array {
    const { forwardPayloadLength } = this.geometry;
    if (!(payload instanceof Uint8Array)) throw new ArgumentError('payload', 'expected a Uint8Array');
    if (payload.length > forwardPayloadLength) {
      throw new SphinxError(
        'payload_too_long',
        `${payload.length} bytes, the geometry carries ${forwardPayloadLength}`,
      );
    }
    body.set(payload, PAYLOAD_TAG_LENGTH);
    return body;
  }

  #checkKey(argument: string, key: unknown, length: number): asserts key is Uint8Array {
    if (!(key instanceof Uint8Array) || key.length !== length) {
      throw new SphinxError('wrong_scheme', `${argument}: a ${this.geometry.scheme} key is ${length} bytes`);
    }
  }

  #blind(blindingFactor: Uint8Array, element: Uint8Array): Uint8Array {
    return keyOperation('group element', () => this.#backend.x25519.sharedSecret(blindingFactor, element));
  }

  #checkPath(path: readonly PathHop[]): void {
    const { geometry } = this;
    if (!Array.isArray(path) || path.length === 0)
      throw new ArgumentError('path', 'expected at least one hop');
    if (path.length > geometry.nrHops) {
      throw new SphinxError('path_too_long', `${path.length} hops, the geometry allows ${geometry.nrHops}`);
    }
    path.forEach((hop, index) => {
      if (!(hop.id instanceof Uint8Array) || hop.id.length !== NODE_ID_LENGTH) {
        throw new ArgumentError(`path[${index}].id`, `expected ${NODE_ID_LENGTH} bytes`);
      }
      this.#checkKey(`path[${index}].publicKey`, hop.publicKey, this.publicKeyLength);
      let length = index === path.length - 1 ? 0 : NEXT_NODE_HOP_LENGTH;
      for (const command of hop.commands ?? []) {
        if ((command.type as string) === 'next_node_hop') {
          throw new SphinxError(
            'invalid_command',
            `path[${index}]: next_node_hop is written by the header, not given`,
          );
        }
        length += encodedCommandLength(command);
      }
      if (length > geometry.commandsLength) {
        throw new SphinxError(
          'invalid_command',
          `path[${index}]: commands need ${length} bytes, a hop has ${geometry.commandsLength}`,
        );
      }
    });
  }

  /** Per hop: the element it receives (group element or KEM ciphertext) and the keys of its shared secret. */
  #deriveHops(path: readonly PathHop[]): { elements: Uint8Array[]; keys: PacketKeys[] } {
    const kem = this.#kem;
    const elements: Uint8Array[] = [];
    const keys: PacketKeys[] = [];
    if (kem) {
      for (const hop of path) {
        const seed = this.#deterministic ? this.#randomBytes(kem.encapsulationSeedLength) : undefined;
        const { cipherText, sharedSecret } = keyOperation('publicKey', () =>
          kem.encapsulate(hop.publicKey, seed),
        );
        elements.push(cipherText);
        keys.push(this.#primitives.kdf(sharedSecret, false));
        sharedSecret.fill(0);
      }
      return { elements, keys };
    }
    const x25519 = this.#backend.x25519;
    const ephemeral = this.#randomBytes(X25519_KEY_LENGTH);
    path.forEach((hop, i) => {
      // The hop computes its secret from the blinded element; the creator reaches the same value by blinding
      // its own exponentiation with every earlier hop's factor, in order.
      let secret = keyOperation(`path[${i}].publicKey`, () => x25519.sharedSecret(ephemeral, hop.publicKey));
      for (let j = 0; j < i; j++)
        secret = this.#blind((keys[j] as PacketKeys).blindingFactor as Uint8Array, secret);
      keys.push(this.#primitives.kdf(secret, true));
      secret.fill(0);
      elements.push(
        i === 0
          ? x25519.publicKeyFromSecret(ephemeral)
          : this.#blind(
              (keys[i - 1] as PacketKeys).blindingFactor as Uint8Array,
              elements[i - 1] as Uint8Array,
            ),
      );
    });
    ephemeral.fill(0);
    return { elements, keys };
  }

  /** The header for `path`, and each hop's keys (which the caller wipes once the payload is enciphered). */
  #createHeader(path: readonly PathHop[]): { header: Uint8Array; keys: PacketKeys[] } {
    this.#checkPath(path);
    const { geometry } = this;
    const hops = path.length;
    const perHop = geometry.perHopRoutingInfoLength;
    const routingLength = geometry.routingInfoLength;
    const { elements, keys } = this.#deriveHops(path);

    // Hop i removes its own block and appends perHop bytes of its keystream, so the blocks hop i + 1 sees past
    // the real ones are the accumulated tails ("filler") of every earlier hop's keystream.
    const keystreams: Uint8Array[] = [];
    const fillers: Uint8Array[] = [];
    for (let i = 0; i < hops; i++) {
      const keystream = this.#primitives.headerStream(
        keys[i] as PacketKeys,
        new Uint8Array(routingLength + perHop),
      );
      const split = routingLength - i * perHop;
      const filler = keystream.subarray(split);
      const previous = fillers[i - 1];
      if (previous)
        for (let k = 0; k < previous.length; k++) filler[k] = (filler[k] as number) ^ (previous[k] as number);
      keystreams.push(keystream.subarray(0, split));
      fillers.push(filler);
    }

    // Built from the last hop back; hop i's view of the routing information is routing[i * perHop ..].
    const routing = new Uint8Array(routingLength);
    routing.set(this.#randomBytes((geometry.nrHops - hops) * perHop), hops * perHop);
    const version = new Uint8Array(AD_LENGTH);
    let mac: Uint8Array = new Uint8Array(0);
    for (let i = hops - 1; i >= 0; i--) {
      const start = i * perHop;
      let offset = start;
      for (const command of (path[i] as PathHop).commands ?? [])
        offset = writeCommand(command, routing, offset);
      if (i < hops - 1) {
        writeCommand({ type: 'next_node_hop', id: (path[i + 1] as PathHop).id, mac }, routing, offset);
        if (this.#kem) routing.set(elements[i + 1] as Uint8Array, start + geometry.commandsLength);
      }
      const view = routing.subarray(start);
      const keystream = keystreams[i] as Uint8Array;
      for (let k = 0; k < view.length; k++) view[k] = (view[k] as number) ^ (keystream[k] as number);
      const filler = i > 0 ? (fillers[i - 1] as Uint8Array) : new Uint8Array(0);
      mac = this.#primitives.mac(
        (keys[i] as PacketKeys).headerMac,
        version,
        elements[i] as Uint8Array,
        view,
        filler,
      );
    }

    const header = concatBytes(version, elements[0] as Uint8Array, routing, mac);
    wipe(...keystreams, ...fillers);
    return { header, keys };
  }
}

function isZero(bytes: Uint8Array): boolean {
  let accumulator = 0;
  for (const byte of bytes) accumulator |= byte;
  return accumulator === 0;
}
