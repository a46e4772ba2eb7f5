/**
 * Time as every timed part of umbra takes it, injected rather than read from globals (issue 13): the mix
 * node's rounds, the hop's unwrap stage, directory session and links (src/links), the gateway's downstream
 * ticks and timers, and the SDK's mixnet carrier. Production uses `systemClock` (`Date.now`,
 * `performance.now` and the platform timers); tests pass a virtual clock (test/support/virtual-clock.ts)
 * that moves only when the test says, so the round rules are checked round by round without wall time.
 * Browser-safe: no Node module, so the SDK imports it too.
 */

/** What a clock's `setTimeout` may be asked for beyond the delay. */
export interface TimerOptions {
  /** The timer does not keep a Node process alive (background housekeeping); ignored where it means nothing. */
  readonly unref?: boolean;
}

export interface Clock {
  /** Milliseconds since the Unix epoch: rounds end on its multiples, node delays and epochs count in it. */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that a wall-clock step (NTP) never moves: for rates and
   * durations (the gateway's downstream ticks, token buckets, how long a call took).
   */
  monotonic(): number;
  /** Calls `callback` once, `delayMs` from now; returns the handle `clearTimeout` takes. */
  setTimeout(callback: () => void, delayMs: number, options?: TimerOptions): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (callback, delayMs, options) => {
    const timer = setTimeout(callback, delayMs);
    // A number in browsers, an object with unref() in Node.
    if (options?.unref === true && typeof timer === 'object') timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Resolves `delayMs` from now on `clock`. */
export function sleep(clock: Clock, delayMs: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, Math.max(0, delayMs)));
}
