/**
 * A mix node: round-based batch mixing of Sphinx packets, as cMix (Chaum et al., ACNS 2017) mixes and the
 * design brief (§2) describes, composed of the hop layer (src/hop) and a round scheduler. The pipeline is
 * ingress (TLS links from the previous layer or the gateways) → crypto engine (worker threads, one per
 * core; src/hop's unwrap stage) → round queue → egress (links to the next hops). Every
 * `roundPeriodMs`, on wall-clock boundaries, a round draws its real packets from the pool of queued packets whose
 * sender's node delay has passed: each independently with probability p (CSPRNG), and any that has waited
 * `maxStayRounds` rounds for sure (a binomial pool mix with a cap on the stay, docs/mixnode.md "The pool"), so
 * the round a packet leaves in is not a function of when it arrived. It sends as many whole batches of
 * `batchSize` as the draw holds, up to `maxBatchesPerRound`; with fewer than one batch it sends them all and
 * fills the batch to exactly `batchSize` with the node's own dummy packets — real Sphinx packets over one
 * random node of each later layer to an exit, which drops them.
 * It shuffles the round with a CSPRNG and sends it all at once. Overflow waits for later rounds; a round
 * that cannot be filled (no dummy route in the document) is held, never sent short. On the wire a node
 * therefore emits a whole number of batches per round, at least one, whatever its traffic. Sending more
 * than one batch is what lets later layers drain: every packet a node sends, dummies included, crosses
 * them, so a later-layer node receives B per round on average — all it could send if rounds were capped at
 * one batch (docs/mixnode.md "Round size").
 *
 * Time comes from the injected `clock` (src/ops/clock.ts; the system clock by default) and the pool's draws
 * from the injected `randomBytes` (the CSPRNG by default), so tests run the rounds in virtual time with
 * seeded draws (test/mixnode/rounds.test.ts).
 *
 * Each packet's replay tag is checked and recorded per key epoch in a persistent filter that is committed
 * before the round leaves. Keys rotate with the directory's epochs: the current epoch's key is tried first,
 * then, during the grace period, the previous one's; afterwards that key is shredded and its tags dropped.
 * `stop()` closes the ingress, finishes the unwrapping in progress and the current round, and saves any
 * packets still queued, which the next `start()` on the same data directory sends.
 */

import { join } from 'node:path';
import { toHex } from '../bytes.ts';
import { nodeBackend } from '../crypto/backends/node.ts';
import { randomInt } from '../crypto/random.ts';
import { DirectoryStore } from '../crypto/vault/directory-store.ts';
import { ArgumentError, CodecError, MixnetError } from '../errors.ts';
import type { LinkStatus, Outgoing } from '../hop/egress.ts';
import { Hop, type HopOptions } from '../hop/hop.ts';
import type { NodeAddress } from '../hop/types.ts';
import { buildDummy, type UnwrapOutcome } from '../hop/unwrap.ts';
import { DEFAULT_MAX_IN_FLIGHT } from '../hop/unwrap-stage.ts';
import { type Clock, sleep } from '../ops/clock.ts';
import { type PathHop, Sphinx } from '../sphinx/index.ts';
import type { DropReason, Metrics } from './metrics.ts';
import {
  decodeSavedQueue,
  encodeSavedQueue,
  type PoolRule,
  type QueuedPacket,
  RoundQueue,
  roundSize,
} from './round-queue.ts';
import { shuffle } from './shuffle.ts';

export interface RoundParameters {
  /** Length of a round; rounds end on multiples of it in the clock's Unix time. */
  readonly roundPeriodMs: number;
  /** B: every round sends a whole number of batches of exactly this many packets, at least one. */
  readonly batchSize: number;
}

/**
 * The hop's options (id, geometry, data directory — which also holds the queue saved at shutdown —,
 * topology, epoch clock: which epoch it is; the clock the rounds follow; grace period, logger, workers, link
 * delay) and the mix node's own.
 */
export interface MixNodeOptions extends HopOptions {
  /** Where the ingress listens (port 0 picks one). */
  readonly listen: NodeAddress;
  readonly metrics: Metrics;
  readonly round: RoundParameters;
  /** Longest node delay a sender may ask for; packets asking for more are dropped. Default 60 s. */
  readonly maxDelayMs?: number;
  /** Bound of the round queue. Default 16 batches' worth. */
  readonly maxQueuedPackets?: number;
  /**
   * Most batches one round sends when the queue holds more than one batch of real packets. Default 2:
   * twice the nominal load of a later-layer node, so its backlogs drain.
   */
  readonly maxBatchesPerRound?: number;
  /** The pool's draw. Default `DEFAULT_POOL`. */
  readonly pool?: PoolParameters;
  /** Where the pool's draws come from. Default the CSPRNG; tests seed it. */
  readonly randomBytes?: (length: number) => Uint8Array;
}

