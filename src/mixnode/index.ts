/**
 * The mix node: round-based batch mixing of Sphinx packets, composed of the hop layer (src/hop: worker-thread
 * unwrapping, the persistent replay filter, epoch key rotation, egress links) and its own round scheduler
 * and dummy fill. The interfaces in src/hop/types.ts and ./metrics.ts are what a deployment wires in
 * (network document, epoch clock, metrics, logger). See docs/mixnode.md.
 */
export type * from '../hop/types.ts';
export type { DropReason, Metrics, MixCounter, MixGauge, MixHistogram } from './metrics.ts';
export type { MixNodeOptions, PoolParameters, RoundParameters, RoundReport } from './node.ts';
export { DEFAULT_POOL, MixNode } from './node.ts';
export { shuffle } from './shuffle.ts';
