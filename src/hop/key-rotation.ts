/**
 * The epoch-key window and its rotation, written once for every hop (docs/mixnode.md, "Epochs and keys"):
 * a hop unwraps with the current epoch's key and, during the grace period after a change, the previous
 * epoch's (packets built just before the change are still in flight); it holds the next epoch's key ahead
 * for the directory; and once an epoch leaves the window its key is shredded and its replay tags dropped,
 * which is what gives the mixnet forward secrecy at epoch granularity.
 *
 * `follow()` is cheap and synchronous, so a hop calls it before every batch it unwraps (and on its own
 * ticks): the new epoch's key was made an epoch ahead, so the switch to it is immediate — no packet built
 * for the new epoch meets the old window — and storing the next key and shredding old ones follow
 * asynchronously. The keys reach the crypto engine only when the window changes.
 */
import type { CryptoEngine } from './crypto-engine.ts';
import type { EpochKey, EpochKeyStore } from './epoch-keys.ts';
import type { ReplayFilter } from './replay-filter.ts';
import type { EpochClock, Logger } from './types.ts';

/**
 * The current epoch and the epochs whose keys should unwrap now, newest first: the previous epoch's key too
 * during the grace period after a change.
 */
export function keyWindow(epochs: EpochClock, graceMs: number): { epoch: number; live: number[] } {
  const now = epochs.now();
  const epoch = epochs.epochAt(now);
  const inGrace = epoch > 0 && now < epochs.startOf(epoch) + graceMs;
  return { epoch, live: inGrace ? [epoch, epoch - 1] : [epoch] };
}

export interface KeyRotationOptions {
  readonly keys: EpochKeyStore;
  /** Forgets the tags of every epoch whose key is shredded. */
  readonly replay: Pick<ReplayFilter, 'forgetBefore'>;
  readonly epochs: EpochClock;
  /** How long after its epoch ends a key still opens packets. */
  readonly graceMs: number;
  /** Unwraps with the live keys, newest first. */
  readonly engine: Pick<CryptoEngine, 'setKeys'>;
  readonly logger: Logger;
}

export class KeyRotation {
  readonly #options: KeyRotationOptions;
  /** The epochs whose keys the engine holds, newest first. */
  #installed: readonly number[] = [];
  #epoch = -1;
  #liveEpochs: readonly number[] = [];
  #refreshing: Promise<void> | undefined;

  constructor(options: KeyRotationOptions) {
    this.#options = options;
  }

  /** The epoch of the last completed rotation (whose key and the next one's are stored). */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * The epochs whose keys unwrap packets, newest first, as of the last completed rotation: published only
   * after expired keys are shredded, so whoever sees the new window also sees them gone.
   */
  get liveEpochs(): readonly number[] {
    return this.#liveEpochs;
  }

  /** The first rotation, when the hop starts: its failure is the start's. */
  start(): Promise<void> {
    return this.#rotate();
  }

  /** Switches the engine's keys at once when the window has moved, and starts a rotation in the background. */
  follow(): void {
    const { epoch, live } = keyWindow(this.#options.epochs, this.#options.graceMs);
    const possible = live.filter((candidate) => candidate === epoch || this.#options.keys.get(candidate));
    if (epoch === this.#epoch && possible.join() === this.#installed.join()) return;
    const ready = this.#window(live);
    if (ready.some((key) => key.epoch === epoch)) this.#install(ready);
    if (this.#refreshing) return;
    this.#refreshing = this.#rotate()
      .catch((error: unknown) =>
        this.#options.logger.error('key rotation failed', { message: String(error) }),
      )
      .finally(() => {
        this.#refreshing = undefined;
      });
  }

  /** Waits for a rotation in progress (before the hop closes its stores). */
  async settled(): Promise<void> {
    await this.#refreshing;
  }

  async #rotate(): Promise<void> {
    const { keys, replay, epochs, graceMs, logger } = this.#options;
    const { epoch, live } = keyWindow(epochs, graceMs);
    await keys.ensure(epoch);
    await keys.ensure(epoch + 1);
    const window = this.#window(live);
    // The engine gets the new window before expired keys are shredded, so no unwrap uses a wiped key.
    this.#install(window);
    const changed = epoch !== this.#epoch;
    this.#epoch = epoch;
    const liveEpochs = window.map((key) => key.epoch);
    const oldest = Math.min(...liveEpochs);
    await keys.destroyBefore(oldest);
    replay.forgetBefore(oldest);
    this.#liveEpochs = liveEpochs;
    if (changed) logger.info('epoch keys', { epoch, live: liveEpochs.join(',') });
  }

  /** The keys held for `live`, newest first. */
  #window(live: readonly number[]): EpochKey[] {
    return live.flatMap((candidate): EpochKey[] => {
      const pair = this.#options.keys.get(candidate);
      return pair ? [{ epoch: candidate, secretKey: pair.secretKey }] : [];
    });
  }

  #install(window: readonly EpochKey[]): void {
    const epochs = window.map((key) => key.epoch);
    if (epochs.join() === this.#installed.join()) return;
    this.#options.engine.setKeys(window);
    this.#installed = epochs;
  }
}
