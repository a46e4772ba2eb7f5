/**
 * Sphinx packet geometry: every size of a packet, its header, routing information and SURB, derived from
 * four choices (the key scheme, the user forward payload length, whether a SURB rides in the forward payload,
 * and the number of hops) exactly as Katzenpost derives them (`core/sphinx/geo` in katzenpost/katzenpost), so
 * a geometry here and one there with the same choices have the same numbers and the same `hash()`: BLAKE2b-256
 * of the canonical CBOR encoding (RFC 8949 §4.2.3, length-first key order) of Katzenpost's Geometry struct,
 * field names as keys. Nodes and clients compare hashes to check they agree before exchanging packets.
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { utf8 } from '../bytes.ts';
import { SphinxError } from '../errors.ts';

export type NikeSchemeName = 'x25519';
export type KemSchemeName = 'MLKEM768' | 'XWING';
export type SphinxSchemeName = NikeSchemeName | KemSchemeName;

/** Bytes each scheme puts in a header: the X25519 group element, or one KEM ciphertext. */
const SCHEME_ELEMENT_LENGTH: Readonly<Record<SphinxSchemeName, number>> = {
  x25519: 32,
  MLKEM768: 1088,
  XWING: 1120,
};

export const NODE_ID_LENGTH = 32;
export const RECIPIENT_ID_LENGTH = 32;
export const SURB_ID_LENGTH = 16;
export const MAC_LENGTH = 32;
export const COMMAND_TAG_LENGTH = 1;
export const AD_LENGTH = 2;
export const PAYLOAD_TAG_LENGTH = 32;
export const SPHINX_PLAINTEXT_HEADER_LENGTH = 2;
export const SPRP_KEY_LENGTH = 48;
export const SPRP_IV_LENGTH = 16;
export const NEXT_NODE_HOP_LENGTH = COMMAND_TAG_LENGTH + NODE_ID_LENGTH + MAC_LENGTH;
const SURB_REPLY_LENGTH = COMMAND_TAG_LENGTH + SURB_ID_LENGTH;
const SPRP_KEY_MATERIAL_LENGTH = SPRP_KEY_LENGTH + SPRP_IV_LENGTH;

/** Limits that keep a hostile network document from asking for absurd allocations. */
export const MAX_HOPS = 32;
export const MAX_PACKET_LENGTH = 1 << 20;

/** The fields of Katzenpost's Geometry, under the same names (camel-cased here; the hash uses Go's). */
export interface GeometryFields {
  readonly packetLength: number;
  readonly nrHops: number;
  readonly headerLength: number;
  readonly routingInfoLength: number;
  readonly perHopRoutingInfoLength: number;
  readonly surbLength: number;
  readonly sphinxPlaintextHeaderLength: number;
  readonly payloadTagLength: number;
  readonly forwardPayloadLength: number;
  readonly userForwardPayloadLength: number;
  readonly nextNodeHopLength: number;
  readonly sprpKeyMaterialLength: number;
  /** Set for NIKE Sphinx, empty for KEM Sphinx. */
  readonly nikeName: string;
  /** Set for KEM Sphinx, empty for NIKE Sphinx. */
  readonly kemName: string;
}

export interface GeometryChoices {
  readonly scheme: SphinxSchemeName;
  readonly userForwardPayloadLength: number;
  /** Whether the forward payload reserves room for a SURB (plus the 2-byte plaintext header) before the user's bytes. */
  readonly withSurb: boolean;
  readonly nrHops: number;
}

function isSchemeName(name: string): name is SphinxSchemeName {
  return Object.hasOwn(SCHEME_ELEMENT_LENGTH, name);
}

function isKemName(name: SphinxSchemeName): name is KemSchemeName {
  return name !== 'x25519';
}

