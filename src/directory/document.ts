/**
 * The directory's two wire formats, built with the codec kit (MLS presentation language, RFC 9420 §2.1) and
 * described in docs/network.md: the node descriptor a node signs with its Ed25519 identity key to register,
 * and the network document the authority signs with Ed25519 and ML-DSA-65 each epoch. Both are versioned by
 * their first byte and signed over a context string followed by their exact bytes, so a signature of one can
 * never pass for the other. A node's Sphinx id is BLAKE2b-256 of its identity key, as in Katzenpost.
 *
 * `verifyNetworkDocument` is the one entry point for documents received from elsewhere: it throws
 * `CodecError` for malformed bytes and `DirectoryError` for everything else it refuses, and returns a
 * document only when both signatures verify under the pinned authority keys, the geometry is the caller's,
 * and the caller's clock is inside the validity window.
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { concatBytes, constantTimeEqual, toHex, utf8 } from '../bytes.ts';
import {
  type Codec,
  decode,
  encode,
  enumeration,
  fixedBytes,
  opaque,
  Reader,
  struct,
  u8,
  u32,
  utf8String,
  vectorOf,
} from '../codec/index.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { cryptoBackend } from '../crypto/index.ts';
import type { KeyPair } from '../crypto/secret.ts';
import { ArgumentError, CodecError, DirectoryError } from '../errors.ts';
import { NODE_ID_LENGTH } from '../sphinx/geometry.ts';
import type { AuthorityKeys, AuthorityPublicKeys } from './authority-keys.ts';
import { DEFAULT_EPOCH_PERIOD_MS } from './epoch.ts';

export const DESCRIPTOR_VERSION = 1;
export const NETWORK_DOCUMENT_VERSION = 1;
export const IDENTITY_KEY_LENGTH = 32;
export const TLS_FINGERPRINT_LENGTH = 32;
export const GEOMETRY_HASH_LENGTH = 32;
export const MAX_ADDRESS_BYTES = 255;
/** Room for the largest Sphinx public key (X-Wing, 1,216 bytes) with margin. */
export const MAX_SPHINX_PUBLIC_KEY_BYTES = 2048;
export const MAX_NODES = 4096;
export const MAX_LAYERS = 16;
export const MAX_SIGNED_DESCRIPTOR_BYTES = 8192;
export const MAX_SIGNED_DOCUMENT_BYTES = 16 * 1024 * 1024;
/** Tolerated difference between the verifier's clock and the authority's, by default. */
export const DEFAULT_CLOCK_SKEW_MS = 30_000;

const DESCRIPTOR_CONTEXT = utf8('umbra directory node descriptor v1\n');
const DOCUMENT_CONTEXT = utf8('umbra directory network document v1\n');
const ED25519_SIGNATURE_LENGTH = 64;
const MAX_SIGNATURE_BYTES = 4096;

export type NodeRole = 'mix' | 'gateway' | 'service';

/** A node's Sphinx public keys: for the epoch they are listed under, and for the one after it. */
export interface SphinxKeys {
  readonly current: Uint8Array;
  readonly next: Uint8Array;
}

/** What a node publishes about itself; the same fields appear for it in a network document. */
export interface NodeEntry {
  /** Ed25519 public key; the node's id is its BLAKE2b-256. */
  readonly identityKey: Uint8Array;
  readonly role: NodeRole;
  /** 1..layers for mix nodes, 0 for gateways and services. */
  readonly layer: number;
  /** host:port of its TLS listener; IPv6 hosts in brackets. */
  readonly address: string;
  /** SHA-256 of its TLS certificate (DER), which peers pin. */
  readonly tlsFingerprint: Uint8Array;
  readonly sphinxKeys: SphinxKeys;
}

/** A registration: the node's entry for `epoch` (its `sphinxKeys.current` is epoch's key). */
export interface NodeDescriptor extends NodeEntry {
  readonly epoch: number;
}

/** A node as a verified document lists it, with its Sphinx id. */
export interface DocumentNode extends NodeEntry {
  readonly id: Uint8Array;
}

