/**
 * The delivery service's memory of its recent answers to signed requests (docs/delivery.md, "Signed
 * requests"). A client that hears nothing back sends the very same request again — the mixnet carrier
 * retransmits after a timeout — and the nonce it carries was spent by the first copy, so without this memory
 * the retransmission would be refused as a replay (`bad_request`) although the first copy succeeded and only
 * its answer was lost. With it, a copy byte-for-byte equal to a request answered (or still being answered)
 * within its freshness window gets the first answer again, and nothing is done twice: tokens are not issued
 * against the budget twice, consumed KeyPackages are not published again. A different request reusing a
 * nonce is not a copy and is still refused by the nonce check.
 *
 * Bounded: at most `capacity` answers, each kept until its request could no longer be fresh; the oldest goes
 * first when full. Only requests whose signature verified enter, so strangers cannot fill it; an answer
 * forgotten early (evicted, another instance, a restart) makes a copy `bad_request` again, as before.
 */
import { constantTimeEqual, toHex } from '../crypto/index.ts';
import { ArgumentError } from '../errors.ts';

/** How many answers the service remembers at most (a few megabytes of issued tokens at the worst). */
export const SIGNED_ANSWER_CAPACITY = 4096;

interface Remembered<Answer> {
  /** A digest of the whole request: only an identical copy is answered from memory. */
  readonly digest: Uint8Array;
  readonly expiresAt: number;
  readonly answer: Promise<Answer>;
}

export class SignedAnswers<Answer> {
  readonly #entries = new Map<string, Remembered<Answer>>();
  readonly #clock: () => number;
  readonly #capacity: number;

  constructor(clock: () => number, capacity: number = SIGNED_ANSWER_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new ArgumentError('capacity', 'expected a positive integer');
    }
    this.#clock = clock;
    this.#capacity = capacity;
  }

  /**
   * The answer to the request with `nonce` and `digest`: the remembered one when an identical copy was seen
   * and is still fresh, else `answer()`'s, remembered until `expiresAt` once it settles without throwing.
   * A request that reuses a remembered nonce with another digest is answered by `answer()` too (and refused
   * there by the nonce check) without replacing what is remembered.
   */
  answer(
    nonce: Uint8Array,
    digest: Uint8Array,
    expiresAt: number,
    answer: () => Promise<Answer>,
  ): Promise<Answer> {
    const key = toHex(nonce);
    const now = this.#clock();
    this.#forgetExpired(now);
    let remembered = this.#entries.get(key);
    if (remembered !== undefined && remembered.expiresAt <= now) {
      this.#entries.delete(key);
      remembered = undefined;
    }
    if (remembered !== undefined && constantTimeEqual(remembered.digest, digest)) return remembered.answer;
    const pending = answer();
    if (remembered !== undefined || expiresAt <= now) return pending;
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { digest, expiresAt, answer: pending });
    // A request that failed inside the service is not an answer: its copy may try again (and meet the nonce).
    pending.catch(() => {
      if (this.#entries.get(key)?.answer === pending) this.#entries.delete(key);
    });
    return pending;
  }

  /** How many answers are remembered now (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops answers past their expiry, oldest inserted first (insertion order is close to expiry order). */
  #forgetExpired(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}
