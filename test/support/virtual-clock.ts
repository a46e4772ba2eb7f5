/**
 * Virtual time for tests (src/ops/clock.ts `Clock`): timers fire only when the test advances time, in time
 * order, so the carrier's Poisson process and the servers' rounds, ticks and epochs run without wall time.
 * Wall and monotonic time are the same virtual milliseconds.
 */
import type { EpochClock } from '../../src/hop/types.ts';
import type { Clock } from '../../src/ops/clock.ts';

interface Timer {
  readonly at: number;
  readonly callback: () => void;
}

/** Timers that fire only when the test advances time, in time order (equal times in the order set). */
export class VirtualClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, delayMs), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Epochs of `lengthMs` from the Unix epoch, in this clock's time. */
  epochs(lengthMs: number): EpochClock {
    return {
      now: () => this.#now,
      epochAt: (time) => Math.floor(time / lengthMs),
      startOf: (epoch) => epoch * lengthMs,
    };
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time on without firing anything (a suspended machine), then fires what is overdue. */
  jump(ms: number): void {
    this.#now += ms;
    this.advance(0);
  }

  /** Runs every timer due up to now + `ms`, earliest first (timers they set included). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const entry of this.#timers) if (!next || entry[1].at < next[1].at) next = entry;
      if (!next || next[1].at > end) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].callback();
    }
    this.#now = end;
  }
}
