/**
 * AEZ v5 internals (Hoang, Krovetz, Rogaway, "AEZ v5: Authenticated Encryption by Enciphering", CAESAR round
 * 2): Extract (BLAKE2b-384 unless the key already has 48 bytes), the key schedule of tweak offsets, the tweakable
 * block cipher E^{j,i}, AEZ-hash, AEZ-prf and the two enciphering schemes, AEZ-tiny (1..31 bytes, a Feistel
 * network) and AEZ-core (32 bytes and more, two passes over 32-byte pairs). Every block is four big-endian
 * 32-bit words in an Int32Array. The scratch registers below are shared by all calls: each call is
 * synchronous, so no two calls interleave, and each wipes what it used before returning.
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { aes4, aes10, ROUND_KEY_I, ROUND_KEY_J, ROUND_KEY_L } from './aes-round.ts';

export const EXTRACTED_KEY_BYTES = 48;

// Word offsets of the blocks in a key schedule. I, J and L double as the round keys (see aes-round.ts).
const I1 = ROUND_KEY_I;
const J1 = ROUND_KEY_J;
const L1 = ROUND_KEY_L;
const I2 = 12;
const J2 = 16;
const J3 = 20;
const J4 = 24;
/** L_MULTIPLES + 4m holds m·L for m = 0..7: the (i mod 8)·L part of the offsets. */
const L_MULTIPLES = 28;
export const KEY_SCHEDULE_WORDS = L_MULTIPLES + 32;

function multipleOfL(m: number): number {
  return L_MULTIPLES + 4 * m;
}

// Registers: word offsets into `registers`.
const T = 0; // block cipher output
const DELTA = 4;
const INDEX_I = 8; // 2^ceil(i/8)·I while walking blocks i = 1, 2, ...
const OFFSET = 12; // j·J of the string being hashed
const FRAGMENT_U = 16;
const FRAGMENT_V = 20;
const BLOCK = 24;
const registers = new Int32Array(28);

/** Zeroes every register but Δ, which stays for the rest of the call. */
function clearWorkingRegisters(): void {
  registers.fill(0, T, DELTA);
  registers.fill(0, DELTA + 4);
}

const tinyLeft = new Uint8Array(16);
const tinyRight = new Uint8Array(16);
const tinyBlock = new Uint8Array(16);

function readWord(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] as number) << 24) |
    ((bytes[offset + 1] as number) << 16) |
    ((bytes[offset + 2] as number) << 8) |
    (bytes[offset + 3] as number)
  );
}

function writeWord(bytes: Uint8Array, offset: number, word: number): void {
  bytes[offset] = word >>> 24;
  bytes[offset + 1] = word >>> 16;
  bytes[offset + 2] = word >>> 8;
  bytes[offset + 3] = word;
}

/** Loads `length` (0..16) bytes as a block; a short block gets the 10* padding of the spec. */
function loadBlock(bytes: Uint8Array, offset: number, length: number, out: Int32Array, o: number): void {
  if (length === 16) {
    for (let q = 0; q < 4; q++) out[o + q] = readWord(bytes, offset + 4 * q);
    return;
  }
  out.fill(0, o, o + 4);
  for (let q = 0; q < length; q++) {
    out[o + (q >>> 2)] =
      (out[o + (q >>> 2)] as number) | ((bytes[offset + q] as number) << (24 - 8 * (q & 3)));
  }
  out[o + (length >>> 2)] = (out[o + (length >>> 2)] as number) | (0x80 << (24 - 8 * (length & 3)));
}

/** Keeps the first `length` (0..16) bytes of a block and, when short, replaces the rest by 10* padding. */
function truncateAndPad(block: Int32Array, o: number, length: number): void {
  if (length === 16) return;
  for (let q = 0; q < 4; q++) {
    const kept = length - 4 * q;
    if (kept <= 0) block[o + q] = 0;
    else if (kept < 4) block[o + q] = (block[o + q] as number) & ~((1 << (32 - 8 * kept)) - 1);
  }
  block[o + (length >>> 2)] = (block[o + (length >>> 2)] as number) | (0x80 << (24 - 8 * (length & 3)));
}

