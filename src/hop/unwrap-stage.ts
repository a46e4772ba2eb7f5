/**
 * The ingress side of a hop's pipeline, between its listeners and its scheduler (the Katzenpost server's
 * ingress → crypto workers stage): packets read in one turn of the event loop are unwrapped as one batch by
 * the crypto engine, after the epoch-key window has followed the clock, and the outcomes go to the hop in
 * the order the packets came, each with what the hop attached to it (where it came from). Too many packets
 * in the engine pause the hop's listener until half have come back. Replay admission and what follows are
 * the hop's own: a mix node queues for its rounds, a gateway forwards, stores or answers.
 */
import type { Clock } from '../ops/clock.ts';
import type { CryptoEngine } from './crypto-engine.ts';
import type { KeyRotation } from './key-rotation.ts';
import type { UnwrapOutcome } from './unwrap.ts';

/** Packets in the engine at which a hop's listener pauses, at least (a mix node allows two rounds' worth). */
export const DEFAULT_MAX_IN_FLIGHT = 256;

export interface UnwrapBatch<Context> {
  readonly outcomes: readonly { readonly outcome: UnwrapOutcome; readonly context: Context }[];
  /** The clock's Unix milliseconds when the batch went to the engine (node delays count from it). */
  readonly receivedAt: number;
  /** Time in the engine, its queue included. */
  readonly seconds: number;
}

export interface UnwrapStageOptions<Context> {
  readonly engine: CryptoEngine;
  readonly rotation: Pick<KeyRotation, 'follow'>;
  /** What `receivedAt` and the time in the engine are read from (the hop's clock). */
  readonly clock: Clock;
  /** Each batch's outcomes, in arrival order. */
  readonly onBatch: (batch: UnwrapBatch<Context>) => void;
  /** The engine failed a whole batch of `count` packets (a bug or resource exhaustion). */
  readonly onFailure: (error: unknown, count: number) => void;
  /** Packets in the engine at which `pause` is called; `resume` follows at half. */
  readonly maxInFlight: number;
  readonly pause?: () => void;
  readonly resume?: () => void;
}

export class UnwrapStage<Context> {
  readonly #options: UnwrapStageOptions<Context>;
  readonly #unwrapping = new Set<Promise<void>>();
  #packets: Uint8Array[] = [];
  #contexts: Context[] = [];
  #flush: NodeJS.Immediate | undefined;
  #inFlight = 0;

  constructor(options: UnwrapStageOptions<Context>) {
    this.#options = options;
  }

  /** Queues `packet` (the engine takes ownership of its buffer) for this turn's batch. */
  push(packet: Uint8Array, context: Context): void {
    this.#packets.push(packet);
    this.#contexts.push(context);
    this.#flush ??= setImmediate(() => this.flush());
  }

  /** Sends what is queued to the engine now. */
  flush(): void {
    clearImmediate(this.#flush);
    this.#flush = undefined;
    const packets = this.#packets;
    const contexts = this.#contexts;
    if (packets.length === 0) return;
    this.#packets = [];
    this.#contexts = [];
    const { engine, rotation, clock, onBatch, onFailure, maxInFlight, pause, resume } = this.#options;
    rotation.follow();
    const receivedAt = clock.now();
    const started = clock.monotonic();
    this.#inFlight += packets.length;
    if (this.#inFlight >= maxInFlight) pause?.();
    const task = engine
      .unwrap(packets)
      .then(
        (outcomes) => {
          const seconds = (clock.monotonic() - started) / 1000;
          onBatch({
            outcomes: outcomes.map((outcome, i) => ({ outcome, context: contexts[i] as Context })),
            receivedAt,
            seconds,
          });
        },
        (error: unknown) => onFailure(error, packets.length),
      )
      .finally(() => {
        this.#unwrapping.delete(task);
        this.#inFlight -= packets.length;
        if (this.#inFlight < maxInFlight / 2) resume?.();
      });
    this.#unwrapping.add(task);
  }

  /** Flushes, then waits until every batch has been handed to the hop (at shutdown). */
  async drain(): Promise<void> {
    this.flush();
    while (this.#unwrapping.size > 0) await Promise.all(this.#unwrapping);
  }
}
