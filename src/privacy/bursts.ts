/**
 * The burst experiment of issue 18 on the local network (local-mixnet.ts, real `MixNode`s, every link
 * tapped by the observer's own process): k clients at a constant Poisson rate; every `spacingMs` a trial,
 * a random sender queueing a burst of messages for a random other client; then the burst attackers
 * (attacker.ts `burstAttack`) on what the observer recorded — the hop-by-hop tracer simulating the mixes'
 * queue discipline and intersecting over the burst, its null control at shifted times, and the
 * connection-lifetime attacker. Used by test/privacy/bursts.test.ts and bench/privacy.ts; docs/privacy.md.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomInt } from '../crypto/random.ts';
import type { PoolParameters } from '../mixnode/index.ts';
import { type Burst, type BurstReport, burstAttack, type Message, quantile } from './attacker.ts';
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
  readonly rate: number;
  readonly trials: number;
  /** Messages per trial, queued at once. */
  readonly burst: number;
  readonly spacingMs: number;
}

export interface BurstExperimentResult {
  readonly report: BurstReport;
  /** Real messages queued and delivered. */
  readonly queued: number;
  readonly delivered: number;
  /** From queueing to delivery, ms. */
  readonly latency: { readonly p50: number; readonly p99: number };
  /** This process's event-loop delay, p99 in ms: above ~100 ms the machine starved the run. */
  readonly eventLoopDelayP99Ms: number;
}

export async function runBurstExperiment(options: BurstExperimentOptions): Promise<BurstExperimentResult> {
  const observer = new GlobalObserver();
  const { roundPeriodMs, pool } = options;
  const network = await LocalMixnet.start({ ...options, mixing: 'rounds', observer });
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let stopped = false;
  try {
    const clients = await network.addClients(options.clients, options.rate);
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
    const real = () =>
      network.delivered.filter((delivery) => readPayload(delivery.payload).kind === KIND_CODE.real).length;
    const deadline = Date.now() + 2 * pool.maxStayRounds * roundPeriodMs * (options.layers + 1) + 5_000;
    while (real() < queued && Date.now() < deadline) await sleep(50);
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
      return messages.length > 0 ? [{ sender, messages }] : [];
    });
    const connectionStarts = new Map<string, number>();
    for (const record of observer.records) {
      if (record.from.startsWith('client') && !connectionStarts.has(record.from)) {
        connectionStarts.set(record.from, record.at);
      }
    }
    const report = burstAttack(packets, bursts, connectionStarts, {
      roundMs: roundPeriodMs,
      hops: options.layers + 1,
      isClient: (name) => name.startsWith('client'),
      forwards: (from, to) => to.startsWith('mix') || from.startsWith('client'),
      discipline: { periodMs: roundPeriodMs, ...pool, isMix: (name) => name.startsWith('mix') },
      clients: options.clients,
      shiftMs: options.spacingMs / 2,
    });
    const latencies = [...byNumber]
      .map(([number, message]) => message.deliveredAt - (queuedAt.get(number) as number))
      .sort((a, b) => a - b);
    return {
      report,
      queued,
      delivered: byNumber.size,
      latency: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) },
      eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    };
  } finally {
    loopDelay.disable();
    if (!stopped) await network.stop();
  }
}