function storeBytes(block: Int32Array, o: number, bytes: Uint8Array, offset: number, length: number): void {
  for (let q = 0; q < length; q++) {
    bytes[offset + q] = (block[o + (q >>> 2)] as number) >>> (24 - 8 * (q & 3));
  }
}

/** Multiplication by x in GF(2^128) with the AEZ polynomial x^128 + x^7 + x^2 + x + 1, in place. */
function doubleBlock(block: Int32Array, o: number): void {
  const w0 = block[o] as number;
  const w1 = block[o + 1] as number;
  const w2 = block[o + 2] as number;
  const w3 = block[o + 3] as number;
  block[o] = (w0 << 1) | (w1 >>> 31);
  block[o + 1] = (w1 << 1) | (w2 >>> 31);
  block[o + 2] = (w2 << 1) | (w3 >>> 31);
  block[o + 3] = (w3 << 1) ^ ((w0 >> 31) & 0x87);
}

function copyBlock(from: Int32Array, fo: number, to: Int32Array, o: number): void {
  for (let q = 0; q < 4; q++) to[o + q] = from[fo + q] as number;
}

function xorBlockInto(target: Int32Array, o: number, source: Int32Array, so: number): void {
  for (let q = 0; q < 4; q++) target[o + q] = (target[o + q] as number) ^ (source[so + q] as number);
}

/** block·m in GF(2^128) for a small integer m (the j·J offsets of the associated data). */
function multiplyBlock(source: Int32Array, so: number, m: number, out: Int32Array, o: number): void {
  out.fill(0, o, o + 4);
  copyBlock(source, so, registers, BLOCK);
  for (let rest = m; rest > 0; rest >>>= 1) {
    if (rest & 1) xorBlockInto(out, o, registers, BLOCK);
    doubleBlock(registers, BLOCK);
  }
}

/** Extract: a 48-byte key is used as is, any other length is hashed with BLAKE2b-384. */
export function extract(key: Uint8Array): Uint8Array {
  return key.length === EXTRACTED_KEY_BYTES ? key.slice() : blake2b(key, { dkLen: EXTRACTED_KEY_BYTES });
}

/** Fills `schedule` (KEY_SCHEDULE_WORDS words) from a 48-byte extracted key (I || J || L). */
export function expandKey(extracted: Uint8Array, schedule: Int32Array): void {
  for (let q = 0; q < 12; q++) schedule[q] = readWord(extracted, 4 * q);
  copyBlock(schedule, I1, schedule, I2);
  doubleBlock(schedule, I2);
  copyBlock(schedule, J1, schedule, J2);
  doubleBlock(schedule, J2);
  copyBlock(schedule, J2, schedule, J3);
  xorBlockInto(schedule, J3, schedule, J1);
  copyBlock(schedule, J2, schedule, J4);
  doubleBlock(schedule, J4);
  schedule.fill(0, multipleOfL(0), multipleOfL(1));
  copyBlock(schedule, L1, schedule, multipleOfL(1));
  for (let m = 2; m < 8; m++) {
    // Even multiples double half of themselves; odd ones add L to the even one below.
    if (m % 2 === 0) {
      copyBlock(schedule, multipleOfL(m / 2), schedule, multipleOfL(m));
      doubleBlock(schedule, multipleOfL(m));
    } else {
      copyBlock(schedule, multipleOfL(m - 1), schedule, multipleOfL(m));
      xorBlockInto(schedule, multipleOfL(m), schedule, L1);
    }
  }
}