function derive({ scheme, userForwardPayloadLength, withSurb, nrHops }: GeometryChoices): GeometryFields {
  const elementLength = SCHEME_ELEMENT_LENGTH[scheme];
  const kem = isKemName(scheme);
  // The largest block a hop carries is next_node_hop + surb_reply (plus, in KEM Sphinx, the next hop's ciphertext).
  const perHopRoutingInfoLength = NEXT_NODE_HOP_LENGTH + SURB_REPLY_LENGTH + (kem ? elementLength : 0);
  const routingInfoLength = perHopRoutingInfoLength * nrHops;
  const headerLength = AD_LENGTH + elementLength + routingInfoLength + MAC_LENGTH;
  const surbLength = headerLength + NODE_ID_LENGTH + SPRP_KEY_MATERIAL_LENGTH;
  const forwardPayloadLength = withSurb
    ? userForwardPayloadLength + SPHINX_PLAINTEXT_HEADER_LENGTH + surbLength
    : userForwardPayloadLength;
  return {
    packetLength: headerLength + PAYLOAD_TAG_LENGTH + forwardPayloadLength,
    nrHops,
    headerLength,
    routingInfoLength,
    perHopRoutingInfoLength,
    surbLength,
    sphinxPlaintextHeaderLength: SPHINX_PLAINTEXT_HEADER_LENGTH,
    payloadTagLength: PAYLOAD_TAG_LENGTH,
    forwardPayloadLength,
    userForwardPayloadLength,
    nextNodeHopLength: NEXT_NODE_HOP_LENGTH,
    sprpKeyMaterialLength: SPRP_KEY_MATERIAL_LENGTH,
    nikeName: kem ? '' : scheme,
    kemName: kem ? scheme : '',
  };
}

/** Go's field names, which are the CBOR map keys of Katzenpost's geometry hash. */
const GO_FIELD_NAMES: Readonly<Record<keyof GeometryFields, string>> = {
  packetLength: 'PacketLength',
  nrHops: 'NrHops',
  headerLength: 'HeaderLength',
  routingInfoLength: 'RoutingInfoLength',
  perHopRoutingInfoLength: 'PerHopRoutingInfoLength',
  surbLength: 'SURBLength',
  sphinxPlaintextHeaderLength: 'SphinxPlaintextHeaderLength',
  payloadTagLength: 'PayloadTagLength',
  forwardPayloadLength: 'ForwardPayloadLength',
  userForwardPayloadLength: 'UserForwardPayloadLength',
  nextNodeHopLength: 'NextNodeHopLength',
  sprpKeyMaterialLength: 'SPRPKeyMaterialLength',
  nikeName: 'NIKEName',
  kemName: 'KEMName',
};

const FIELD_KEYS = Object.keys(GO_FIELD_NAMES) as (keyof GeometryFields)[];

