/**
 * Framing of a link's byte stream: a fixed-length preamble (the geometry hash, so that nodes configured with
 * different geometries refuse each other instead of dropping every packet), then fixed-length frames of
 * exactly one Sphinx packet each, back to back, with no length fields: every frame has the same size, so
 * there is nothing to parse and nothing an observer of record sizes could learn.
 */
import { ArgumentError } from '../errors.ts';

export class FrameReader {
  readonly #frameLength: number;
  #current: Uint8Array;
  #filled = 0;
  #seenPreamble: boolean;

  constructor(frameLength: number, preambleLength = 0) {
    for (const [argument, value, minimum] of [
      ['frameLength', frameLength, 1],
      ['preambleLength', preambleLength, 0],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < minimum) {
        throw new ArgumentError(argument, `expected an integer ≥ ${minimum}`);
      }
    }
    this.#frameLength = frameLength;
    this.#seenPreamble = preambleLength === 0;
    this.#current = new Uint8Array(this.#seenPreamble ? frameLength : preambleLength);
  }

  /**
   * Splits `chunk` into complete units (the preamble first, if any, then frames); the bytes of an incomplete
   * one wait for the next chunk. Each unit is a fresh array the callee may keep. Stops early when `onPreamble`
   * returns false (the connection is being refused).
   */
  push(
    chunk: Uint8Array,
    onFrame: (frame: Uint8Array) => void,
    onPreamble: (preamble: Uint8Array) => boolean = () => true,
  ): void {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.#current.length - this.#filled, chunk.length - offset);
      this.#current.set(chunk.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      offset += take;
      if (this.#filled < this.#current.length) return;
      const unit = this.#current;
      this.#current = new Uint8Array(this.#frameLength);
      this.#filled = 0;
      if (this.#seenPreamble) {
        onFrame(unit);
      } else {
        this.#seenPreamble = true;
        if (!onPreamble(unit)) return;
      }
    }
  }
}