/** E^{0,i}(block) for i = 1..7: AES4 under the offset 2I ⊕ i·L. */
function encryptIndexed(
  k: Int32Array,
  i: number,
  block: Int32Array,
  bo: number,
  out: Int32Array,
  o: number,
): void {
  const l = multipleOfL(i);
  aes4(
    k,
    (block[bo] as number) ^ (k[I2] as number) ^ (k[l] as number),
    (block[bo + 1] as number) ^ (k[I2 + 1] as number) ^ (k[l + 1] as number),
    (block[bo + 2] as number) ^ (k[I2 + 2] as number) ^ (k[l + 2] as number),
    (block[bo + 3] as number) ^ (k[I2 + 3] as number) ^ (k[l + 3] as number),
    out,
    o,
  );
}

/** E^{-1,i}(block): AES10 under the offset i·L. */
function encryptWide(
  k: Int32Array,
  i: number,
  block: Int32Array,
  bo: number,
  out: Int32Array,
  o: number,
): void {
  const l = multipleOfL(i);
  aes10(
    k,
    (block[bo] as number) ^ (k[l] as number),
    (block[bo + 1] as number) ^ (k[l + 1] as number),
    (block[bo + 2] as number) ^ (k[l + 2] as number),
    (block[bo + 3] as number) ^ (k[l + 3] as number),
    out,
    o,
  );
}

/**
 * Adds E^{j,1}(S_1) ⊕ E^{j,2}(S_2) ⊕ ... of one string to `sum`, whose j·J offset is in registers[OFFSET]:
 * full blocks use the offsets 2^ceil(i/8)·I ⊕ (i mod 8)·L, a final partial or empty block uses E^{j,0}.
 */
function hashString(k: Int32Array, data: Uint8Array, sum: Int32Array, so: number): void {
  const r = registers;
  copyBlock(k, I2, r, INDEX_I);
  const fullBlocks = data.length >>> 4;
  for (let i = 1; i <= fullBlocks; i++) {
    const l = multipleOfL(i & 7);
    const offset = 16 * (i - 1);
    aes4(
      k,
      readWord(data, offset) ^ (r[OFFSET] as number) ^ (r[INDEX_I] as number) ^ (k[l] as number),
      readWord(data, offset + 4) ^
        (r[OFFSET + 1] as number) ^
        (r[INDEX_I + 1] as number) ^
        (k[l + 1] as number),
      readWord(data, offset + 8) ^
        (r[OFFSET + 2] as number) ^
        (r[INDEX_I + 2] as number) ^
        (k[l + 2] as number),
      readWord(data, offset + 12) ^
        (r[OFFSET + 3] as number) ^
        (r[INDEX_I + 3] as number) ^
        (k[l + 3] as number),
      r,
      T,
    );
    xorBlockInto(sum, so, r, T);
    if ((i & 7) === 0) doubleBlock(r, INDEX_I);
  }
  const rest = data.length & 15;
  if (rest > 0 || data.length === 0) {
    loadBlock(data, 16 * fullBlocks, rest, r, BLOCK);
    aes4(
      k,
      (r[BLOCK] as number) ^ (r[OFFSET] as number) ^ (k[I1] as number),
      (r[BLOCK + 1] as number) ^ (r[OFFSET + 1] as number) ^ (k[I1 + 1] as number),
      (r[BLOCK + 2] as number) ^ (r[OFFSET + 2] as number) ^ (k[I1 + 2] as number),
      (r[BLOCK + 3] as number) ^ (r[OFFSET + 3] as number) ^ (k[I1 + 3] as number),
      r,
      T,
    );
    xorBlockInto(sum, so, r, T);
  }
}

/**
 * AEZ-hash of the tweak ([tauBits]_128, nonce, associatedData...) into out[o..o+3]. The tag length enters as a
 * 128-bit number of bits, of which only the low 32 can be non-zero here.
 */
