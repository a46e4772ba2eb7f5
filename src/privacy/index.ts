/**
 * The global passive adversary harness (docs/privacy.md): a local mix network over real TLS links, an
 * observer that taps every link, and the timing-correlation attacker with the chance level it is held to.
 */
export type { AttackOptions, AttackReport, Message, Observed, ReplyLinkInput } from './attacker.ts';
export { quantile, replyLinkAttack, timingAttack } from './attacker.ts';
export type { ExperimentOptions, ExperimentResult } from './experiment.ts';
export { runExperiment, STANDARD_EXPERIMENT } from './experiment.ts';
export type { Delivery, LocalMixnetOptions, Member, PacketKind, Sent } from './local-mixnet.ts';
export {
  DEFAULT_GEOMETRY,
  exponential,
  LocalClient,
  LocalMixnet,
  NetworkMetrics,
  Relay,
  readPayload,
  uniform,
} from './local-mixnet.ts';
export type { Endpoint, LinkPacket, WebSocketMessage, WireRecord } from './observer.ts';
export { GlobalObserver, wallClock } from './observer.ts';
