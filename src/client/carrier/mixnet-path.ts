/**
 * Path selection for the mixnet client (design brief §2, docs/network.md): every packet, SURB and cover
 * packet takes the entry gateway, then one mix node of each layer chosen uniformly and independently among
 * the nodes the verified network document lists for that layer, then the exit gateway — the gateway that
 * hosts the service, or the one that keeps the recipient's inbox. Paths come from the signed document only,
 * never from peers (a partial view would fingerprint the client), and every choice is fresh, so two packets
 * of one message share no more than chance.
 *
 * `NodeHealth` learns from the client's own loop packets which mix nodes lose packets: a node on whose
 * paths nearly every recent loop was lost is avoided by real packets and SURBs (uniformly among the rest of
 * its layer) until loops through it come back. Loops themselves keep using every node, so they keep probing.
 * A layer whose every node is suspect leaves no path at all: the carrier reports itself down until loops
 * through that layer come back.
 */
import { toHex } from '../../bytes.ts';
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

/**
 * One mix node per layer, each uniformly among its layer's nodes that `avoid` does not name (among all of
 * them when it names every one).
 */
export function pickMixes(
  candidates: PathCandidates,
  pick: PickIndex = randomInt,
  avoid?: (id: Uint8Array) => boolean,
): DocumentNode[] {
  return candidates.layers.map((nodes) => {
    const usable = avoid ? nodes.filter((node) => !avoid(node.id)) : nodes;
    const from = usable.length > 0 ? usable : nodes;
    return from[pick(from.length)] as DocumentNode;
  });
}

export interface PathRequest {
  /** The gateway the packet enters by (the one the client is connected to); omitted for SURBs, see below. */
  readonly entry?: DocumentNode;
  readonly exit: DocumentNode;
  /** Commands the exit must find: a recipient for an inbox or service, a surb_reply id for a SURB. */
  readonly exitCommands?: readonly HopCommand[];
  readonly pick?: PickIndex;
  /** Mix nodes to leave out where their layer has others (see `NodeHealth`). */
  readonly avoid?: (id: Uint8Array) => boolean;
}

/**
 * entry → one mix per layer → exit, as Sphinx hops with the document epoch's keys. A SURB's path starts at
 * whichever node the replying gateway hands the reply to, so callers building SURBs may omit `entry`.
 */
export function selectPath(candidates: PathCandidates, request: PathRequest): PathHop[] {
  const mixes = pickMixes(candidates, request.pick, request.avoid).map((node) => hop(node));
  const exit = hop(request.exit, request.exitCommands);
  return request.entry ? [hop(request.entry), ...mixes, exit] : [...mixes, exit];
}

/** Outcomes kept per node: enough to tell a dead node (all lost) from one that shares paths with it (half). */
const HEALTH_WINDOW = 16;
const MIN_OUTCOMES = 4;
/** A node is suspect when at least this share of its recent loops was lost. */
const SUSPECT_LOSS = 0.8;

/**
 * Per mix node, the fate of the last loops whose path crossed it. A lost loop counts against every node of
 * its path; a node that shares paths with a dead one loses about half its loops, the dead node all of them.
 */
export class NodeHealth {
  readonly #outcomes = new Map<string, boolean[]>();

  /** Records a loop through `path` (its node ids) as returned or lost. */
  record(path: readonly Uint8Array[], returned: boolean): void {
    for (const id of path) {
      const key = toHex(id);
      const outcomes = this.#outcomes.get(key) ?? [];
      outcomes.push(returned);
      if (outcomes.length > HEALTH_WINDOW) outcomes.shift();
      this.#outcomes.set(key, outcomes);
    }
  }

  /** A loop recorded as lost came back late after all: the oldest loss on each node of its path is undone. */
  returnedLate(path: readonly Uint8Array[]): void {
    for (const id of path) {
      const outcomes = this.#outcomes.get(toHex(id));
      const lost = outcomes?.indexOf(false) ?? -1;
      if (outcomes !== undefined && lost >= 0) outcomes[lost] = true;
    }
  }

  /** Whether recent loops say `id` loses packets. */
  readonly isSuspect = (id: Uint8Array): boolean => {
    const outcomes = this.#outcomes.get(toHex(id));
    if (!outcomes || outcomes.length < MIN_OUTCOMES) return false;
    const lost = outcomes.filter((returned) => !returned).length;
    return lost / outcomes.length >= SUSPECT_LOSS;
  };

  /**
   * Whether some layer has every node suspect: then no path can work. (Which layer it is cannot be told
   * apart: a loop lost in one layer counts against the nodes of every layer it crossed.)
   */
  noPath(candidates: PathCandidates): boolean {
    return candidates.layers.some((nodes) => nodes.every((node) => this.isSuspect(node.id)));
  }
}
