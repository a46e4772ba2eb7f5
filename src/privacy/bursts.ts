/**
 * The burst experiment of issue 18 on the local network (local-mixnet.ts, real `MixNode`s, every link
 * tapped by the observer's own process): k clients at a constant Poisson rate; every `spacingMs` a trial,
 * a random sender queueing a burst of messages for a random other client, who reads each one it is sent
 * (a read request of its own through the mixes to the service, as the SDK fetches after a push: the push
 * itself rides the constant-rate downstream and shows nothing); then the burst attackers (attacker.ts
 * `burstAttack`) on what the observer recorded — the hop-by-hop tracer simulating the mixes' queue
 * discipline and intersecting over the burst, the receiver attacker tracing the reads that follow each
 * message, their null controls at shifted times, and the connection-lifetime attacker. Used by
 * test/privacy/bursts.test.ts and bench/privacy.ts; docs/privacy.md.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { toHex } from '../bytes.ts';
import { randomBytes, randomInt } from '../crypto/random.ts';
import type { PoolParameters } from '../mixnode/index.ts';
import {
  type Arrival,
  type Burst,
  type BurstReport,
  burstAttack,
  type Message,
  quantile,
} from './attacker.ts';
import { KIND_CODE, LocalMixnet, type LocalMixnetOptions, readPayload } from './local-mixnet.ts';
import { GlobalObserver } from './observer.ts';

export interface BurstExperimentOptions
  extends Pick<
    LocalMixnetOptions,
    'dataDir' | 'layers' | 'nodesPerLayer' | 'gateways' | 'roundPeriodMs' | 'batchSize'
  > {
  readonly pool: PoolParameters;
  /** k: clients, all sending at λ from start to end. */
  readonly clients: number;
  /** λ: packets per second per client, real or cover. */
  readonly clientSendRate: number;
  readonly trials: number;
  /** Messages per trial, queued at once. */
  readonly burst: number;
  readonly spacingMs: number;
  /**
   * When a recipient sends its read: on its next Poisson tick, as the SDK's constant-rate carrier does
   * (default), or `at-once`, outside the schedule, as a client without constant-rate sending would.
   */
  readonly reads?: 'on-tick' | 'at-once';
}

export interface BurstExperimentResult {
  readonly report: BurstReport;
  /** Real messages queued and delivered. */
  readonly queued: number;
  readonly delivered: number;
  /** The recipients' read requests that reached the service (one per delivered message). */
  readonly reads: number;
  /** From queueing to delivery, ms. */
  readonly latency: { readonly p50: number; readonly p99: number };
  /**
   * The event-loop delay, p99 in ms, of this process (the network) or the observer's tap process, whichever
   * is later: above ~100 ms the machine starved the run and its timestamps blurred.
   */
  readonly eventLoopDelayP99Ms: number;
}

