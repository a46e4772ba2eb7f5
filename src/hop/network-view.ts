/**
 * A node's view of the network from verified network documents (docs/network.md): it implements the hop
 * layer's `Topology` and `EpochClock` (src/hop/types.ts) for `umbra mix` and `umbra gateway`. It holds
 * the documents of the previous, current and next epochs it was given; peers are looked up in the newest
 * first, so a node that re-registers with a new address is reached there. Epoch boundaries come from the
 * documents themselves (`validFrom` and `epochPeriodMs`), so a node needs no schedule of its own.
 *
 * Only documents that passed `verifyNetworkDocument` may be given to `update`: this class trusts them.
 */
import { constantTimeEqual } from '../bytes.ts';
import { type DocumentNode, type NetworkDocument, parseAddress } from '../directory/document.ts';
import { MixnetError } from '../errors.ts';
import type { EpochClock, PeerDescriptor, RouteNode, Topology } from './types.ts';

/** Which nodes may open an ingress link to this one. */
export type SenderPolicy = (node: DocumentNode) => boolean;

export interface NetworkViewOptions {
  /** The mix layer this node serves (1..layers), or 0 for a gateway. */
  readonly layer: number;
  /** Who may send to this node; default: every node of the documents. */
  readonly allowSender?: SenderPolicy;
  /** Unix milliseconds; default Date.now. */
  readonly now?: () => number;
}

/** Senders a mix of `layer` receives from: the previous layer, or the gateways for layer 1. */
export function mixSenders(layer: number): SenderPolicy {
  return (node) => (layer === 1 ? node.role === 'gateway' : node.role === 'mix' && node.layer === layer - 1);
}

/** Senders a gateway receives from: the last layer (exit traffic) and other gateways (SURB replies' first hop). */
export function gatewaySenders(layers: number): SenderPolicy {
  return (node) => node.role === 'gateway' || (node.role === 'mix' && node.layer === layers);
}

export class NetworkView implements Topology, EpochClock {
  readonly #layer: number;
  readonly #allowSender: SenderPolicy;
  readonly #now: () => number;
  readonly #documents = new Map<number, NetworkDocument>();
  #latest: NetworkDocument | undefined;

  constructor(options: NetworkViewOptions) {
    this.#layer = options.layer;
    this.#allowSender = options.allowSender ?? (() => true);
    this.#now = options.now ?? Date.now;
  }

  /** Keeps a verified document (a newer issue of the same epoch replaces the older) and drops old epochs. */
  update(document: NetworkDocument): void {
    const held = this.#documents.get(document.epoch);
    if (held && held.issuedAt >= document.issuedAt) return;
    this.#documents.set(document.epoch, document);
    if (!this.#latest || document.epoch >= this.#latest.epoch) this.#latest = document;
    const current = this.epochAt(this.now());
    for (const epoch of this.#documents.keys()) {
      if (epoch < current - 1) this.#documents.delete(epoch);
    }
  }

  /** The document of `epoch`, if held. */
  document(epoch: number): NetworkDocument | undefined {
    return this.#documents.get(epoch);
  }

  /** The document of the current epoch, if held. */
  get current(): NetworkDocument | undefined {
    return this.#documents.get(this.epochAt(this.now()));
  }

  /** Whether the current epoch's document lists a node with this id. */
  lists(id: Uint8Array, epoch = this.epochAt(this.now())): boolean {
    return this.#documents.get(epoch)?.nodes.some((node) => constantTimeEqual(node.id, id)) ?? false;
  }

  // EpochClock.

  now(): number {
    return this.#now();
  }

  epochAt(time: number): number {
    const reference = this.#reference();
    const { epochPeriodMs } = reference.parameters;
    return Math.max(0, reference.epoch + Math.floor((time - reference.validFrom) / epochPeriodMs));
  }

  startOf(epoch: number): number {
    const reference = this.#reference();
    return reference.validFrom + (epoch - reference.epoch) * reference.parameters.epochPeriodMs;
  }

  // Topology.

  peer(id: Uint8Array): PeerDescriptor | undefined {
    const node = this.#find(id);
    const address = node && parseAddress(node.address);
    return address && node ? { address, tlsFingerprint: node.tlsFingerprint } : undefined;
  }

  isAllowedSender(fingerprint: Uint8Array): boolean {
    for (const document of this.#documents.values()) {
      for (const node of document.nodes) {
        if (constantTimeEqual(node.tlsFingerprint, fingerprint) && this.#allowSender(node)) return true;
      }
    }
    return false;
  }

  hopsAfter(epoch: number): readonly (readonly RouteNode[])[] {
    const document = this.#documents.get(epoch);
    if (!document) return [[]];
    const { layers } = document.parameters;
    const positions: RouteNode[][] = [];
    for (let layer = this.#layer + 1; layer <= layers; layer++) {
      positions.push(routeNodes(document, (node) => node.role === 'mix' && node.layer === layer));
    }
    positions.push(routeNodes(document, (node) => node.role === 'gateway'));
    return positions;
  }

  /** Newest document first: the latest address and pin of a node win. */
  #find(id: Uint8Array): DocumentNode | undefined {
    const documents = [...this.#documents.values()].sort((a, b) => b.epoch - a.epoch);
    for (const document of documents) {
      const node = document.nodes.find((candidate) => constantTimeEqual(candidate.id, id));
      if (node) return node;
    }
    return undefined;
  }

  #reference(): NetworkDocument {
    if (!this.#latest) throw new MixnetError('no_document', 'the network view has no document yet');
    return this.#latest;
  }
}

function routeNodes(document: NetworkDocument, include: (node: DocumentNode) => boolean): RouteNode[] {
  return document.nodes
    .filter(include)
    .map((node) => ({ id: node.id, sphinxPublicKey: node.sphinxKeys.current }));
}