export function aezHash(
  k: Int32Array,
  tauBits: number,
  nonce: Uint8Array,
  associatedData: readonly Uint8Array[],
  out: Int32Array,
  o: number,
): void {
  const r = registers;
  const l = multipleOfL(1);
  aes4(
    k,
    (k[J3] as number) ^ (k[I2] as number) ^ (k[l] as number),
    (k[J3 + 1] as number) ^ (k[I2 + 1] as number) ^ (k[l + 1] as number),
    (k[J3 + 2] as number) ^ (k[I2 + 2] as number) ^ (k[l + 2] as number),
    (k[J3 + 3] as number) ^ (k[I2 + 3] as number) ^ (k[l + 3] as number) ^ tauBits,
    out,
    o,
  );
  copyBlock(k, J4, r, OFFSET);
  hashString(k, nonce, out, o);
  for (let index = 0; index < associatedData.length; index++) {
    multiplyBlock(k, J1, 5 + index, r, OFFSET);
    hashString(k, associatedData[index] as Uint8Array, out, o);
  }
  clearWorkingRegisters();
}

/** AEZ-prf: fills `out` with E^{-1,3}(Δ ⊕ [0]_128) || E^{-1,3}(Δ ⊕ [1]_128) || ... truncated. */
export function aezPrf(k: Int32Array, delta: Int32Array, deltaOffset: number, out: Uint8Array): void {
  const r = registers;
  const l = multipleOfL(3);
  for (let counter = 0, offset = 0; offset < out.length; counter++, offset += 16) {
    aes10(
      k,
      (delta[deltaOffset] as number) ^ (k[l] as number),
      (delta[deltaOffset + 1] as number) ^ (k[l + 1] as number),
      (delta[deltaOffset + 2] as number) ^ (k[l + 2] as number),
      (delta[deltaOffset + 3] as number) ^ (k[l + 3] as number) ^ counter,
      r,
      T,
    );
    storeBytes(r, T, out, offset, Math.min(16, out.length - offset));
  }
  clearWorkingRegisters();
}

/** The top bit AEZ-tiny adds to the first bit of short (< 16 bytes) messages, from E^{0,3} of the rest. */
function tinyFirstBitMask(k: Int32Array, bytes: Uint8Array): number {
  const r = registers;
  tinyBlock.fill(0);
  tinyBlock.set(bytes);
  tinyBlock[0] = (tinyBlock[0] as number) | 0x80;
  loadBlock(tinyBlock, 0, 16, r, BLOCK);
  xorBlockInto(r, BLOCK, r, DELTA);
  encryptIndexed(k, 3, r, BLOCK, r, T);
  return ((r[T] as number) >>> 24) & 0x80;
}

/**
 * One Feistel round of AEZ-tiny: the other half `target` (both halves hold 4n bits, left-aligned, zero
 * beyond) takes the XOR of E^{0,i}(source || 10* ⊕ Δ ⊕ [round]_128).
 */
function tinyRound(
  k: Int32Array,
  i: number,
  source: Uint8Array,
  target: Uint8Array,
  halfBytes: number,
  odd: boolean,
  round: number,
): void {
  const r = registers;
  const padAt = odd ? halfBytes - 1 : halfBytes;
  tinyBlock.set(source);
  tinyBlock[padAt] = (tinyBlock[padAt] as number) | (odd ? 0x08 : 0x80);
  loadBlock(tinyBlock, 0, 16, r, BLOCK);
  xorBlockInto(r, BLOCK, r, DELTA);
  r[BLOCK + 3] = (r[BLOCK + 3] as number) ^ round;
  encryptIndexed(k, i, r, BLOCK, r, T);
  for (let q = 0; q < halfBytes; q++) {
    target[q] = (target[q] as number) ^ ((r[T + (q >>> 2)] as number) >>> (24 - 8 * (q & 3)));
  }
  if (odd) target[halfBytes - 1] = (target[halfBytes - 1] as number) & 0xf0;
}

