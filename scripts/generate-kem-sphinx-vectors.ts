/**
 * Generates umbra's own Sphinx known-answer vectors, committed under test/vectors/kem-sphinx/: KEM Sphinx with
 * ML-KEM-768 and X-Wing (Katzenpost publishes none), and X25519 SURB replies (Katzenpost's published X25519
 * vectors cover forward packets only). Every random input — node keys, KEM encapsulation seeds, padding, SURB
 * payload keys — is drawn from SHAKE256(label ‖ counter), so the same label always produces the same bytes on
 * either backend; the vector test regenerates them on both and walks the committed packets hop by hop.
 *
 *   npx node scripts/generate-kem-sphinx-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import { toHex, utf8 } from '../src/bytes.ts';
import type { CryptoBackend } from '../src/crypto/backend.ts';
import { nodeBackend } from '../src/crypto/backends/node.ts';
import { portableBackend } from '../src/crypto/backends/portable.ts';
import { createXWing } from '../src/crypto/xwing.ts';
import {
  Geometry,
  type GeometryChoices,
  type GeometryFields,
  type PathHop,
  Sphinx,
  type SphinxSchemeName,
} from '../src/sphinx/index.ts';

export interface VectorNode {
  readonly id: string;
  /** The key generation seed, which is also the node's secret key in umbra's (and the backends') encoding. */
  readonly secretKey: string;
  readonly publicKey: string;
}

export interface HopByHop {
  readonly hops: number;
  /** The packet as each hop receives it. */
  readonly packets: string[];
  /** The replay tag each hop computes. */
  readonly replayTags: string[];
}

export interface ForwardVector extends HopByHop {
  readonly recipient: string;
  readonly payload: string;
  /** What the last hop returns: the payload zero-padded to the forward payload length. */
  readonly finalPayload: string;
}

export interface SurbVector extends HopByHop {
  readonly recipient: string;
  readonly surbId: string;
  readonly surb: string;
  readonly surbKeys: string;
  /** The replier's plaintext. */
  readonly reply: string;
  /** What the last hop delivers to the recipient, still enciphered under the SURB keys. */
  readonly deliveredPayload: string;
}

export interface SphinxVectorFile {
  readonly description: string;
  readonly randomness: string;
  readonly label: string;
  readonly geometry: GeometryFields;
  readonly geometryHash: string;
  readonly nodes: VectorNode[];
  readonly forward: ForwardVector[];
  readonly surb: SurbVector;
}

export const VECTOR_SETS: readonly { file: string; choices: GeometryChoices; forwardHops: number[] }[] = [
  {
    file: 'mlkem768.json',
    choices: { scheme: 'MLKEM768', userForwardPayloadLength: 64, withSurb: false, nrHops: 3 },
    forwardHops: [1, 3],
  },
  {
    file: 'xwing.json',
    choices: { scheme: 'XWING', userForwardPayloadLength: 64, withSurb: false, nrHops: 3 },
    forwardHops: [1, 3],
  },
  {
    file: 'x25519-surb.json',
    choices: { scheme: 'x25519', userForwardPayloadLength: 103, withSurb: false, nrHops: 5 },
    forwardHops: [1, 5],
  },
];

/** SHAKE256(label ‖ big-endian u32 counter), one counter value per request. */
export function deterministicRandom(backend: CryptoBackend, label: string): (length: number) => Uint8Array {
  const prefix = utf8(label);
  let counter = 0;
  return (length) => {
    const input = new Uint8Array(prefix.length + 4);
    input.set(prefix);
    new DataView(input.buffer).setUint32(prefix.length, counter++);
    return length === 0 ? new Uint8Array(0) : backend.shake256(input, length);
  };
}

function keyPair(backend: CryptoBackend, scheme: SphinxSchemeName, seed: Uint8Array) {
  switch (scheme) {
    case 'x25519':
      return backend.x25519.generateKeyPair(seed);
    case 'MLKEM768':
      return backend.mlkem768.generateKeyPair(seed);
    case 'XWING':
      return createXWing(backend).generateKeyPair(seed);
  }
}

