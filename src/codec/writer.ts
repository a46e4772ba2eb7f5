/**
 * The encoding half of the codec kit: a growable byte buffer with big-endian integer writers, the MLS
 * varint (RFC 9420 §2.1.2, see varint.ts) and varint-length-prefixed vectors. Values the decoder would
 * refuse (out of range, too long) are refused here with `ArgumentError`: producing them is the caller's bug,
 * not hostile input, and refusing them keeps every encoding decodable. Encoded structures often hold
 * plaintext or keys about to be encrypted, so the writer wipes every scratch buffer it lets go of.
 */
import { wipe } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { VARINT_MAX, varintSize } from './varint.ts';

const INITIAL_CAPACITY = 64;
const U64_MAX = (1n << 64n) - 1n;

function assertInteger(kind: string, value: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new ArgumentError('value', `${kind} must be an integer from 0 to ${max}`);
  }
}

/**
 * After an encoder throws, what the writer holds is unspecified: discard it with `clear()` (the top-level
 * `encode` does).
 */

export class Writer {
  #buffer: Uint8Array;
  #length = 0;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    if (!Number.isSafeInteger(initialCapacity) || initialCapacity < 1) {
      throw new ArgumentError('initialCapacity', 'must be a positive integer');
    }
    this.#buffer = new Uint8Array(initialCapacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  u8(value: number): void {
    assertInteger('u8', value, 0xff);
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  u16(value: number): void {
    assertInteger('u16', value, 0xffff);
    this.#reserve(2);
    this.#putU16(value);
  }

  u32(value: number): void {
    assertInteger('u32', value, 0xffffffff);
    this.#reserve(4);
    this.#putU32(value);
  }

  u64(value: bigint): void {
    if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
      throw new ArgumentError('value', 'u64 must be a bigint from 0 to 2^64 - 1');
    }
    this.#reserve(8);
    this.#putU32(Number(value >> 32n));
    this.#putU32(Number(value & 0xffffffffn));
  }

  /** The minimal MLS varint: 1, 2 or 4 bytes for values up to 2^30 − 1. */
  varint(value: number): void {
    assertInteger('varint', value, VARINT_MAX);
    const size = varintSize(value);
    this.#reserve(size);
    if (size === 1) this.#buffer[this.#length++] = value;
    else if (size === 2) this.#putU16(0x4000 | value);
    else this.#putU32(0x80000000 + value);
  }

  /** The bytes as they are, with no length: for fixed-size fields. */
  bytes(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new ArgumentError('value', 'expected a Uint8Array');
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** A varint byte length, then the bytes (MLS `opaque<V>`). */
  vector(bytes: Uint8Array, maxLength = VARINT_MAX): void {
    if (!(bytes instanceof Uint8Array)) throw new ArgumentError('value', 'expected a Uint8Array');
    if (bytes.length > maxLength) {
      throw new ArgumentError('value', `${bytes.length} bytes exceed the maximum of ${maxLength}`);
    }
    this.varint(bytes.length);
    this.bytes(bytes);
  }

  /**
   * Runs `body`, then puts the varint byte length of what it wrote in front of it (MLS vectors of
   * structures). The length is only known afterwards and its varint is 1 to 4 bytes, so the body is written
   * first and shifted right in place: no second buffer.
   */
  lengthPrefixed(maxLength: number, body: () => void): void {
    const start = this.#length;
    body();
    const length = this.#length - start;
    if (length > maxLength) {
      throw new ArgumentError('value', `${length} encoded bytes exceed the maximum of ${maxLength}`);
    }
    const prefix = varintSize(length);
    this.#reserve(prefix);
    this.#buffer.copyWithin(start + prefix, start, start + length);
    this.#length = start;
    this.varint(length);
    this.#length += length;
  }

  /** Returns a copy of everything written, exactly sized, and empties (and wipes) the writer for reuse. */
  finish(): Uint8Array {
    const out = this.#buffer.slice(0, this.#length);
    this.clear();
    return out;
  }

  /** Wipes and empties the writer. */
  clear(): void {
    wipe(this.#buffer.subarray(0, this.#length));
    this.#length = 0;
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#length));
    wipe(this.#buffer);
    this.#buffer = grown;
  }

  #putU16(value: number): void {
    this.#buffer[this.#length++] = value >>> 8;
    this.#buffer[this.#length++] = value & 0xff;
  }

  #putU32(value: number): void {
    this.#buffer[this.#length++] = value >>> 24;
    this.#buffer[this.#length++] = (value >>> 16) & 0xff;
    this.#buffer[this.#length++] = (value >>> 8) & 0xff;
    this.#buffer[this.#length++] = value & 0xff;
  }
}