/** AEZ-tiny on 1..31 bytes in place; decipher runs the rounds backwards. Δ is in registers[DELTA]. */
function tiny(k: Int32Array, bytes: Uint8Array, decipher: boolean): void {
  const n = bytes.length;
  const rounds = n === 1 ? 24 : n === 2 ? 16 : n < 16 ? 10 : 8;
  const i = n < 16 ? 7 : 6;
  const half = n >>> 1;
  const odd = (n & 1) === 1;
  const halfBytes = odd ? half + 1 : half;

  if (decipher && n < 16) bytes[0] = (bytes[0] as number) ^ tinyFirstBitMask(k, bytes);
  tinyLeft.fill(0);
  tinyRight.fill(0);
  for (let q = 0; q < halfBytes; q++) tinyLeft[q] = bytes[q] as number;
  if (odd) {
    // The halves split the middle byte: the right half starts at its low nibble.
    tinyLeft[half] = (tinyLeft[half] as number) & 0xf0;
    for (let q = 0; q < half; q++) {
      tinyRight[q] = ((bytes[half + q] as number) << 4) | ((bytes[half + q + 1] as number) >>> 4);
    }
    tinyRight[half] = (bytes[n - 1] as number) << 4;
  } else {
    for (let q = 0; q < half; q++) tinyRight[q] = bytes[half + q] as number;
  }

  const step = decipher ? -1 : 1;
  for (let round = decipher ? rounds - 1 : 0, pair = 0; pair < rounds / 2; pair++, round += 2 * step) {
    tinyRound(k, i, tinyRight, tinyLeft, halfBytes, odd, round);
    tinyRound(k, i, tinyLeft, tinyRight, halfBytes, odd, round + step);
  }

  for (let q = 0; q < half; q++) bytes[q] = tinyRight[q] as number;
  if (odd) {
    bytes[half] = (tinyRight[half] as number) | ((tinyLeft[0] as number) >>> 4);
    for (let q = 0; q < half; q++) {
      bytes[half + 1 + q] = ((tinyLeft[q] as number) << 4) | ((tinyLeft[q + 1] as number) >>> 4);
    }
  } else {
    for (let q = 0; q < half; q++) bytes[half + q] = tinyLeft[q] as number;
  }
  if (!decipher && n < 16) bytes[0] = (bytes[0] as number) ^ tinyFirstBitMask(k, bytes);
  tinyLeft.fill(0);
  tinyRight.fill(0);
  tinyBlock.fill(0);
}

/**
 * AEZ-core on 32 bytes or more in place (d = 0 enciphers, d = 1 deciphers). Δ is in registers[DELTA]. The
 * message is pairs (M_i, M'_i), a fragment M_uv of 0..31 bytes, and the final blocks M_x, M_y.
 */
