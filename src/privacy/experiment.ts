/**
 * One run of the global passive adversary experiment (docs/privacy.md): a local network with every link
 * tapped, clients at their constant Poisson rate, a few conversations that replace cover with real messages,
 * then the timing-correlation attacker on what the observer recorded. Used by test/privacy and bench/.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DEFAULT_MIXING_PARAMETERS } from '../directory/document.ts';
import { type AttackReport, type Message, timingAttack } from './attacker.ts';
import { exponential, KIND_CODE, LocalMixnet, readPayload } from './local-mixnet.ts';
import { GlobalObserver } from './observer.ts';

export interface ExperimentOptions {
  readonly dataDir: string;
  readonly mixing: 'rounds' | 'off';
  readonly layers: number;
  readonly nodesPerLayer: number;
  readonly gateways: number;
  readonly roundPeriodMs: number;
  readonly batchSize: number;
  readonly clients: number;
  /** λ: packets per second per client, real or cover. */
  readonly clientSendRate: number;
  /** Sender → recipient pairs among the clients (distinct senders). */
  readonly conversations: number;
  /** Real messages each conversation queues per second (below `clientSendRate`, so that senders also send cover). */
  readonly messageRate: number;
  /** How long conversations queue messages. */
  readonly durationMs: number;
}

/**
 * The network and traffic the privacy test and benchmark run: 2 gateways, the directory's default 3 layers
 * (× 2 mix nodes), B = 32 and λ = 2 (`DEFAULT_MIXING_PARAMETERS`), but 250 ms rounds rather than 500 to keep
 * the run short; 20 clients, 10 conversations at 1 message/s.
 */
export const STANDARD_EXPERIMENT = {
  layers: DEFAULT_MIXING_PARAMETERS.layers,
  nodesPerLayer: 2,
  gateways: 2,
  roundPeriodMs: 250,
  batchSize: DEFAULT_MIXING_PARAMETERS.batchSize,
  clients: 20,
  clientSendRate: DEFAULT_MIXING_PARAMETERS.clientSendRate,
  conversations: 10,
  messageRate: 1,
} as const satisfies Omit<ExperimentOptions, 'dataDir' | 'mixing' | 'durationMs'>;

export interface ExperimentResult {
  readonly report: AttackReport;
  /** Real messages queued and delivered. */
  readonly queued: number;
  readonly delivered: number;
  /** Packets every client sent, per second of the run, averaged (should be ≈ λ). */
  readonly observedRate: number;
  /** Links observed. */
  readonly links: number;
  /**
   * What each connection carried beyond whole packets, once every link has closed: its prologue (the
   * sender's encrypted handshake flight and the 32-byte preamble) if it carried packets of one size only.
   * Distinct values over all connections.
   */
  readonly residues: readonly number[];
  readonly packetLength: number;
  /** Loops sent and returned (cover that measures loss). */
  readonly loops: { readonly sent: number; readonly returned: number };
  /**
   * The 99th percentile of the event-loop delay during the run, in ms: this process's (every node shares
   * its loop) or the observer's tap process's (which stamps the packets), whichever is later. When either
   * is starved (another process holding the CPUs), timestamps blur and the measurement says more about the
   * machine than about the network.
   */
  readonly eventLoopDelayP99Ms: number;
  /** Mix-node counters (packets in and out, dummies, drops). */
  readonly counters: ReadonlyMap<string, number>;
}

