/**
 * The metrics a mix node reports, as a narrow interface (src/mixnode/ops-metrics.ts implements it over the
 * operations kit's registry; tests count in memory): the counters, gauge and histograms of docs/mixnode.md.
 */

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