/** How a round draws from the pool (docs/mixnode.md "The pool"). */
export interface PoolParameters {
  /** p, in (0, 1]: the chance that a round picks an eligible packet; 1 is no pool (everything eligible goes). */
  readonly leaveProbability: number;
  /** R: a packet still queued in the R-th round after it became eligible is picked for sure. */
  readonly maxStayRounds: number;
}

/**
 * p = 1/2, R = 10: a packet stays on average 1/p = 2 rounds from the first round it may leave in (half a
 * round more from its arrival), the pool holds about two rounds' worth of arrivals, and the cap picks
 * (1 − p)^(R − 1) ≈ 0.2 % of packets by age rather than at random (docs/mixnode.md "The pool").
 */
export const DEFAULT_POOL: PoolParameters = { leaveProbability: 0.5, maxStayRounds: 10 };

/** What one round sent. */
export interface RoundReport {
  readonly round: number;
  readonly real: number;
  readonly dummies: number;
  /** Packets left in the queue for later rounds. */
  readonly queued: number;
}

const SAVED_QUEUE = 'queue.bin';
const DEFAULT_MAX_DELAY_MS = 60_000;
const DEFAULT_MAX_BATCHES_PER_ROUND = 2;

function assertInteger(argument: string, value: number, minimum = 1): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new ArgumentError(argument, `expected an integer ≥ ${minimum}`);
  }
}