/** What every client and node must share for the mixing to hide anyone. */
export interface MixingParameters {
  readonly epochPeriodMs: number;
  /** Mix layers between the entry and exit gateways. */
  readonly layers: number;
  /** A mix node forwards its batch every round. */
  readonly roundPeriodMs: number;
  /** B: a round sends whole batches of B packets (real ones first, topped up to B with dummies). */
  readonly batchSize: number;
  /** λ: packets per second each client sends, real or cover (a multiple of 0.001). */
  readonly clientSendRate: number;
  /** Of the cover packets, the share that loops back to the sender (the rest are dropped); 0..1 by 0.001. */
  readonly loopCoverShare: number;
  /** How long a node still unwraps packets under the previous epoch's key after rotating. */
  readonly keyGracePeriodMs: number;
}

/**
 * The mixing parameters' defaults, kept in this one place: `umbra directory`'s flags take them, and every
 * other starter (the development network, `umbra up`) imports them and says why where it differs.
 */
export const DEFAULT_MIXING_PARAMETERS: MixingParameters = {
  epochPeriodMs: DEFAULT_EPOCH_PERIOD_MS,
  layers: 3,
  roundPeriodMs: 500,
  batchSize: 32,
  clientSendRate: 2,
  loopCoverShare: 0.5,
  keyGracePeriodMs: 60_000,
};

export interface NetworkDocumentContents {
  readonly epoch: number;
  /** Unix milliseconds: the document is valid in [validFrom, validUntil). */
  readonly validFrom: number;
  readonly validUntil: number;
  /** When the authority signed it; a later one for the same epoch supersedes an earlier one. */
  readonly issuedAt: number;
  /** `Geometry.hash()` of the network's Sphinx packets. */
  readonly geometryHash: Uint8Array;
  readonly parameters: MixingParameters;
  /** Sorted by id, ids unique. */
  readonly nodes: readonly NodeEntry[];
}

export interface NetworkDocument extends NetworkDocumentContents {
  readonly nodes: readonly DocumentNode[];
}

/** The Sphinx node id of an identity key: BLAKE2b-256, as Katzenpost derives it. */
export function nodeId(identityKey: Uint8Array): Uint8Array {
  return blake2b(identityKey, { dkLen: NODE_ID_LENGTH });
}

const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([1-9][0-9]{0,4})$/;

/** Splits host:port; undefined unless the host is a name, an IPv4 address or a bracketed IPv6 address. */
export function parseAddress(address: string): { host: string; port: number } | undefined {
  const match = ADDRESS.exec(address);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

/** Wraps a codec with a semantic check: `CodecError` when decoding, `ArgumentError` when encoding. */
function checked<T>(codec: Codec<T>, problem: (value: T) => string | undefined): Codec<T> {
  return {
    encode(writer, value) {
      const message = problem(value);
      if (message !== undefined) throw new ArgumentError('value', message);
      codec.encode(writer, value);
    },
    decode(reader) {
      const value = codec.decode(reader);
      const message = problem(value);
      if (message !== undefined) throw new CodecError('invalid_value', message);
      return value;
    },
  };
}

/** Unix milliseconds and epoch numbers: a u64 on the wire, a safe integer here. */
const u64Number: Codec<number> = {
  encode(writer, value) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new ArgumentError('value', 'expected a safe integer ≥ 0');
    writer.u64(BigInt(value));
  },
  decode(reader) {
    const value = reader.u64();
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CodecError('invalid_value', 'integer above 2^53 − 1');
    return Number(value);
  },
};

/** A rate or share in thousandths, carried as a u32 so that every value has one encoding. */
function thousandths(max: number): Codec<number> {
  return {
    encode(writer, value) {
      const scaled = Math.round(value * 1000);
      if (
        !Number.isFinite(value) ||
        Math.abs(scaled - value * 1000) > 1e-6 ||
        scaled < 0 ||
        scaled > max * 1000
      ) {
        throw new ArgumentError('value', `expected a multiple of 0.001 from 0 to ${max}`);
      }
      writer.u32(scaled);
    },
    decode(reader) {
      const scaled = reader.u32();
      if (scaled > max * 1000) throw new CodecError('invalid_value', `above ${max}`);
      return scaled / 1000;
    },
  };
}

