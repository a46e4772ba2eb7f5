/**
 * The variable-length integer of QUIC (RFC 9000 §16) as restricted by MLS (RFC 9420 §2.1.2): the top two
 * bits of the first byte give the length (00 → 1 byte, 01 → 2, 10 → 4), the rest is the value, big-endian.
 * MLS forbids the 8-byte form (prefix 11), which caps values at 2^30 − 1, and requires the shortest form,
 * so every value has exactly one encoding. The writer and the reader share these bounds from here.
 */

/** Largest value a varint carries: 30 bits. */
export const VARINT_MAX = 0x3fffffff;

/** Smallest value that needs the 2-byte form and the 4-byte form; anything below is non-minimal there. */
export const VARINT_MIN_TWO_BYTES = 0x40;
export const VARINT_MIN_FOUR_BYTES = 0x4000;

/** Bytes the minimal encoding of `value` (already known to be in range) takes. */
export function varintSize(value: number): 1 | 2 | 4 {
  if (value < VARINT_MIN_TWO_BYTES) return 1;
  if (value < VARINT_MIN_FOUR_BYTES) return 2;
  return 4;
}
