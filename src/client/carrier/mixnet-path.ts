/**
 * Path selection for the mixnet client (design brief §2, docs/network.md): every packet, SURB and cover
 * packet takes the entry gateway, then one mix node of each layer chosen uniformly and independently among
 * the nodes the verified network document lists for that layer, then the exit gateway — the gateway that
 * hosts the service, or the one that keeps the recipient's inbox. Paths come from the signed document only,
 * never from peers (a partial view would fingerprint the client), and every choice is fresh, so two packets
 * of one message share no more than chance.
 */
import { toHex } from '../../crypto/bytes.ts';
import { randomInt } from '../../crypto/random.ts';
import type { DocumentNode, NetworkDocument } from '../../directory/document.ts';
import { CarrierError } from '../../errors.ts';
import type { HopCommand, PathHop } from '../../sphinx/index.ts';

/** Uniform integer in [0, bound); default the CSPRNG's `randomInt`. */
export type PickIndex = (bound: number) => number;

/** The nodes of a document a path can use, indexed once per document. */
export interface PathCandidates {
  readonly epoch: number;
  /** Mix nodes of layer 1..L, at index 0..L−1. */
  readonly layers: readonly (readonly DocumentNode[])[];
  readonly gateways: ReadonlyMap<string, DocumentNode>;
}

/** Indexes `document`'s nodes by layer; refuses a document in which some layer has no mix node. */
export function pathCandidates(document: NetworkDocument): PathCandidates {
  const layers: DocumentNode[][] = Array.from({ length: document.parameters.layers }, () => []);
  const gateways = new Map<string, DocumentNode>();
  for (const node of document.nodes) {
    if (node.role === 'mix') layers[node.layer - 1]?.push(node);
    else if (node.role === 'gateway') gateways.set(toHex(node.id), node);
  }
  const empty = layers.findIndex((nodes) => nodes.length === 0);
  if (empty >= 0) {
    throw new CarrierError('unreachable', `the network document lists no mix node in layer ${empty + 1}`);
  }
  return { epoch: document.epoch, layers, gateways };
}

function hop(node: DocumentNode, commands: readonly HopCommand[] = []): PathHop {
  return { id: node.id, publicKey: node.sphinxKeys.current, commands };
}

/** One mix node per layer, each uniformly among its layer's nodes. */
export function pickMixes(candidates: PathCandidates, pick: PickIndex = randomInt): DocumentNode[] {
  return candidates.layers.map((nodes) => nodes[pick(nodes.length)] as DocumentNode);
}

export interface PathRequest {
  /** The gateway the packet enters by (the one the client is connected to); omitted for SURBs, see below. */
  readonly entry?: DocumentNode;
  readonly exit: DocumentNode;
  /** Commands the exit must find: a recipient for an inbox or service, a surb_reply id for a SURB. */
  readonly exitCommands?: readonly HopCommand[];
  readonly pick?: PickIndex;
}

/**
 * entry → one mix per layer → exit, as Sphinx hops with the document epoch's keys. A SURB's path starts at
 * whichever node the replying gateway hands the reply to, so callers building SURBs may omit `entry`.
 */
export function selectPath(candidates: PathCandidates, request: PathRequest): PathHop[] {
  const mixes = pickMixes(candidates, request.pick).map((node) => hop(node));
  const exit = hop(request.exit, request.exitCommands);
  return request.entry ? [hop(request.entry), ...mixes, exit] : [...mixes, exit];
}