const REAL = KIND_CODE.real;
const LOOP = KIND_CODE.loop;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runExperiment(options: ExperimentOptions): Promise<ExperimentResult> {
  const observer = new GlobalObserver();
  const network = await LocalMixnet.start({
    dataDir: options.dataDir,
    layers: options.layers,
    nodesPerLayer: options.nodesPerLayer,
    gateways: options.gateways,
    roundPeriodMs: options.roundPeriodMs,
    batchSize: options.batchSize,
    mixing: options.mixing,
    observer,
  });
  let queued = 0;
  let ticker: NodeJS.Timeout | undefined;
  let stopped = false;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  try {
    const clients = await network.addClients(options.clients, options.clientSendRate);
    const startedAt = Date.now();
    // Let every link come up and the rounds settle before the first real message.
    await sleep(Math.max(500, 3 * options.roundPeriodMs));
    const pairs = Array.from({ length: options.conversations }, (_, i) => ({
      sender: clients[i % clients.length],
      recipient: clients[(i + options.conversations) % clients.length],
    }));
    // Each conversation queues messages at the times of a Poisson process of rate `messageRate`.
    const schedule = pairs.map(() => Date.now() + exponential(options.messageRate));
    const end = Date.now() + options.durationMs;
    ticker = setInterval(() => {
      for (const [i, { sender, recipient }] of pairs.entries()) {
        while (sender && recipient && (schedule[i] as number) <= Math.min(Date.now(), end)) {
          sender.enqueue(++queued, recipient.id);
          schedule[i] = (schedule[i] as number) + exponential(options.messageRate);
        }
      }
    }, 20);
    await sleep(options.durationMs);
    clearInterval(ticker);
    ticker = undefined;
    // Let queued messages leave and everything in flight arrive (a few rounds per layer).
    const deadline = Date.now() + 10 * options.roundPeriodMs * (options.layers + 1) + 2000;
    while (Date.now() < deadline) {
      const real = network.delivered.filter((delivery) => readPayload(delivery.payload).kind === REAL).length;
      if (real >= queued && clients.every((client) => client.queued === 0)) break;
      await sleep(50);
    }
    const stoppedAt = Date.now();
    await Promise.all(network.clients.map((client) => client.stop()));
    // Let what is still in flight arrive: every loop back, or the deadline.
    const drained = Date.now() + 10 * options.roundPeriodMs * (options.layers + 1) + 2000;
    const loopsOut = network.sent.filter((sent) => sent.kind === 'loop').length;
    while (Date.now() < drained) {
      if (
        network.delivered.filter((delivery) => readPayload(delivery.payload).kind === LOOP).length >= loopsOut
      )
        break;
      await sleep(50);
    }
    await sleep(2 * options.roundPeriodMs);
    // Every link closes after whole frames; only then is each connection's total meaningful.
    stopped = true;
    loopDelay.disable();
    await network.stop();

    const packets = observer.packets(network.geometry.packetLength);
    const entries = packets.filter((packet) => packet.from.startsWith('client'));
    const senders = new Map(
      network.sent.filter((sent) => sent.kind === 'real').map((sent) => [sent.message, sent]),
    );
    const messages: Message[] = [];
    const seen = new Set<number>();
    for (const delivery of network.delivered) {
      const { kind, message: number } = readPayload(delivery.payload);
      if (kind !== REAL) continue;
      const sent = senders.get(number);
      if (!sent || seen.has(number)) continue;
      seen.add(number);
      messages.push({
        sender: sent.client,
        recipient: delivery.recipient,
        exit: delivery.exit,
        sentAt: sent.at,
        deliveredAt: delivery.at,
      });
    }
    const report = timingAttack(packets, messages, {
      roundPeriodMs: options.roundPeriodMs,
      hops: options.layers + 1,
      isClient: (name) => name.startsWith('client'),
      forwards: (from, to) => to.startsWith('mix') || from.startsWith('client'),
    });

    const packetLength = network.geometry.packetLength;
    const loopsSent = network.sent.filter((sent) => sent.kind === 'loop').length;
    const loopsReturned = network.delivered.filter(
      (delivery) => readPayload(delivery.payload).kind === LOOP,
    ).length;
    return {
      report,
      queued,
      delivered: messages.length,
      observedRate: entries.length / options.clients / ((stoppedAt - startedAt) / 1000),
      links: new Set(observer.records.map((record) => `${record.from}>${record.to}`)).size,
      residues: [...new Set(observer.connections().map(({ bytes }) => bytes % packetLength))].sort(
        (a, b) => a - b,
      ),
      packetLength,
      loops: { sent: loopsSent, returned: loopsReturned },
      eventLoopDelayP99Ms: Math.max(loopDelay.percentile(99) / 1e6, observer.eventLoopDelayP99Ms),
      counters: network.metrics.counters,
    };
  } finally {
    clearInterval(ticker);
    loopDelay.disable();
    if (!stopped) await network.stop();
  }
}
