/**
 * One hop's core, what a mix node and a gateway each compose with their own scheduler (docs/mixnode.md,
 * "Pipeline"; Katzenpost's server: ingress → crypto workers → scheduler → egress). It holds what a hop keeps
 * in its data directory — its TLS identity (`tls/`), its epoch keys (`sphinx-keys/`) and its replay filter
 * (`replay.sqlite`) — its crypto engine and the key rotation feeding it, the link listener whose frames go
 * through the unwrap stage to the hop's `onBatch`, and the egress links. The hop decides what an outcome
 * becomes (replay admission, queueing, delivery) and when anything leaves; it calls `replay.commit()` before
 * it hands a batch to `egress`.
 */
import { join } from 'node:path';
import { nodeBackend } from '../crypto/backends/node.ts';
import { ArgumentError, MixnetError } from '../errors.ts';
import { type LinkDelay, type LinkEvent, LinkServer, TlsIdentity } from '../links/index.ts';
import { type Clock, systemClock } from '../ops/clock.ts';
import { type Geometry, NODE_ID_LENGTH } from '../sphinx/index.ts';
import { type CryptoEngine, cryptoEngine } from './crypto-engine.ts';
import { Egress, type LinkStatus } from './egress.ts';
import { EpochKeyStore } from './epoch-keys.ts';
import { KeyRotation } from './key-rotation.ts';
import { logLinkEvent } from './link-log.ts';
import { ReplayFilter } from './replay-filter.ts';
import type { EpochClock, Logger, NodeAddress, Topology } from './types.ts';
import { type UnwrapBatch, UnwrapStage } from './unwrap-stage.ts';

export interface HopOptions {
  /** The hop's 32-byte Sphinx node id, as the network document names it. */
  readonly id: Uint8Array;
  readonly geometry: Geometry;
  /** Holds the TLS identity, the epoch keys and the replay filter (and whatever the hop keeps beside them). */
  readonly dataDir: string;
  readonly topology: Topology;
  readonly epochs: EpochClock;
  /** How long after its epoch ends a key still opens packets (those in flight at the change). */
  readonly graceMs: number;
  readonly logger: Logger;
  /** Crypto worker threads; 0 unwraps on the main thread. Default: one per core. */
  readonly workers?: number;
  /** Simulated latency on every outgoing link (tests and drills). */
  readonly linkDelay?: LinkDelay;
  /**
   * Time for the hop and the role composed on it (arrival times, rounds, ticks, timers). Default
   * `systemClock`; tests pass a virtual one. Which epoch it is comes from `epochs`.
   */
  readonly clock?: Clock;
}

/** What the hop composed on this core does with what arrives. */
export interface HopPipeline<Context> {
  /** Where the link listener binds (port 0 picks one). */
  readonly listen: NodeAddress;
  /** What a packet read from a link carries through the unwrap stage. */
  readonly linkContext: Context;
  /** Called for every frame read from a link (for counting). */
  readonly onLinkFrame: () => void;
  /** Each unwrapped batch, in arrival order. */
  readonly onBatch: (batch: UnwrapBatch<Context>) => void;
  /** The engine failed a whole batch of `count` packets. */
  readonly onFailure: (error: unknown, count: number) => void;
  /** An egress link dropped `frames` (down for longer than its queue could hold). */
  readonly onLinkDropped: (frames: number) => void;
  /** Packets in the engine at which the link listener pauses (it resumes at half). */
  readonly maxInFlight: number;
}