function walk(sphinx: Sphinx, secretKeys: readonly Uint8Array[], first: Uint8Array) {
  const packets = [first];
  const replayTags: Uint8Array[] = [];
  for (const [hop, secretKey] of secretKeys.entries()) {
    const result = sphinx.unwrap(secretKey, packets[hop] as Uint8Array);
    replayTags.push(result.replayTag);
    if (result.kind === 'forward') packets.push(result.packet);
    else return { packets, replayTags, last: result };
  }
  throw new Error('the packet never reached its last hop');
}

export function generateVectors(
  backend: CryptoBackend,
  choices: GeometryChoices,
  forwardHops: readonly number[],
) {
  const label = `umbra sphinx vectors ${choices.scheme} v1`;
  const random = deterministicRandom(backend, label);
  const geometry = Geometry.create(choices);
  const sphinx = new Sphinx(geometry, backend, { randomBytes: random });
  // ML-KEM-768 keys are 64-byte seeds; X25519 and X-Wing secret keys are 32 bytes.
  const seedLength = choices.scheme === 'MLKEM768' ? backend.mlkem768.seedLength : 32;

  const nodes = Array.from({ length: geometry.nrHops }, () => {
    const id = random(32);
    const keys = keyPair(backend, choices.scheme, random(seedLength));
    return { id, keys };
  });
  const pathOf = (count: number, last: PathHop['commands']): PathHop[] =>
    nodes.slice(0, count).map(({ id, keys }, index) => ({
      id,
      publicKey: keys.publicKey,
      commands: index === count - 1 ? last : [{ type: 'node_delay', delay: 250 * (index + 1) }],
    }));
  const secretKeys = (count: number) => nodes.slice(0, count).map(({ keys }) => keys.secretKey);

  const forward = forwardHops.map((hops): ForwardVector => {
    const recipient = random(32);
    const payload = random(geometry.forwardPayloadLength - 9);
    const packet = sphinx.newPacket(pathOf(hops, [{ type: 'recipient', id: recipient }]), payload);
    const { packets, replayTags, last } = walk(sphinx, secretKeys(hops), packet);
    if (last.kind !== 'final') throw new Error('a forward packet must end in a final result');
    return {
      hops,
      recipient: toHex(recipient),
      payload: toHex(payload),
      packets: packets.map(toHex),
      replayTags: replayTags.map(toHex),
      finalPayload: toHex(last.payload),
    };
  });

  const hops = geometry.nrHops;
  const recipient = random(32);
  const surbId = random(16);
  const { surb, keys } = sphinx.newSurb(
    pathOf(hops, [
      { type: 'recipient', id: recipient },
      { type: 'surb_reply', id: surbId },
    ]),
  );
  const reply = random(geometry.forwardPayloadLength);
  const { packet } = sphinx.newPacketFromSurb(surb, reply);
  const { packets, replayTags, last } = walk(sphinx, secretKeys(hops), packet);
  if (last.kind !== 'reply') throw new Error('a SURB reply must end in a reply result');

  const file: SphinxVectorFile = {
    description: `Sphinx (${choices.scheme}) known answers generated by umbra's scripts/generate-kem-sphinx-vectors.ts`,
    randomness:
      'every random input is SHAKE256(utf8(label) || u32be(counter)), counter from 0, one per request',
    label,
    geometry: geometry.toJSON(),
    geometryHash: toHex(geometry.hash()),
    nodes: nodes.map(({ id, keys: pair }) => ({
      id: toHex(id),
      secretKey: toHex(pair.secretKey),
      publicKey: toHex(pair.publicKey),
    })),
    forward,
    surb: {
      hops,
      recipient: toHex(recipient),
      surbId: toHex(surbId),
      surb: toHex(surb),
      surbKeys: toHex(keys.bytes),
      reply: toHex(reply),
      packets: packets.map(toHex),
      replayTags: replayTags.map(toHex),
      deliveredPayload: toHex(last.payload),
    },
  };
  return file;
}

if (import.meta.main) {
  for (const { file, choices, forwardHops } of VECTOR_SETS) {
    const vectors = generateVectors(nodeBackend, choices, forwardHops);
    const again = generateVectors(portableBackend, choices, forwardHops);
    if (JSON.stringify(again) !== JSON.stringify(vectors))
      throw new Error(`the backends disagree on ${file}`);
    const path = new URL(`../test/vectors/kem-sphinx/${file}`, import.meta.url);
    writeFileSync(path, `${JSON.stringify(vectors, null, 1)}\n`);
    console.log(`wrote ${path.pathname}`);
  }
}