/** A CBOR data item head (RFC 8949 §3) in its shortest form, as canonical encoding requires. */
function cborHead(majorType: number, value: number): number[] {
  const major = majorType << 5;
  if (value < 24) return [major | value];
  if (value < 0x100) return [major | 24, value];
  if (value < 0x10000) return [major | 25, value >> 8, value & 0xff];
  return [major | 26, (value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

function cborText(text: string): number[] {
  const bytes = utf8(text);
  return [...cborHead(3, bytes.length), ...bytes];
}

function compareBytes(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const difference = (a[i] as number) - (b[i] as number);
    if (difference !== 0) return difference;
  }
  return 0;
}

function invalid(message: string): SphinxError {
  return new SphinxError('invalid_geometry', message);
}

export class Geometry implements GeometryFields {
  readonly packetLength: number;
  readonly nrHops: number;
  readonly headerLength: number;
  readonly routingInfoLength: number;
  readonly perHopRoutingInfoLength: number;
  readonly surbLength: number;
  readonly sphinxPlaintextHeaderLength: number;
  readonly payloadTagLength: number;
  readonly forwardPayloadLength: number;
  readonly userForwardPayloadLength: number;
  readonly nextNodeHopLength: number;
  readonly sprpKeyMaterialLength: number;
  readonly nikeName: string;
  readonly kemName: string;

  private constructor(fields: GeometryFields) {
    this.packetLength = fields.packetLength;
    this.nrHops = fields.nrHops;
    this.headerLength = fields.headerLength;
    this.routingInfoLength = fields.routingInfoLength;
    this.perHopRoutingInfoLength = fields.perHopRoutingInfoLength;
    this.surbLength = fields.surbLength;
    this.sphinxPlaintextHeaderLength = fields.sphinxPlaintextHeaderLength;
    this.payloadTagLength = fields.payloadTagLength;
    this.forwardPayloadLength = fields.forwardPayloadLength;
    this.userForwardPayloadLength = fields.userForwardPayloadLength;
    this.nextNodeHopLength = fields.nextNodeHopLength;
    this.sprpKeyMaterialLength = fields.sprpKeyMaterialLength;
    this.nikeName = fields.nikeName;
    this.kemName = fields.kemName;
    Object.freeze(this);
  }

  /** Derives every size from the four choices, as Katzenpost's `GeometryFromUserForwardPayloadLength` does. */
  static create(choices: GeometryChoices): Geometry {
    const { scheme, userForwardPayloadLength, withSurb, nrHops } = choices;
    if (!isSchemeName(scheme)) throw invalid(`unknown scheme ${JSON.stringify(scheme)}`);
    if (!Number.isSafeInteger(nrHops) || nrHops < 1 || nrHops > MAX_HOPS) {
      throw invalid(`nrHops must be an integer in [1, ${MAX_HOPS}]`);
    }
    if (!Number.isSafeInteger(userForwardPayloadLength) || userForwardPayloadLength < 1) {
      throw invalid('userForwardPayloadLength must be a positive integer');
    }
    if (typeof withSurb !== 'boolean') throw invalid('withSurb must be a boolean');
    const geometry = new Geometry(derive(choices));
    geometry.validate();
    return geometry;
  }

  /** Rebuilds a geometry received from elsewhere (a network document) and validates it. */
  static fromFields(fields: GeometryFields): Geometry {
    const copy = {} as Record<keyof GeometryFields, unknown>;
    for (const key of FIELD_KEYS) copy[key] = fields[key];
    const geometry = new Geometry(copy as unknown as GeometryFields);
    geometry.validate();
    return geometry;
  }

  get scheme(): SphinxSchemeName {
    const name = this.nikeName || this.kemName;
    if (!isSchemeName(name)) throw invalid(`unknown scheme ${JSON.stringify(name)}`);
    return name;
  }

  get isKem(): boolean {
    return this.kemName !== '';
  }

  get withSurb(): boolean {
    return this.forwardPayloadLength !== this.userForwardPayloadLength;
  }

  /** Bytes of a hop's routing information that hold commands (in KEM Sphinx the rest is the next ciphertext). */
  get commandsLength(): number {
    return this.perHopRoutingInfoLength - (this.isKem ? SCHEME_ELEMENT_LENGTH[this.scheme] : 0);
  }

  /** Bytes of the header's group element (NIKE) or KEM ciphertext. */
  get elementLength(): number {
    return SCHEME_ELEMENT_LENGTH[this.scheme];
  }

  /**
   * Throws `SphinxError` (invalid_geometry) unless exactly one known scheme is named and every size is the one
   * the four choices derive. Stricter than Katzenpost's own check, which only tests a few fields for zero.
   */
  validate(): void {
    for (const key of FIELD_KEYS) {
      const value = this[key];
      const isName = key === 'nikeName' || key === 'kemName';
      if (isName ? typeof value !== 'string' : !Number.isSafeInteger(value))
        throw invalid(`${key} is malformed`);
    }
    if ((this.nikeName === '') === (this.kemName === ''))
      throw invalid('exactly one of nikeName, kemName is set');
    const scheme = this.scheme;
    if (this.nikeName !== '' && isKemName(scheme)) throw invalid(`${scheme} is a KEM, not a NIKE`);
    if (this.kemName !== '' && !isKemName(scheme)) throw invalid(`${scheme} is a NIKE, not a KEM`);
    if (this.nrHops < 1 || this.nrHops > MAX_HOPS) throw invalid(`nrHops must be in [1, ${MAX_HOPS}]`);
    if (this.userForwardPayloadLength < 1) throw invalid('userForwardPayloadLength must be positive');
    const expected = derive({
      scheme,
      userForwardPayloadLength: this.userForwardPayloadLength,
      withSurb: this.withSurb,
      nrHops: this.nrHops,
    });
    for (const key of FIELD_KEYS) {
      if (this[key] !== expected[key])
        throw invalid(`${key} is ${this[key]}, the choices derive ${expected[key]}`);
    }
    if (this.packetLength > MAX_PACKET_LENGTH) throw invalid(`packets above ${MAX_PACKET_LENGTH} bytes`);
  }

  /** Katzenpost's geometry hash: BLAKE2b-256 over the canonical CBOR map of the Go struct's fields. */
  hash(): Uint8Array {
    const entries = FIELD_KEYS.map((key) => {
      const value = this[key];
      const encodedValue = typeof value === 'string' ? cborText(value) : cborHead(0, value);
      return { key: cborText(GO_FIELD_NAMES[key]), value: encodedValue };
    }).sort((a, b) => compareBytes(a.key, b.key));
    const encoded = [
      ...cborHead(5, entries.length),
      ...entries.flatMap(({ key, value }) => [...key, ...value]),
    ];
    return blake2b(Uint8Array.from(encoded), { dkLen: 32 });
  }

  toJSON(): GeometryFields {
    const fields = {} as Record<keyof GeometryFields, unknown>;
    for (const key of FIELD_KEYS) fields[key] = this[key];
    return fields as unknown as GeometryFields;
  }
}