export class Hop<Context> {
  readonly replay: ReplayFilter;
  readonly engine: CryptoEngine;
  readonly rotation: KeyRotation;
  readonly egress: Egress;
  /** `options.clock` or the system clock: what the hop and the role composed on it read time from. */
  readonly clock: Clock;
  readonly #options: HopOptions;
  readonly #identity: TlsIdentity;
  readonly #keys: EpochKeyStore;
  #pipeline: HopPipeline<Context> | undefined;
  #stage: UnwrapStage<Context> | undefined;
  #server: LinkServer | undefined;
  #unlistening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    options: HopOptions,
    parts: { identity: TlsIdentity; keys: EpochKeyStore; replay: ReplayFilter; engine: CryptoEngine },
  ) {
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.#identity = parts.identity;
    this.#keys = parts.keys;
    this.replay = parts.replay;
    this.engine = parts.engine;
    this.rotation = new KeyRotation({
      keys: parts.keys,
      replay: parts.replay,
      epochs: options.epochs,
      graceMs: options.graceMs,
      engine: parts.engine,
      logger: options.logger,
    });
    this.egress = new Egress({
      identity: parts.identity,
      frameLength: options.geometry.packetLength,
      preamble: options.geometry.hash(),
      observer: (event) => this.#onLinkEvent('egress', event),
      clock: this.clock,
      ...(options.linkDelay === undefined ? {} : { delay: options.linkDelay }),
    });
  }

  /** Checks the options and opens the stores of `dataDir` and the crypto engine; nothing listens yet. */
  static async open<Context>(options: HopOptions): Promise<Hop<Context>> {
    const { id, geometry, dataDir, graceMs, workers } = options;
    if (!(id instanceof Uint8Array) || id.length !== NODE_ID_LENGTH) {
      throw new ArgumentError('id', `expected ${NODE_ID_LENGTH} bytes`);
    }
    if (!Number.isSafeInteger(graceMs) || graceMs < 0) {
      throw new ArgumentError('graceMs', 'expected an integer ≥ 0');
    }
    if (workers !== undefined && !(Number.isSafeInteger(workers) && workers >= 0)) {
      throw new ArgumentError('workers', 'expected an integer ≥ 0');
    }
    const identity = await TlsIdentity.loadOrCreate(join(dataDir, 'tls'));
    const keys = await EpochKeyStore.open(join(dataDir, 'sphinx-keys'), geometry, nodeBackend);
    const replay = ReplayFilter.open(join(dataDir, 'replay.sqlite'));
    return new Hop(options, { identity, keys, replay, engine: cryptoEngine(geometry, workers) });
  }

  /** Rotates the keys a first time, then listens for links; their frames go through `pipeline`. */
  async start(pipeline: HopPipeline<Context>): Promise<void> {
    const { geometry, topology } = this.#options;
    this.#pipeline = pipeline;
    this.#stage = new UnwrapStage({
      engine: this.engine,
      rotation: this.rotation,
      clock: this.clock,
      onBatch: pipeline.onBatch,
      onFailure: pipeline.onFailure,
      maxInFlight: pipeline.maxInFlight,
      pause: () => this.#server?.pause(),
      resume: () => this.#server?.resume(),
    });
    await this.rotation.start();
    this.#server = await LinkServer.listen({
      identity: this.#identity,
      host: pipeline.listen.host,
      port: pipeline.listen.port,
      frameLength: geometry.packetLength,
      preamble: geometry.hash(),
      authorize: (fingerprint) => topology.isAllowedSender(fingerprint),
      onFrame: (frame) => {
        pipeline.onLinkFrame();
        this.push(frame, pipeline.linkContext);
      },
      observer: (event) => this.#onLinkEvent('ingress', event),
    });
  }

  /** Queues a packet from elsewhere than a link (a client, a SURB reply to itself) for unwrapping. */
  push(packet: Uint8Array, context: Context): void {
    if (!this.#stage) throw new MixnetError('closed', 'the hop has not started');
    this.#stage.push(packet, context);
  }

  /** Where the link listener is, once it listens. */
  get listening(): NodeAddress | undefined {
    return this.#server?.address;
  }

  /** SHA-256 of the hop's TLS certificate, for the network document. */
  get tlsFingerprint(): Uint8Array {
    return this.#identity.fingerprint;
  }

  /** The Sphinx public keys held (the current epoch's and the next's, at least), oldest first. */
  publicKeys(): { epoch: number; publicKey: Uint8Array }[] {
    return this.#keys.publicKeys();
  }

  /**
   * The Sphinx public key of `epoch`, generated and stored first if there is none yet: a hop registering
   * for the next epoch during this one must announce the key of the epoch after that as its `next` key.
   */
  async publicKeyFor(epoch: number): Promise<Uint8Array> {
    return (await this.#keys.ensure(epoch)).publicKey;
  }

  /** Its egress links: how many are open, how many connected (for /ready). */
  get links(): LinkStatus {
    return this.egress.status;
  }

  /** Throws when the replay filter's file does not answer (for /ready). */
  checkStore(): void {
    this.replay.check();
  }

  /** Stops reading links (a graceful stop's first step). */
  stopListening(): Promise<void> {
    this.#unlistening ??= this.#server?.close() ?? Promise.resolve();
    return this.#unlistening;
  }

  /** Unwraps what is queued and waits until every batch has reached the hop. */
  async drain(): Promise<void> {
    await this.#stage?.drain();
  }

  /** Waits for a key rotation in progress, then closes the listener, the filter, the egress and the engine. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.stopListening();
      await this.rotation.settled();
      this.replay.close();
      await this.egress.close();
      await this.engine.close();
    })();
    return this.#closing;
  }

  #onLinkEvent(side: 'ingress' | 'egress', event: LinkEvent): void {
    logLinkEvent(this.#options.logger, side, event);
    if (event.type === 'dropped') this.#pipeline?.onLinkDropped(event.frames);
  }
}