const roleCodec = enumeration(u8, { mix: 1, gateway: 2, service: 3 });
const sphinxKeyCodec = opaque(MAX_SPHINX_PUBLIC_KEY_BYTES);

const nodeFields = {
  identityKey: fixedBytes(IDENTITY_KEY_LENGTH),
  role: roleCodec,
  layer: u8,
  address: checked(utf8String(MAX_ADDRESS_BYTES), (address) =>
    parseAddress(address) === undefined ? 'address must be host:port' : undefined,
  ),
  tlsFingerprint: fixedBytes(TLS_FINGERPRINT_LENGTH),
  sphinxKeys: checked(struct({ current: sphinxKeyCodec, next: sphinxKeyCodec }), ({ current, next }) =>
    current.length === 0 || current.length !== next.length
      ? 'Sphinx keys must be non-empty and alike'
      : undefined,
  ),
};

function roleProblem(node: { readonly role: NodeRole; readonly layer: number }): string | undefined {
  if (node.role === 'mix' ? node.layer < 1 || node.layer > MAX_LAYERS : node.layer !== 0) {
    return `a ${node.role} node cannot sit in layer ${node.layer}`;
  }
  return undefined;
}

const descriptorCodec: Codec<NodeDescriptor> = checked(
  struct({ epoch: u64Number, ...nodeFields }),
  roleProblem,
);
const nodeEntryCodec: Codec<NodeEntry> = checked(struct(nodeFields), roleProblem);

const parametersCodec: Codec<MixingParameters> = checked(
  struct({
    epochPeriodMs: u32,
    layers: u8,
    roundPeriodMs: u32,
    batchSize: u32,
    clientSendRate: thousandths(1_000_000),
    loopCoverShare: thousandths(1),
    keyGracePeriodMs: u32,
  }),
  (parameters) => {
    if (parameters.layers < 1 || parameters.layers > MAX_LAYERS) return `layers must be 1..${MAX_LAYERS}`;
    if (parameters.epochPeriodMs < 1 || parameters.roundPeriodMs < 1 || parameters.batchSize < 1) {
      return 'epoch period, round period and batch size must be positive';
    }
    if (parameters.clientSendRate <= 0) return 'the client send rate must be positive';
    return undefined;
  },
);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const difference = (a[i] as number) - (b[i] as number);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

const documentBodyCodec: Codec<NetworkDocumentContents> = checked(
  struct({
    epoch: u64Number,
    validFrom: u64Number,
    validUntil: u64Number,
    issuedAt: u64Number,
    geometryHash: fixedBytes(GEOMETRY_HASH_LENGTH),
    parameters: parametersCodec,
    nodes: vectorOf(nodeEntryCodec, MAX_NODES, MAX_SIGNED_DOCUMENT_BYTES),
  }),
  (document) => {
    if (document.validFrom >= document.validUntil) return 'the validity window is empty';
    let previous: Uint8Array | undefined;
    for (const node of document.nodes) {
      if (node.layer > document.parameters.layers)
        return `a node sits in layer ${node.layer}, beyond the last`;
      const id = nodeId(node.identityKey);
      if (previous !== undefined && compareBytes(previous, id) >= 0) {
        return 'nodes must be sorted by id, each listed once';
      }
      previous = id;
    }
    return undefined;
  },
);

/** Sorts nodes into the order a document lists them (by id). */
export function sortNodes<N extends NodeEntry>(nodes: readonly N[]): N[] {
  return nodes
    .map((node) => ({ node, id: nodeId(node.identityKey) }))
    .sort((a, b) => compareBytes(a.id, b.id))
    .map(({ node }) => node);
}

const signatureSchemeCodec = enumeration(u8, { ed25519: 1, mldsa65: 2 });

export type DocumentSignatureScheme = 'ed25519' | 'mldsa65';

export interface DocumentSignature {
  readonly scheme: DocumentSignatureScheme;
  readonly signature: Uint8Array;
}

