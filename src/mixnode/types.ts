/**
 * The narrow interfaces a mix node needs from the rest of a deployment, so that it can be wired to the real
 * directory (network document, epochs) and operations kit (logger, metrics) without depending on their
 * modules: each is what the node asks, nothing more. Tests implement them in memory.
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

/** The node's view of the current network document. */
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

export type MixCounter =
  /** Frames read from authorized ingress connections. */
  | 'mix_packets_in_total'
  /** Frames handed to egress links (real and dummy). */
  | 'mix_packets_out_total'
  /** Dummy packets among the frames sent. */
  | 'mix_dummies_total'
  /** Packets whose replay tag was already seen in their key epoch. */
  | 'mix_replays_total'
  /** Packets whose header MAC verified under none of the node's live keys. */
  | 'mix_mac_failures_total'
  /** Other packets not forwarded; label `reason` is a `DropReason`. */
  | 'mix_dropped_total'
  /** Rounds not sent because no dummy route existed (the batch could not be filled). */
  | 'mix_rounds_held_total';

export type DropReason =
  /** Failed to unwrap for a reason other than its MAC (bad version, bad commands, low-order element). */
  | 'malformed'
  /** Unwrapped to a final or reply hop, which mix nodes never are. */
  | 'not_forward'
  | 'unknown_next_hop'
  /** Asked for a node delay above the configured maximum. */
  | 'delay_too_long'
  /** The round queue was at its bound. */
  | 'queue_full'
  /** An egress link was down for longer than its queue could hold. */
  | 'link_queue_full'
  /** The crypto worker failed (a bug or resource exhaustion; logged). */
  | 'internal_error';

export type MixGauge = 'mix_queue_depth';

export type MixHistogram =
  | 'mix_round_duration_seconds'
  /** Real packets among those a round sent (0 to 1): how much of the cover is real traffic. */
  | 'mix_round_fill_ratio'
  /** Time to unwrap one batch of arriving packets, crypto workers' queue included. */
  | 'mix_unwrap_duration_seconds';

export interface Metrics {
  increment(name: MixCounter, amount?: number, labels?: { readonly reason: DropReason }): void;
  setGauge(name: MixGauge, value: number): void;
  observe(name: MixHistogram, value: number): void;
}

/** Values a log line may carry. The node never passes packet bytes, keys or client addresses. */
export type LogFields = Readonly<Record<string, string | number | boolean>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}
