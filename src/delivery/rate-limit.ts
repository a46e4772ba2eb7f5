/**
 * Token buckets for the delivery service's registration limits (docs/delivery.md, "Limits"; issue 12): a
 * bucket holds up to `burst` tokens and gains one every `refillMs`; an action takes one token or is refused
 * with the time until one is there. Time comes from an injected clock (the service's), so tests move it by
 * hand. `takeAll` takes from several buckets at once (a connection's, a peer's, the global one) or from none;
 * `KeyedBuckets` keeps one bucket per key (a peer address) in a map of bounded size.
 *
 * Buckets hold only numbers and their keys are never logged.
 */
import { ArgumentError } from '../errors.ts';
import type { Clock } from './store/index.ts';

/** The shape of one bucket: `burst` actions at once, then one per `refillMs`. */
export interface BucketRate {
  readonly burst: number;
  readonly refillMs: number;
}

export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/** Throws `ArgumentError` unless `rate` has an integer burst and refill interval of at least 1. */
export function assertBucketRate(argument: string, rate: BucketRate): void {
  if (!Number.isSafeInteger(rate.burst) || rate.burst < 1)
    throw new ArgumentError(`${argument}.burst`, 'expected an integer >= 1');
  if (!Number.isSafeInteger(rate.refillMs) || rate.refillMs < 1)
    throw new ArgumentError(`${argument}.refillMs`, 'expected an integer >= 1');
}

export class TokenBucket {
  readonly rate: BucketRate;
  readonly #clock: Clock;
  #tokens: number;
  #updatedAt: number;

  constructor(rate: BucketRate, clock: Clock, argument = 'rate') {
    assertBucketRate(argument, rate);
    this.rate = rate;
    this.#clock = clock;
    this.#tokens = rate.burst;
    this.#updatedAt = clock();
  }

  /** Whole and fractional tokens available now. */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** True when the bucket is full, so forgetting it changes nothing. */
  get full(): boolean {
    return this.tokens >= this.rate.burst;
  }

  /** Milliseconds until a token is available (0 if one is). */
  waitMs(): number {
    const missing = 1 - this.tokens;
    return missing <= 0 ? 0 : Math.ceil(missing * this.rate.refillMs);
  }

  take(): TakeResult {
    const wait = this.waitMs();
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    this.#tokens -= 1;
    return { ok: true };
  }

  /** Gives back a token taken for an action that turned out to cost nothing. */
  refund(): void {
    this.#refill();
    this.#tokens = Math.min(this.rate.burst, this.#tokens + 1);
  }

  #refill(): void {
    const now = this.#clock();
    // A clock that steps back adds nothing (and does not take time away either).
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.rate.burst, this.#tokens + elapsed / this.rate.refillMs);
    this.#updatedAt = now;
  }
}

/**
 * Takes one token from every bucket, or from none: when any refuses, the tokens taken are given back and
 * the answer is the longest wait among those that refused.
 */
export function takeAll(buckets: readonly TokenBucket[]): TakeResult {
  const waits = buckets.map((bucket) => bucket.waitMs());
  const retryAfterMs = Math.max(0, ...waits);
  if (retryAfterMs > 0) return { ok: false, retryAfterMs };
  for (const bucket of buckets) bucket.take();
  return { ok: true };
}

/**
 * One bucket per key, at most `maxKeys` of them: when a new key arrives at a full map, buckets that are full
 * again are forgotten (they hold no state); if none is, the new key shares one overflow bucket, so a flood
 * of keys costs bounded memory and gains no fresh tokens.
 */
export class KeyedBuckets {
  readonly #rate: BucketRate;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, TokenBucket>();
  #overflow: TokenBucket | undefined;

  constructor(rate: BucketRate, clock: Clock, maxKeys: number, argument = 'rate') {
    assertBucketRate(argument, rate);
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1)
      throw new ArgumentError('maxKeys', 'expected an integer >= 1');
    this.#rate = rate;
    this.#clock = clock;
    this.#maxKeys = maxKeys;
  }

  get size(): number {
    return this.#buckets.size;
  }

  get(key: string): TokenBucket {
    const known = this.#buckets.get(key);
    if (known !== undefined) return known;
    if (this.#buckets.size >= this.#maxKeys) {
      for (const [other, bucket] of this.#buckets) if (bucket.full) this.#buckets.delete(other);
    }
    if (this.#buckets.size >= this.#maxKeys) {
      this.#overflow ??= new TokenBucket(this.#rate, this.#clock);
      return this.#overflow;
    }
    const bucket = new TokenBucket(this.#rate, this.#clock);
    this.#buckets.set(key, bucket);
    return bucket;
  }
}

/** The registration limits of the delivery service; docs/delivery.md gives the reasons for the defaults. */
export interface RegistrationLimits {
  /** Each direct-carrier WebSocket connection. */
  readonly perConnection: BucketRate;
  /** Each HTTP peer (remote address), i.e. each mixnet exit gateway, shared by every client behind it. */
  readonly perPeer: BucketRate;
  /** The whole service instance. */
  readonly global: BucketRate;
}

const MINUTE = 60_000;

export const DEFAULT_REGISTRATION_LIMITS: RegistrationLimits = {
  perConnection: { burst: 10, refillMs: MINUTE },
  perPeer: { burst: 60, refillMs: 5_000 },
  global: { burst: 120, refillMs: 1_000 },
};