export async function runBurstExperiment(options: BurstExperimentOptions): Promise<BurstExperimentResult> {
  const observer = new GlobalObserver();
  const { roundPeriodMs, pool } = options;
  const network = await LocalMixnet.start({ ...options, mixing: 'rounds', observer });
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let stopped = false;
  try {
    const clients = await network.addClients(options.clients, options.clientSendRate);
    // The service the messages and the reads go to: a recipient reads each message it is delivered.
    const service = randomBytes(clients[0]?.id.length ?? 32);
    const byId = new Map(clients.map((client) => [toHex(client.id), client]));
    network.onDelivery((delivery) => {
      const { kind, message } = readPayload(delivery.payload);
      const reader = kind === KIND_CODE.real ? byId.get(delivery.recipient) : undefined;
      if (options.reads === 'at-once') reader?.sendNow(message, service);
      else reader?.enqueue(message, service, 'read');
    });
    loopDelay.enable();
    // Let every link come up and the pools fill before the first trial.
    await sleep(Math.max(1_000, 5 * roundPeriodMs));
    const trials: { sender: string; numbers: number[] }[] = [];
    const queuedAt = new Map<number, number>();
    let queued = 0;
    for (let trial = 0; trial < options.trials; trial++) {
      const sender = clients[randomInt(clients.length)];
      const others = clients.filter((client) => client !== sender);
      const recipient = others[randomInt(others.length)];
      if (!sender || !recipient) throw new Error('a trial needs two clients');
      const numbers: number[] = [];
      for (let i = 0; i < options.burst; i++) {
        sender.enqueue(++queued, recipient.id);
        queuedAt.set(queued, Date.now());
        numbers.push(queued);
      }
      trials.push({ sender: sender.label, numbers });
      await sleep(options.spacingMs);
    }
    const ofKind = (code: number) =>
      network.delivered.filter((delivery) => readPayload(delivery.payload).kind === code);
    // Each message, then its read: two trips through the layers.
    const deadline = Date.now() + 4 * pool.maxStayRounds * roundPeriodMs * (options.layers + 1) + 10_000;
    while (
      (ofKind(KIND_CODE.real).length < queued || ofKind(KIND_CODE.read).length < queued) &&
      Date.now() < deadline
    ) {
      await sleep(50);
    }
    loopDelay.disable();
    stopped = true;
    await network.stop();

    const packets = observer.packets(network.geometry.packetLength);
    const byNumber = new Map<number, Message>();
    const senders = new Map(
      network.sent.filter((sent) => sent.kind === 'real').map((sent) => [sent.message, sent]),
    );
    for (const delivery of network.delivered) {
      const { kind, message: number } = readPayload(delivery.payload);
      const sent = senders.get(number);
      if (kind !== KIND_CODE.real || !sent || byNumber.has(number)) continue;
      byNumber.set(number, {
        sender: sent.client,
        recipient: delivery.recipient,
        exit: delivery.exit,
        sentAt: sent.at,
        deliveredAt: delivery.at,
      });
    }
    const bursts: Burst[] = trials.flatMap(({ sender, numbers }) => {
      const messages = numbers.flatMap((number) => byNumber.get(number) ?? []);
      const recipient = byId.get(messages[0]?.recipient ?? '')?.label;
      return recipient === undefined ? [] : [{ sender, recipient, messages }];
    });
    // Every read goes to the service, as every real message does: what arrived there, in the attacker's eyes.
    const reads = ofKind(KIND_CODE.read);
    const arrivals: Arrival[] = [...ofKind(KIND_CODE.real), ...reads].map((delivery) => ({
      exit: delivery.exit,
      at: delivery.at,
    }));
    const connectionStarts = new Map<string, number>();
    for (const record of observer.records) {
      if (record.from.startsWith('client') && !connectionStarts.has(record.from)) {
        connectionStarts.set(record.from, record.at);
      }
    }
    // The ground truth of how long a read takes after its message, which an adversary learns by sending
    // messages to a client of its own and timing its reads.
    const readDelays = reads.flatMap((delivery) => {
      const deliveredAt = byNumber.get(readPayload(delivery.payload).message)?.deliveredAt;
      return deliveredAt === undefined ? [] : [delivery.at - deliveredAt];
    });
    const latencies = [...byNumber]
      .map(([number, message]) => message.deliveredAt - (queuedAt.get(number) as number))
      .sort((a, b) => a - b);
    const report = burstAttack(
      { packets, bursts, arrivals, connectionStarts },
      {
        roundPeriodMs,
        hops: options.layers + 1,
        isClient: (name) => name.startsWith('client'),
        forwards: (from, to) => to.startsWith('mix') || from.startsWith('client'),
        discipline: { roundPeriodMs, ...pool, isMix: (name) => name.startsWith('mix') },
        clients: options.clients,
        shiftMs: options.spacingMs / 2,
        readDelays,
      },
    );
    return {
      report,
      queued,
      delivered: byNumber.size,
      reads: reads.length,
      latency: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) },
      eventLoopDelayP99Ms: Math.max(loopDelay.percentile(99) / 1e6, observer.eventLoopDelayP99Ms),
    };
  } finally {
    loopDelay.disable();
    if (!stopped) await network.stop();
  }
}