function core(k: Int32Array, bytes: Uint8Array, d: 0 | 1): void {
  const r = registers;
  const n = bytes.length;
  const fragmentLength = n & 31;
  const pairBytes = n - fragmentLength - 32;
  // The pairs are read and rewritten in place as big-endian words (a DataView access compiles to one load or
  // store and a byte swap): pass 1 leaves W_i and X_i where M_i and M'_i were, pass 2 overwrites them with the
  // output, so no intermediate value outlives the call anywhere but in the output's own bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  const i0 = k[I1] as number;
  const i1 = k[I1 + 1] as number;
  const i2 = k[I1 + 2] as number;
  const i3 = k[I1 + 3] as number;
  const j0 = k[J1] as number;
  const j1 = k[J1 + 1] as number;
  const j2 = k[J1 + 2] as number;
  const j3 = k[J1 + 3] as number;

  // Pass 1: W_i = M_i ⊕ E^{1,i}(M'_i), X_i = M'_i ⊕ E^{0,0}(W_i), X = ⊕ X_i (and the fragment's terms).
  let x0 = 0;
  let x1 = 0;
  let x2 = 0;
  let x3 = 0;
  copyBlock(k, I2, r, INDEX_I);
  for (let p = 0, i = 1; p < pairBytes; p += 32, i++) {
    const l = multipleOfL(i & 7);
    aes4(
      k,
      view.getInt32(p + 16) ^ j0 ^ (r[INDEX_I] as number) ^ (k[l] as number),
      view.getInt32(p + 20) ^ j1 ^ (r[INDEX_I + 1] as number) ^ (k[l + 1] as number),
      view.getInt32(p + 24) ^ j2 ^ (r[INDEX_I + 2] as number) ^ (k[l + 2] as number),
      view.getInt32(p + 28) ^ j3 ^ (r[INDEX_I + 3] as number) ^ (k[l + 3] as number),
      r,
      T,
    );
    const w0 = view.getInt32(p) ^ (r[T] as number);
    const w1 = view.getInt32(p + 4) ^ (r[T + 1] as number);
    const w2 = view.getInt32(p + 8) ^ (r[T + 2] as number);
    const w3 = view.getInt32(p + 12) ^ (r[T + 3] as number);
    view.setInt32(p, w0);
    view.setInt32(p + 4, w1);
    view.setInt32(p + 8, w2);
    view.setInt32(p + 12, w3);
    aes4(k, w0 ^ i0, w1 ^ i1, w2 ^ i2, w3 ^ i3, r, T);
    const z0 = view.getInt32(p + 16) ^ (r[T] as number);
    const z1 = view.getInt32(p + 20) ^ (r[T + 1] as number);
    const z2 = view.getInt32(p + 24) ^ (r[T + 2] as number);
    const z3 = view.getInt32(p + 28) ^ (r[T + 3] as number);
    view.setInt32(p + 16, z0);
    view.setInt32(p + 20, z1);
    view.setInt32(p + 24, z2);
    view.setInt32(p + 28, z3);
    x0 ^= z0;
    x1 ^= z1;
    x2 ^= z2;
    x3 ^= z3;
    if ((i & 7) === 0) doubleBlock(r, INDEX_I);
  }

  // The fragment: M_u (16 bytes, or all of a shorter fragment, 10*-padded) under E^{0,4}, and when the
  // fragment has 16 bytes or more, the padded rest M_v (possibly empty) under E^{0,5}.
  const uLength = Math.min(fragmentLength, 16);
  const hasV = fragmentLength >= 16;
  if (fragmentLength > 0) {
    loadBlock(bytes, pairBytes, uLength, r, FRAGMENT_U);
    encryptIndexed(k, 4, r, FRAGMENT_U, r, T);
    x0 ^= r[T] as number;
    x1 ^= r[T + 1] as number;
    x2 ^= r[T + 2] as number;
    x3 ^= r[T + 3] as number;
  }
  if (hasV) {
    loadBlock(bytes, pairBytes + 16, fragmentLength - 16, r, FRAGMENT_V);
    encryptIndexed(k, 5, r, FRAGMENT_V, r, T);
    x0 ^= r[T] as number;
    x1 ^= r[T + 1] as number;
    x2 ^= r[T + 2] as number;
    x3 ^= r[T + 3] as number;
  }

  // S_x = M_x ⊕ Δ ⊕ X ⊕ E^{0,1+d}(M_y), S_y = M_y ⊕ E^{-1,1+d}(S_x), S = S_x ⊕ S_y.
  const last = n - 32;
  loadBlock(bytes, last + 16, 16, r, BLOCK);
  const my0 = r[BLOCK] as number;
  const my1 = r[BLOCK + 1] as number;
  const my2 = r[BLOCK + 2] as number;
  const my3 = r[BLOCK + 3] as number;
  encryptIndexed(k, 1 + d, r, BLOCK, r, T);
  const sx0 = readWord(bytes, last) ^ (r[DELTA] as number) ^ x0 ^ (r[T] as number);
  const sx1 = readWord(bytes, last + 4) ^ (r[DELTA + 1] as number) ^ x1 ^ (r[T + 1] as number);
  const sx2 = readWord(bytes, last + 8) ^ (r[DELTA + 2] as number) ^ x2 ^ (r[T + 2] as number);
  const sx3 = readWord(bytes, last + 12) ^ (r[DELTA + 3] as number) ^ x3 ^ (r[T + 3] as number);
  const lx = multipleOfL(1 + d);
  aes10(
    k,
    sx0 ^ (k[lx] as number),
    sx1 ^ (k[lx + 1] as number),
    sx2 ^ (k[lx + 2] as number),
    sx3 ^ (k[lx + 3] as number),
    r,
    T,
  );
  const sy0 = my0 ^ (r[T] as number);
  const sy1 = my1 ^ (r[T + 1] as number);
  const sy2 = my2 ^ (r[T + 2] as number);
  const sy3 = my3 ^ (r[T + 3] as number);
  const s0 = sx0 ^ sy0;
  const s1 = sx1 ^ sy1;
  const s2 = sx2 ^ sy2;
  const s3 = sx3 ^ sy3;

  // Pass 2: S'_i = E^{2,i}(S), Y_i = W_i ⊕ S'_i, Z_i = X_i ⊕ S'_i, C'_i = Y_i ⊕ E^{0,0}(Z_i),
  // C_i = Z_i ⊕ E^{1,i}(C'_i), Y = ⊕ Y_i (and the fragment's terms).
  let y0 = 0;
  let y1 = 0;
  let y2 = 0;
  let y3 = 0;
  const jj0 = k[J2] as number;
  const jj1 = k[J2 + 1] as number;
  const jj2 = k[J2 + 2] as number;
  const jj3 = k[J2 + 3] as number;
  copyBlock(k, I2, r, INDEX_I);
  for (let p = 0, i = 1; p < pairBytes; p += 32, i++) {
    const l = multipleOfL(i & 7);
    const e0 = (r[INDEX_I] as number) ^ (k[l] as number);
    const e1 = (r[INDEX_I + 1] as number) ^ (k[l + 1] as number);
    const e2 = (r[INDEX_I + 2] as number) ^ (k[l + 2] as number);
    const e3 = (r[INDEX_I + 3] as number) ^ (k[l + 3] as number);
    aes4(k, s0 ^ jj0 ^ e0, s1 ^ jj1 ^ e1, s2 ^ jj2 ^ e2, s3 ^ jj3 ^ e3, r, T);
    const t0 = r[T] as number;
    const t1 = r[T + 1] as number;
    const t2 = r[T + 2] as number;
    const t3 = r[T + 3] as number;
    const yi0 = view.getInt32(p) ^ t0;
    const yi1 = view.getInt32(p + 4) ^ t1;
    const yi2 = view.getInt32(p + 8) ^ t2;
    const yi3 = view.getInt32(p + 12) ^ t3;
    const z0 = view.getInt32(p + 16) ^ t0;
    const z1 = view.getInt32(p + 20) ^ t1;
    const z2 = view.getInt32(p + 24) ^ t2;
    const z3 = view.getInt32(p + 28) ^ t3;
    y0 ^= yi0;
    y1 ^= yi1;
    y2 ^= yi2;
    y3 ^= yi3;
    aes4(k, z0 ^ i0, z1 ^ i1, z2 ^ i2, z3 ^ i3, r, T);
    const c0 = yi0 ^ (r[T] as number);
    const c1 = yi1 ^ (r[T + 1] as number);
    const c2 = yi2 ^ (r[T + 2] as number);
    const c3 = yi3 ^ (r[T + 3] as number);
    view.setInt32(p + 16, c0);
    view.setInt32(p + 20, c1);
    view.setInt32(p + 24, c2);
    view.setInt32(p + 28, c3);
    aes4(k, c0 ^ j0 ^ e0, c1 ^ j1 ^ e1, c2 ^ j2 ^ e2, c3 ^ j3 ^ e3, r, T);
    view.setInt32(p, z0 ^ (r[T] as number));
    view.setInt32(p + 4, z1 ^ (r[T + 1] as number));
    view.setInt32(p + 8, z2 ^ (r[T + 2] as number));
    view.setInt32(p + 12, z3 ^ (r[T + 3] as number));
    if ((i & 7) === 0) doubleBlock(r, INDEX_I);
  }

  // The fragment's output: C_u = M_u ⊕ E^{-1,4}(S), C_v = M_v ⊕ E^{-1,5}(S), truncated; Y takes E^{0,4}
  // and E^{0,5} of them, padded as in pass 1.
  r[BLOCK] = s0;
  r[BLOCK + 1] = s1;
  r[BLOCK + 2] = s2;
  r[BLOCK + 3] = s3;
  if (fragmentLength > 0) {
    encryptWide(k, 4, r, BLOCK, r, T);
    xorBlockInto(r, FRAGMENT_U, r, T);
    truncateAndPad(r, FRAGMENT_U, uLength);
    storeBytes(r, FRAGMENT_U, bytes, pairBytes, uLength);
    encryptIndexed(k, 4, r, FRAGMENT_U, r, T);
    y0 ^= r[T] as number;
    y1 ^= r[T + 1] as number;
    y2 ^= r[T + 2] as number;
    y3 ^= r[T + 3] as number;
  }
  if (hasV) {
    encryptWide(k, 5, r, BLOCK, r, T);
    xorBlockInto(r, FRAGMENT_V, r, T);
    truncateAndPad(r, FRAGMENT_V, fragmentLength - 16);
    storeBytes(r, FRAGMENT_V, bytes, pairBytes + 16, fragmentLength - 16);
    encryptIndexed(k, 5, r, FRAGMENT_V, r, T);
    y0 ^= r[T] as number;
    y1 ^= r[T + 1] as number;
    y2 ^= r[T + 2] as number;
    y3 ^= r[T + 3] as number;
  }

  // C_y = S_x ⊕ E^{-1,2-d}(S_y), C_x = S_y ⊕ Δ ⊕ Y ⊕ E^{0,2-d}(C_y).
  r[BLOCK] = sy0;
  r[BLOCK + 1] = sy1;
  r[BLOCK + 2] = sy2;
  r[BLOCK + 3] = sy3;
  encryptWide(k, 2 - d, r, BLOCK, r, T);
  r[BLOCK] = sx0 ^ (r[T] as number);
  r[BLOCK + 1] = sx1 ^ (r[T + 1] as number);
  r[BLOCK + 2] = sx2 ^ (r[T + 2] as number);
  r[BLOCK + 3] = sx3 ^ (r[T + 3] as number);
  storeBytes(r, BLOCK, bytes, last + 16, 16);
  encryptIndexed(k, 2 - d, r, BLOCK, r, T);
  writeWord(bytes, last, sy0 ^ (r[DELTA] as number) ^ y0 ^ (r[T] as number));
  writeWord(bytes, last + 4, sy1 ^ (r[DELTA + 1] as number) ^ y1 ^ (r[T + 1] as number));
  writeWord(bytes, last + 8, sy2 ^ (r[DELTA + 2] as number) ^ y2 ^ (r[T + 2] as number));
  writeWord(bytes, last + 12, sy3 ^ (r[DELTA + 3] as number) ^ y3 ^ (r[T + 3] as number));
}

/**
 * Enciphers (or deciphers) `bytes` in place under the tweak (tauBits, nonce, associatedData): the AEZ
 * Encipher/Decipher of the spec, AEZ-tiny below 32 bytes and AEZ-core from 32 bytes on. Empty input is left as is.
 */
export function encipher(
  k: Int32Array,
  tauBits: number,
  nonce: Uint8Array,
  associatedData: readonly Uint8Array[],
  bytes: Uint8Array,
  decipher: boolean,
): void {
  aezHash(k, tauBits, nonce, associatedData, registers, DELTA);
  if (bytes.length >= 32) core(k, bytes, decipher ? 1 : 0);
  else if (bytes.length > 0) tiny(k, bytes, decipher);
  registers.fill(0);
}

/** AEZ-prf under the tweak (tauBits, nonce, associatedData): the whole ciphertext of an empty message. */
export function prf(
  k: Int32Array,
  tauBits: number,
  nonce: Uint8Array,
  associatedData: readonly Uint8Array[],
  out: Uint8Array,
): void {
  aezHash(k, tauBits, nonce, associatedData, registers, DELTA);
  aezPrf(k, registers, DELTA, out);
  registers.fill(0);
}
