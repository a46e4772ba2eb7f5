/**
 * The mixnet client's sending clock: a Poisson process of rate λ (the network document's `clientSendRate`),
 * as Loopix (Piotrowska et al., USENIX Security 2017, §4.1) prescribes for clients. Inter-tick gaps are drawn
 * from the exponential distribution with mean 1/λ; on every tick the carrier sends exactly one packet, real
 * or cover, so what leaves the client is the same memoryless stream whether its user types or not.
 *
 * Time and randomness are injected (the `Clock` of src/ops/clock.ts, which the servers take too; `random`)
 * so that tests drive the process in virtual time and check its distribution statistically; production uses
 * the system timers and the CSPRNG (an observer who could predict the gaps could tell a late real packet from
 * cover).
 */
import { randomBytes } from '../../crypto/random.ts';
import { ArgumentError } from '../../errors.ts';
import { type Clock, systemClock } from '../../ops/clock.ts';

/** A uniform double in [0, 1) with 53 random bits from the platform CSPRNG. */
export function secureRandom(): number {
  const bytes = randomBytes(8);
  const view = new DataView(bytes.buffer);
  const high = view.getUint32(0) >>> 11;
  const low = view.getUint32(4);
  return (high * 2 ** 32 + low) / 2 ** 53;
}

/** One exponential gap, in milliseconds, of a Poisson process with `ratePerSecond` events per second. */
export function exponentialGapMs(ratePerSecond: number, random: () => number): number {
  // 1 − u lies in (0, 1], so the logarithm is finite.
  return (-Math.log(1 - random()) / ratePerSecond) * 1000;
}

/**
 * When the process falls more than this many mean gaps behind its own schedule (a suspended laptop, a
 * throttled background tab, a slow phone whose packets take longer to build than the gaps between them), it
 * restarts from now instead of catching up. A catch-up would be a burst, which cover traffic must never show,
 * and on a starved device a chain of back-to-back ticks that leaves no turn for reading what the gateway
 * sends. Timer latency on a healthy device is a few milliseconds, far inside two gaps.
 */
const MAX_LAG_GAPS = 2;

export interface PoissonSchedulerOptions {
  /** λ in packets per second; must be positive. */
  readonly ratePerSecond: number;
  readonly onTick: () => void;
  /** Default `systemClock`. */
  readonly clock?: Clock;
  /** Uniform in [0, 1); default `secureRandom`. */
  readonly random?: () => number;
}

function checkRate(rate: number): void {
  if (!Number.isFinite(rate) || rate <= 0) throw new ArgumentError('ratePerSecond', 'expected a rate > 0');
}

export class PoissonScheduler {
  readonly #onTick: () => void;
  readonly #clock: Clock;
  readonly #random: () => number;
  #rate: number;
  #timer: unknown;
  #scheduledAt = 0;
  #running = false;

  constructor(options: PoissonSchedulerOptions) {
    checkRate(options.ratePerSecond);
    this.#rate = options.ratePerSecond;
    this.#onTick = options.onTick;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? secureRandom;
  }

  get running(): boolean {
    return this.#running;
  }

  get ratePerSecond(): number {
    return this.#rate;
  }

  /** A new rate applies from the next gap drawn (a new network document may change λ). */
  setRate(ratePerSecond: number): void {
    checkRate(ratePerSecond);
    this.#rate = ratePerSecond;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#scheduledAt = this.#clock.now();
    this.#scheduleNext();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #scheduleNext(): void {
    const now = this.#clock.now();
    // Gaps are added to the previous tick's scheduled time, not to when its callback ran, so timer latency
    // does not lower the rate; a large lag resets the schedule instead (see MAX_LAG_GAPS).
    if (now - this.#scheduledAt > (MAX_LAG_GAPS * 1000) / this.#rate) this.#scheduledAt = now;
    this.#scheduledAt += exponentialGapMs(this.#rate, this.#random);
    this.#timer = this.#clock.setTimeout(() => this.#tick(), Math.max(0, this.#scheduledAt - now));
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    this.#scheduleNext();
    this.#onTick();
  }
}
