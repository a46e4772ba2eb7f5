/**
 * The narrow interfaces a hop (a mix node or a gateway) needs from the rest of a deployment, so that it can be
 * wired to the real directory (network document, epochs) and operations kit (logger) without depending on
 * their modules: each is what the hop asks, nothing more. Tests implement them in memory.
 */

export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

/** How to reach a next hop: its listening address and its pinned TLS certificate fingerprint (SHA-256). */
export interface PeerDescriptor {
  readonly address: NodeAddress;
  readonly tlsFingerprint: Uint8Array;
}

/** A node a dummy packet may pass through: its Sphinx node id and its Sphinx public key for one epoch. */
export interface RouteNode {
  readonly id: Uint8Array;
  readonly sphinxPublicKey: Uint8Array;
}

/** The hop's view of the current network document. */
export interface Topology {
  /** The mix node or gateway whose 32-byte Sphinx node id is `id`, or undefined when the document lacks it. */
  peer(id: Uint8Array): PeerDescriptor | undefined;
  /** Whether a TLS client presenting a certificate with this SHA-256 fingerprint may send packets here. */
  isAllowedSender(fingerprint: Uint8Array): boolean;
  /**
   * The candidates for each hop after this node, in path order — every later mix layer, then the exit
   * gateways — with their Sphinx public keys for `epoch`. Dummies take one node of each, chosen uniformly.
   * An empty list at any position means no dummy can be built, and the node then holds its round.
   */
  hopsAfter(epoch: number): readonly (readonly RouteNode[])[];
}

/** The directory's epochs: consecutive periods of wall-clock time, numbered from 0. */
export interface EpochClock {
  /** The time now, in milliseconds since the Unix epoch (tests move it). */
  now(): number;
  /** The epoch in force at `time`. */
  epochAt(time: number): number;
  /** When `epoch` begins. */
  startOf(epoch: number): number;
}

/** Values a log line may carry. The node never passes packet bytes, keys or client addresses. */
export type LogFields = Readonly<Record<string, string | number | boolean>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}
