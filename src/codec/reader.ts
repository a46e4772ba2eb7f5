/**
 * The decoding half of the codec kit: a cursor over untrusted bytes with big-endian integer readers, the MLS
 * varint (RFC 9420 §2.1.2, see varint.ts) and varint-length-prefixed vectors. Whatever the input bytes, it
 * throws `CodecError` and nothing else: 'truncated' when the bytes run out, 'too_long' when a declared length
 * exceeds the caller's maximum (checked before anything is copied), 'invalid_value' for a non-minimal or
 * 8-byte varint, 'trailing_bytes' from `end()`. Only a bad length or maximum from the calling code is an
 * `ArgumentError`.
 *
 * Byte fields come back as copies, never views of the input, so a caller may reuse or wipe its receive
 * buffer after decoding. The cursor itself works on views: `lengthPrefixed` hands out a bounded sub-reader
 * without copying.
 */
import { assertBytes } from '../bytes.ts';
import { ArgumentError, CodecError } from '../errors.ts';
import { VARINT_MAX, VARINT_MIN_FOUR_BYTES, VARINT_MIN_TWO_BYTES } from './varint.ts';

/** Lengths and maxima come from the caller's code, never from the input: a bad one is a bug. */
function assertLength(argument: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new ArgumentError(argument, 'must be a non-negative integer');
}

export class Reader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    assertBytes('bytes', bytes);
    this.#bytes = bytes;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  u8(): number {
    this.#need(1);
    return this.#next();
  }

  u16(): number {
    this.#need(2);
    return (this.#next() << 8) | this.#next();
  }

  u32(): number {
    this.#need(4);
    return this.#u32();
  }

  u64(): bigint {
    this.#need(8);
    const high = this.#u32();
    return (BigInt(high) << 32n) | BigInt(this.#u32());
  }

  varint(): number {
    this.#need(1);
    const first = this.#bytes[this.#offset] as number;
    const prefix = first >> 6;
    if (prefix === 3) throw new CodecError('invalid_value', 'varint uses the 8-byte form, which MLS forbids');
    if (prefix === 0) {
      this.#offset++;
      return first;
    }
    if (prefix === 1) {
      this.#need(2);
      const value = ((this.#next() & 0x3f) << 8) | this.#next();
      if (value < VARINT_MIN_TWO_BYTES)
        throw new CodecError('invalid_value', 'varint is not minimally encoded');
      return value;
    }
    this.#need(4);
    const value = this.#u32() & VARINT_MAX;
    if (value < VARINT_MIN_FOUR_BYTES)
      throw new CodecError('invalid_value', 'varint is not minimally encoded');
    return value;
  }

  /** The next `length` bytes, copied. */
  fixed(length: number): Uint8Array {
    assertLength('length', length);
    this.#need(length);
    const out = this.#bytes.slice(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  /** A varint length of at most `maxLength`, then that many bytes, copied (MLS `opaque<V>`). */
  vector(maxLength: number): Uint8Array {
    return this.fixed(this.#declaredLength(maxLength));
  }

  /**
   * A varint length of at most `maxLength`, then a reader over exactly that many bytes (a view, not a copy);
   * this reader moves past them. For vectors of structures.
   */
  lengthPrefixed(maxLength: number): Reader {
    const length = this.#declaredLength(maxLength);
    const region = new Reader(this.#bytes.subarray(this.#offset, this.#offset + length));
    this.#offset += length;
    return region;
  }

  /** Throws 'trailing_bytes' unless everything has been read. */
  end(): void {
    if (this.remaining !== 0) {
      throw new CodecError('trailing_bytes', `${this.remaining} bytes left after the end of the value`);
    }
  }

  #declaredLength(maxLength: number): number {
    assertLength('maxLength', maxLength);
    const length = this.varint();
    if (length > maxLength) {
      throw new CodecError('too_long', `declared length ${length} exceeds the maximum of ${maxLength}`);
    }
    this.#need(length);
    return length;
  }

  #need(length: number): void {
    if (length > this.remaining) {
      throw new CodecError('truncated', `needed ${length} bytes, ${this.remaining} left`);
    }
  }

  #next(): number {
    return this.#bytes[this.#offset++] as number;
  }

  #u32(): number {
    return ((this.#next() << 24) | (this.#next() << 16) | (this.#next() << 8) | this.#next()) >>> 0;
  }
}
