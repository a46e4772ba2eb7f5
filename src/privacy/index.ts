/**
 * The global passive adversary harness (docs/privacy.md): a local mix network over real TLS links, an
 * observer that taps every link, and the timing-correlation attackers with the chance level they are held
 * to: per message, and per burst (the tracer that simulates the mixes' queues, its null control, and the
 * connection-lifetime attacker).
 */
export type {
  AttackOptions,
  AttackReport,
  Burst,
  BurstReport,
  Discipline,
  Message,
  Observed,
  ReplyLinkInput,
} from './attacker.ts';
export { burstAttack, quantile, replyLinkAttack, timingAttack } from './attacker.ts';
export type { BurstExperimentOptions, BurstExperimentResult } from './bursts.ts';
export { runBurstExperiment } from './bursts.ts';
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