/** A document body with the signatures made over it; verification needs exactly one of each scheme. */
export interface SignedNetworkDocument {
  readonly body: Uint8Array;
  readonly signatures: readonly DocumentSignature[];
}

const signedDocumentCodec: Codec<SignedNetworkDocument> = struct({
  body: opaque(MAX_SIGNED_DOCUMENT_BYTES),
  signatures: vectorOf(struct({ scheme: signatureSchemeCodec, signature: opaque(MAX_SIGNATURE_BYTES) }), 8),
});

interface SignedDescriptor {
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

const signedDescriptorCodec: Codec<SignedDescriptor> = struct({
  body: opaque(MAX_SIGNED_DESCRIPTOR_BYTES),
  signature: opaque(ED25519_SIGNATURE_LENGTH),
});

/** Decodes a versioned body: the first byte must be `version`, the rest is `codec`. */
function decodeVersioned<T>(codec: Codec<T>, version: number, what: string, bytes: Uint8Array): T {
  const reader = new Reader(bytes);
  const found = reader.u8();
  if (found !== version) throw new DirectoryError('unsupported_version', `${what} version ${found}`);
  const value = codec.decode(reader);
  reader.end();
  return value;
}

function encodeVersioned<T>(codec: Codec<T>, version: number, value: T): Uint8Array {
  return concatBytes(Uint8Array.of(version), encode(codec, value));
}

/** The descriptor's bytes as signed (version byte first). */
export function encodeDescriptor(descriptor: NodeDescriptor): Uint8Array {
  return encodeVersioned(descriptorCodec, DESCRIPTOR_VERSION, descriptor);
}

export function decodeDescriptor(bytes: Uint8Array): NodeDescriptor {
  return decodeVersioned(descriptorCodec, DESCRIPTOR_VERSION, 'descriptor', bytes);
}

/** Signs `descriptor` with the node's identity key pair, whose public key it must name. */
export function signDescriptor(
  descriptor: NodeDescriptor,
  identity: KeyPair,
  backend: CryptoBackend,
): Uint8Array {
  if (!constantTimeEqual(identity.publicKey, descriptor.identityKey)) {
    throw new ArgumentError('identity', 'is not the key pair of the descriptor’s identity key');
  }
  const body = encodeDescriptor(descriptor);
  const signature = backend.ed25519.sign(identity.secretKey, concatBytes(DESCRIPTOR_CONTEXT, body));
  return encode(signedDescriptorCodec, { body, signature });
}

export interface VerifiedDescriptor {
  readonly descriptor: NodeDescriptor;
  readonly id: Uint8Array;
  /** The signed bytes, as received: what the authority stores. */
  readonly signed: Uint8Array;
}

/** Decodes a signed descriptor and checks its signature against the identity key it names. */
export function openSignedDescriptor(
  signed: Uint8Array,
  backend: CryptoBackend = cryptoBackend,
): VerifiedDescriptor {
  const { body, signature } = decode(signedDescriptorCodec, signed);
  if (signature.length === 0) throw new DirectoryError('unsigned', 'the descriptor carries no signature');
  const descriptor = decodeDescriptor(body);
  if (
    signature.length !== ED25519_SIGNATURE_LENGTH ||
    !backend.ed25519.verify(descriptor.identityKey, concatBytes(DESCRIPTOR_CONTEXT, body), signature)
  ) {
    throw new DirectoryError('bad_signature', 'the descriptor’s signature does not verify');
  }
  return { descriptor, id: nodeId(descriptor.identityKey), signed: Uint8Array.from(signed) };
}

/** The document's bytes as signed (version byte first). Nodes must already be sorted by id. */
export function encodeNetworkDocument(document: NetworkDocumentContents): Uint8Array {
  return encodeVersioned(documentBodyCodec, NETWORK_DOCUMENT_VERSION, document);
}

/** Decodes a document body without any check of its signatures, time or geometry. */
export function decodeNetworkDocument(body: Uint8Array): NetworkDocument {
  const contents = decodeVersioned(documentBodyCodec, NETWORK_DOCUMENT_VERSION, 'network document', body);
  return { ...contents, nodes: contents.nodes.map((node) => ({ ...node, id: nodeId(node.identityKey) })) };
}

export function encodeSignedNetworkDocument(signed: SignedNetworkDocument): Uint8Array {
  return encode(signedDocumentCodec, signed);
}

export function decodeSignedNetworkDocument(bytes: Uint8Array): SignedNetworkDocument {
  return decode(signedDocumentCodec, bytes);
}

/** Encodes and signs `document` with both authority keys. */
export function signNetworkDocument(
  document: NetworkDocumentContents,
  keys: AuthorityKeys,
  backend: CryptoBackend,
): Uint8Array {
  const body = encodeNetworkDocument(document);
  const message = concatBytes(DOCUMENT_CONTEXT, body);
  return encodeSignedNetworkDocument({
    body,
    signatures: [
      { scheme: 'ed25519', signature: backend.ed25519.sign(keys.ed25519.secretKey, message) },
      { scheme: 'mldsa65', signature: backend.mldsa65.sign(keys.mldsa65.secretKey, message) },
    ],
  });
}

export interface VerifyDocumentOptions {
  /** The pinned authority keys; both signatures must verify under them. */
  readonly authorityKeys: AuthorityPublicKeys;
  /** `Geometry.hash()` of the packets the caller builds or unwraps. */
  readonly expectedGeometryHash: Uint8Array;
  /** The verifier's clock, Unix milliseconds. */
  readonly now: number;
  /** Default `DEFAULT_CLOCK_SKEW_MS`. */
  readonly clockSkewMs?: number;
  readonly backend?: CryptoBackend;
}

/**
 * The network document `bytes` carry, once both signatures, the geometry and the validity window have been
 * checked. Signatures are checked before the body is parsed, so unauthenticated bytes meet only the outer
 * codec.
 */
export function verifyNetworkDocument(bytes: Uint8Array, options: VerifyDocumentOptions): NetworkDocument {
  const { authorityKeys, expectedGeometryHash, now } = options;
  const backend = options.backend ?? cryptoBackend;
  const clockSkewMs = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (!Number.isFinite(now)) throw new ArgumentError('now', 'expected Unix milliseconds');

  const { body, signatures } = decodeSignedNetworkDocument(bytes);
  const byScheme = new Map<DocumentSignatureScheme, Uint8Array>();
  for (const { scheme, signature } of signatures) {
    if (byScheme.has(scheme)) throw new DirectoryError('bad_signature', `two ${scheme} signatures`);
    byScheme.set(scheme, signature);
  }
  const ed25519 = byScheme.get('ed25519');
  const mldsa65 = byScheme.get('mldsa65');
  if (ed25519 === undefined || mldsa65 === undefined) {
    throw new DirectoryError(
      'unsigned',
      'a network document needs both an Ed25519 and an ML-DSA-65 signature',
    );
  }
  const message = concatBytes(DOCUMENT_CONTEXT, body);
  if (!backend.ed25519.verify(authorityKeys.ed25519, message, ed25519)) {
    throw new DirectoryError(
      'bad_signature',
      'the Ed25519 signature does not verify under the authority key',
    );
  }
  if (!backend.mldsa65.verify(authorityKeys.mldsa65, message, mldsa65)) {
    throw new DirectoryError(
      'bad_signature',
      'the ML-DSA-65 signature does not verify under the authority key',
    );
  }

  const document = decodeNetworkDocument(body);
  if (!constantTimeEqual(document.geometryHash, expectedGeometryHash)) {
    throw new DirectoryError(
      'wrong_geometry',
      `the document is for geometry ${toHex(document.geometryHash).slice(0, 16)}…, not ${toHex(expectedGeometryHash).slice(0, 16)}…`,
    );
  }
  if (now + clockSkewMs < document.validFrom) {
    throw new DirectoryError('not_yet_valid', `the document for epoch ${document.epoch} is not valid yet`);
  }
  if (now - clockSkewMs >= document.validUntil) {
    throw new DirectoryError('expired', `the document for epoch ${document.epoch} has expired`);
  }
  return document;
}