export class MixNode {
  readonly #options: MixNodeOptions;
  readonly #hop: Hop<undefined>;
  readonly #sphinx: Sphinx;
  readonly #queue: RoundQueue;
  readonly #clock: Clock;
  readonly #queueStore: DirectoryStore;
  readonly #maxDelayMs: number;
  readonly #maxQueued: number;
  readonly #maxBatches: number;
  readonly #pool: PoolRule;
  readonly #listeners = new Set<(report: RoundReport) => void>();
  #round = 0;
  #timer: unknown;
  #nextRoundAt = 0;
  #reserve: { epoch: number; dummies: Outgoing[] } = { epoch: -1, dummies: [] };
  #refilling: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(options: MixNodeOptions, hop: Hop<undefined>) {
    this.#options = options;
    this.#hop = hop;
    this.#sphinx = new Sphinx(options.geometry, nodeBackend);
    this.#queue = new RoundQueue(options.randomBytes);
    this.#clock = hop.clock;
    this.#queueStore = new DirectoryStore(join(options.dataDir, 'queue'));
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#maxQueued = options.maxQueuedPackets ?? 16 * options.round.batchSize;
    this.#maxBatches = options.maxBatchesPerRound ?? DEFAULT_MAX_BATCHES_PER_ROUND;
    const pool = options.pool ?? DEFAULT_POOL;
    this.#pool = {
      leaveProbability: pool.leaveProbability,
      maxStayMs: (pool.maxStayRounds - 1) * options.round.roundPeriodMs,
    };
  }

  static async start(options: MixNodeOptions): Promise<MixNode> {
    const { round, maxDelayMs, maxQueuedPackets, maxBatchesPerRound, pool, metrics, logger } = options;
    assertInteger('round.roundPeriodMs', round.roundPeriodMs);
    assertInteger('round.batchSize', round.batchSize);
    if (maxDelayMs !== undefined) assertInteger('maxDelayMs', maxDelayMs, 0);
    if (maxQueuedPackets !== undefined) assertInteger('maxQueuedPackets', maxQueuedPackets, round.batchSize);
    if (maxBatchesPerRound !== undefined) assertInteger('maxBatchesPerRound', maxBatchesPerRound);
    if (pool !== undefined) {
      if (!(pool.leaveProbability > 0 && pool.leaveProbability <= 1)) {
        throw new ArgumentError('pool.leaveProbability', 'expected a probability in (0, 1]');
      }
      assertInteger('pool.maxStayRounds', pool.maxStayRounds);
    }

    const hop = await Hop.open<undefined>(options);
    const node = new MixNode(options, hop);
    try {
      await node.#loadSavedQueue();
      await hop.start({
        listen: options.listen,
        linkContext: undefined,
        onLinkFrame: () => metrics.increment('mix_packets_in_total'),
        onBatch: ({ outcomes, receivedAt, seconds }) => {
          metrics.observe('mix_unwrap_duration_seconds', seconds);
          for (const { outcome } of outcomes) node.#admit(outcome, receivedAt);
        },
        onFailure: (error, count) => {
          node.#drop('internal_error', count);
          logger.error('unwrapping failed', { message: String(error), packets: count });
        },
        onLinkDropped: (frames) => node.#drop('link_queue_full', frames),
        maxInFlight: Math.max(DEFAULT_MAX_IN_FLIGHT, 2 * round.batchSize),
      });
    } catch (error) {
      await hop.close();
      throw error;
    }
    node.#scheduleRound();
    logger.info('mix node started', {
      address: `${node.address.host}:${node.address.port}`,
      tlsFingerprint: toHex(hop.tlsFingerprint),
      epoch: hop.rotation.epoch,
      workers: hop.engine.threads,
    });
    return node;
  }

  get address(): NodeAddress {
    const address = this.#hop.listening;
    if (!address) throw new MixnetError('closed', 'the node is not listening');
    return address;
  }

  /** SHA-256 of the node's TLS certificate, for the network document. */
  get tlsFingerprint(): Uint8Array {
    return this.#hop.tlsFingerprint;
  }

  /** The Sphinx public keys this node holds (the current epoch's and the next's, at least), for the directory. */
  publicKeys(): { epoch: number; publicKey: Uint8Array }[] {
    return this.#hop.publicKeys();
  }

  /**
   * The Sphinx public key of `epoch`, generated and stored first if there is none yet: a node registering
   * for the next epoch during this one must announce the key of the epoch after that as its `next` key.
   */
  async publicKeyFor(epoch: number): Promise<Uint8Array> {
    return this.#hop.publicKeyFor(epoch);
  }

  /** The epochs whose keys unwrap packets now, newest first. */
  get liveEpochs(): readonly number[] {
    return this.#hop.rotation.liveEpochs;
  }

  /** Its egress links to the next hops: how many are open, how many connected (for /ready). */
  get links(): LinkStatus {
    return this.#hop.links;
  }

  /** Throws when the replay filter's file does not answer (for /ready). */
  checkStore(): void {
    this.#hop.checkStore();
  }

  get queueDepth(): number {
    return this.#queue.depth;
  }

  /** Calls `listener` after every round sent; returns the function that unsubscribes it. */
  onRound(listener: (report: RoundReport) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Graceful shutdown: stops accepting packets, finishes unwrapping what arrived, sends the round in progress
   * at its scheduled end, saves what is still queued for the next start, and closes everything.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    const { logger } = this.#options;
    this.#clock.clearTimeout(this.#timer);
    await this.#hop.stopListening();
    await this.#hop.drain();
    await sleep(this.#clock, this.#nextRoundAt - this.#clock.now());
    this.#runRound();
    const left = this.#queue.drain();
    if (left.length > 0) {
      await this.#queueStore.writeNew(SAVED_QUEUE, encodeSavedQueue(this.#options.geometry, left));
    }
    await this.#refilling;
    await this.#hop.close();
    logger.info('mix node stopped', { rounds: this.#round, saved: left.length });
  }

  // Ingress.

  #admit(outcome: UnwrapOutcome, receivedAt: number): void {
    const { metrics, topology, logger } = this.#options;
    switch (outcome.kind) {
      case 'mac_failure':
        metrics.increment('mix_mac_failures_total');
        return;
      case 'malformed':
        this.#drop('malformed');
        return;
      case 'final':
      case 'reply':
        this.#drop('not_forward');
        return;
      case 'failed':
        this.#drop('internal_error');
        logger.error('unwrapping failed', { message: outcome.message });
        return;
      case 'forward':
        break;
    }
    if (!this.#hop.replay.admit(outcome.epoch, outcome.replayTag)) {
      metrics.increment('mix_replays_total');
      return;
    }
    if (outcome.delay > this.#maxDelayMs) {
      this.#drop('delay_too_long');
    } else if (!topology.peer(outcome.nextHop)) {
      this.#drop('unknown_next_hop');
    } else if (this.#queue.depth >= this.#maxQueued) {
      this.#drop('queue_full');
    } else {
      const { packet, nextHop, delay } = outcome;
      this.#queue.push({ packet, nextHop, eligibleAt: receivedAt + delay });
    }
    metrics.setGauge('mix_queue_depth', this.#queue.depth);
  }

  #drop(reason: DropReason, count = 1): void {
    this.#options.metrics.increment('mix_dropped_total', count, { reason });
  }

  // Rounds.

  #scheduleRound(): void {
    const { roundPeriodMs } = this.#options.round;
    const now = this.#clock.now();
    this.#nextRoundAt = (Math.floor(now / roundPeriodMs) + 1) * roundPeriodMs;
    this.#timer = this.#clock.setTimeout(() => {
      this.#runRound();
      this.#scheduleRound();
    }, this.#nextRoundAt - now);
  }

  #runRound(): void {
    const { metrics, topology, logger, round } = this.#options;
    const started = this.#clock.monotonic();
    this.#hop.rotation.follow();
    const { batchSize } = round;
    const taken: QueuedPacket[] = [];
    const real: Outgoing[] = [];
    for (const item of this.#queue.draw(this.#clock.now(), this.#pool)) {
      const peer = topology.peer(item.nextHop);
      if (!peer) {
        this.#drop('unknown_next_hop');
        continue;
      }
      taken.push(item);
      real.push({ packet: item.packet, nextHop: item.nextHop, peer });
    }
    const size = roundSize(real.length, batchSize, this.#maxBatches);
    // Drawn packets beyond the last whole batch go back to the pool (the draw put the longest-waiting first).
    if (real.length > size) {
      this.#queue.restore(taken.splice(size));
      real.splice(size);
    }
    const dummies = this.#takeDummies(size - real.length);
    if (!dummies) {
      this.#queue.restore(taken);
      metrics.increment('mix_rounds_held_total');
      logger.warn('round held: no route for dummies in the network document', {
        epoch: this.#hop.rotation.epoch,
      });
      return;
    }
    // Tags must be durable before the outputs they protect exist anywhere but here.
    this.#hop.replay.commit();
    this.#hop.egress.send(shuffle([...real, ...dummies]));
    this.#round++;
    metrics.increment('mix_packets_out_total', size);
    metrics.increment('mix_dummies_total', dummies.length);
    metrics.setGauge('mix_queue_depth', this.#queue.depth);
    metrics.observe('mix_round_duration_seconds', (this.#clock.monotonic() - started) / 1000);
    metrics.observe('mix_round_fill_ratio', real.length / size);
    const report = {
      round: this.#round,
      real: real.length,
      dummies: dummies.length,
      queued: this.#queue.depth,
    };
    for (const listener of this.#listeners) listener(report);
    if (!this.#stopping) this.#refillDummies();
  }

  /** `count` dummies of the current epoch: from the reserve built in the background, the rest built now. */
  #takeDummies(count: number): Outgoing[] | undefined {
    const epoch = this.#hop.rotation.epoch;
    if (this.#reserve.epoch !== epoch) this.#reserve = { epoch, dummies: [] };
    const { topology } = this.#options;
    const taken: Outgoing[] = [];
    // A reserved dummy whose first hop left the document is discarded.
    for (const dummy of this.#reserve.dummies.splice(0, count)) {
      const peer = topology.peer(dummy.nextHop);
      if (peer) taken.push({ ...dummy, peer });
    }
    while (taken.length < count) {
      const route = this.#dummyRoute();
      if (!route) return undefined;
      taken.push(route.complete(buildDummy(this.#sphinx, route.hops)));
    }
    return taken;
  }

  /** Builds the next round's dummies off the main thread while the node waits for it. */
  #refillDummies(): void {
    const { batchSize } = this.#options.round;
    const reserve = this.#reserve;
    if (this.#refilling || reserve.dummies.length >= batchSize) return;
    const routes: DummyRoute[] = [];
    for (let i = reserve.dummies.length; i < batchSize; i++) {
      const route = this.#dummyRoute();
      if (!route) return;
      routes.push(route);
    }
    this.#refilling = this.#hop.engine
      .buildDummies(routes.map((route) => route.hops))
      .then(
        (packets) => {
          if (this.#reserve === reserve) {
            reserve.dummies.push(...packets.map((packet, i) => (routes[i] as DummyRoute).complete(packet)));
          }
        },
        (error: unknown) => this.#options.logger.error('building dummies failed', { message: String(error) }),
      )
      .finally(() => {
        this.#refilling = undefined;
      });
  }

  /** One node of each later layer and an exit, uniformly at random; undefined if some position has none. */
  #dummyRoute(): DummyRoute | undefined {
    const { topology } = this.#options;
    const positions = topology.hopsAfter(this.#hop.rotation.epoch);
    const hops: PathHop[] = [];
    for (const candidates of positions) {
      if (candidates.length === 0) return undefined;
      const node = candidates[randomInt(candidates.length)];
      if (!node) return undefined;
      hops.push({ id: node.id, publicKey: node.sphinxPublicKey });
    }
    const first = hops[0];
    const peer = first && topology.peer(first.id);
    if (!first || !peer) return undefined;
    return { hops, complete: (packet) => ({ packet, nextHop: first.id, peer }) };
  }

  async #loadSavedQueue(): Promise<void> {
    const { logger, geometry } = this.#options;
    const bytes = await this.#queueStore.read(SAVED_QUEUE);
    if (!bytes) return;
    let saved: QueuedPacket[] | undefined;
    try {
      saved = decodeSavedQueue(geometry, bytes);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
    }
    for (const item of saved ?? []) this.#queue.push(item);
    await this.#queueStore.remove(SAVED_QUEUE);
    if (saved) logger.info('saved queue restored', { packets: saved.length });
    else logger.warn('saved queue discarded: unreadable or of another geometry');
  }
}

interface DummyRoute {
  readonly hops: readonly PathHop[];
  readonly complete: (packet: Uint8Array) => Outgoing;
}
