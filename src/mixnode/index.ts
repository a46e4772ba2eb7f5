/**
 * The mix node: round-based batch mixing of Sphinx packets over pinned, hybrid post-quantum TLS links, with
 * worker-thread unwrapping, dummy fill, a persistent replay filter and epoch key rotation. The interfaces in
 * types.ts are what a deployment wires in (network document, epoch clock, metrics, logger). See
 * docs/mixnode.md.
 */
export type { CryptoEngine } from './crypto-engine.ts';
export { InlineEngine, WorkerPool } from './crypto-engine.ts';
export type { EpochKey } from './epoch-keys.ts';
export { EpochKeyStore, generateSphinxKeyPair } from './epoch-keys.ts';
export type { MixNodeOptions, PoolParameters, RoundParameters, RoundReport } from './node.ts';
export { DEFAULT_POOL, MixNode } from './node.ts';
export { ReplayFilter } from './replay-filter.ts';
export { shuffle } from './shuffle.ts';
export type {
  DropReason,
  EpochClock,
  LogFields,
  Logger,
  Metrics,
  MixCounter,
  MixGauge,
  MixHistogram,
  NodeAddress,
  PeerDescriptor,
  RouteNode,
  Topology,
} from './types.ts';
export type { UnwrapOutcome } from './unwrap.ts';
