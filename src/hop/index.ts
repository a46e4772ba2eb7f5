/**
 * The hop layer: what every Sphinx hop of umbra does, written once, in the manner of Katzenpost's server
 * (ingress → crypto workers → scheduler → egress, wired through narrow interfaces). A mix node
 * (src/mixnode) and a gateway (src/gateway) are two compositions of its core, `Hop`: each brings its own
 * scheduler (the mix node's rounds, the gateway's inboxes and services) and takes from here the epoch keys
 * and their rotation, the replay filter, the unwrap stage and crypto worker pool, egress links, link-event
 * logging, the node process services (directory session, network view, ops endpoint) and the interfaces a
 * deployment wires in. See docs/mixnode.md and docs/gateway.md.
 */
export type { CryptoEngine } from './crypto-engine.ts';
export { InlineEngine, WorkerPool } from './crypto-engine.ts';
export type { LinkStatus, Outgoing } from './egress.ts';
export type { EpochKey } from './epoch-keys.ts';
export { EpochKeyStore, generateSphinxKeyPair } from './epoch-keys.ts';
export type { HopOptions, HopPipeline } from './hop.ts';
export { Hop } from './hop.ts';
export { KeyRotation, keyWindow } from './key-rotation.ts';
export { ReplayFilter } from './replay-filter.ts';
export type {
  EpochClock,
  LogFields,
  Logger,
  NodeAddress,
  PeerDescriptor,
  RouteNode,
  Topology,
} from './types.ts';
export type { UnwrapOutcome } from './unwrap.ts';
export type { UnwrapBatch } from './unwrap-stage.ts';
