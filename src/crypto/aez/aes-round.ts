/**
 * The AES round function as AEZ v5 uses it (Hoang, Krovetz, Rogaway, "AEZ v5", CAESAR round 2): AES4 and
 * AES10 are four and ten full AES rounds (SubBytes, ShiftRows, MixColumns, AddRoundKey; the last round keeps
 * its MixColumns, like the AES-NI `aesenc` instruction) keyed directly by the extracted key blocks I, J and L,
 * not by the AES key expansion. A block is four 32-bit words holding its bytes in big-endian order; the four
 * T-tables that fold SubBytes and MixColumns together are computed here at module load from the S-box
 * definition of FIPS-197 §5.1.1. Table lookups are indexed by state bytes, so their timing depends on cache
 * behaviour; they are used because the mix-node hot path needs the throughput.
 */

/** T-tables: TE0[x] is the MixColumns image of the column (S(x), 0, 0, 0); TE1..TE3 are its byte rotations. */
const TE0 = new Int32Array(256);
const TE1 = new Int32Array(256);
const TE2 = new Int32Array(256);
const TE3 = new Int32Array(256);

function buildTables(): void {
  const sbox = new Uint8Array(256);
  // Walks GF(2^8)* with generator 3 (p) and its inverse (q) in step, so q = p^-1 at every step.
  let p = 1;
  let q = 1;
  const rotl8 = (x: number, shift: number) => ((x << shift) | (x >>> (8 - shift))) & 0xff;
  sbox[0] = 0x63;
  do {
    p = (p ^ (p << 1) ^ (p & 0x80 ? 0x1b : 0)) & 0xff;
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    sbox[p] = q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63;
  } while (p !== 1);

  for (let x = 0; x < 256; x++) {
    const s = sbox[x] as number;
    const s2 = ((s << 1) ^ (s & 0x80 ? 0x1b : 0)) & 0xff;
    const word = (s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s);
    TE0[x] = word;
    TE1[x] = (word >>> 8) | (word << 24);
    TE2[x] = (word >>> 16) | (word << 16);
    TE3[x] = (word >>> 24) | (word << 8);
  }
}
buildTables();

/** Word offsets of the round-key blocks inside a key schedule array (see core.ts). */
export const ROUND_KEY_I = 0;
export const ROUND_KEY_J = 4;
export const ROUND_KEY_L = 8;

/**
 * AES4 of the block (s0, s1, s2, s3), whose caller has already added the tweak offset: rounds keyed J, I, L
 * and the zero block. Writes the result to out[o..o+3].
 */
export function aes4(
  keys: Int32Array,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  out: Int32Array,
  o: number,
): void {
  const i0 = keys[ROUND_KEY_I] as number;
  const i1 = keys[ROUND_KEY_I + 1] as number;
  const i2 = keys[ROUND_KEY_I + 2] as number;
  const i3 = keys[ROUND_KEY_I + 3] as number;
  const j0 = keys[ROUND_KEY_J] as number;
  const j1 = keys[ROUND_KEY_J + 1] as number;
  const j2 = keys[ROUND_KEY_J + 2] as number;
  const j3 = keys[ROUND_KEY_J + 3] as number;
  const l0 = keys[ROUND_KEY_L] as number;
  const l1 = keys[ROUND_KEY_L + 1] as number;
  const l2 = keys[ROUND_KEY_L + 2] as number;
  const l3 = keys[ROUND_KEY_L + 3] as number;

  let t0 =
    (TE0[s0 >>> 24] as number) ^
    (TE1[(s1 >>> 16) & 255] as number) ^
    (TE2[(s2 >>> 8) & 255] as number) ^
    (TE3[s3 & 255] as number) ^
    j0;
  let t1 =
    (TE0[s1 >>> 24] as number) ^
    (TE1[(s2 >>> 16) & 255] as number) ^
    (TE2[(s3 >>> 8) & 255] as number) ^
    (TE3[s0 & 255] as number) ^
    j1;
  let t2 =
    (TE0[s2 >>> 24] as number) ^
    (TE1[(s3 >>> 16) & 255] as number) ^
    (TE2[(s0 >>> 8) & 255] as number) ^
    (TE3[s1 & 255] as number) ^
    j2;
  let t3 =
    (TE0[s3 >>> 24] as number) ^
    (TE1[(s0 >>> 16) & 255] as number) ^
    (TE2[(s1 >>> 8) & 255] as number) ^
    (TE3[s2 & 255] as number) ^
    j3;

  s0 =
    (TE0[t0 >>> 24] as number) ^
    (TE1[(t1 >>> 16) & 255] as number) ^
    (TE2[(t2 >>> 8) & 255] as number) ^
    (TE3[t3 & 255] as number) ^
    i0;
  s1 =
    (TE0[t1 >>> 24] as number) ^
    (TE1[(t2 >>> 16) & 255] as number) ^
    (TE2[(t3 >>> 8) & 255] as number) ^
    (TE3[t0 & 255] as number) ^
    i1;
  s2 =
    (TE0[t2 >>> 24] as number) ^
    (TE1[(t3 >>> 16) & 255] as number) ^
    (TE2[(t0 >>> 8) & 255] as number) ^
    (TE3[t1 & 255] as number) ^
    i2;
  s3 =
    (TE0[t3 >>> 24] as number) ^
    (TE1[(t0 >>> 16) & 255] as number) ^
    (TE2[(t1 >>> 8) & 255] as number) ^
    (TE3[t2 & 255] as number) ^
    i3;

  t0 =
    (TE0[s0 >>> 24] as number) ^
    (TE1[(s1 >>> 16) & 255] as number) ^
    (TE2[(s2 >>> 8) & 255] as number) ^
    (TE3[s3 & 255] as number) ^
    l0;
  t1 =
    (TE0[s1 >>> 24] as number) ^
    (TE1[(s2 >>> 16) & 255] as number) ^
    (TE2[(s3 >>> 8) & 255] as number) ^
    (TE3[s0 & 255] as number) ^
    l1;
  t2 =
    (TE0[s2 >>> 24] as number) ^
    (TE1[(s3 >>> 16) & 255] as number) ^
    (TE2[(s0 >>> 8) & 255] as number) ^
    (TE3[s1 & 255] as number) ^
    l2;
  t3 =
    (TE0[s3 >>> 24] as number) ^
    (TE1[(s0 >>> 16) & 255] as number) ^
    (TE2[(s1 >>> 8) & 255] as number) ^
    (TE3[s2 & 255] as number) ^
    l3;

  out[o] =
    (TE0[t0 >>> 24] as number) ^
    (TE1[(t1 >>> 16) & 255] as number) ^
    (TE2[(t2 >>> 8) & 255] as number) ^
    (TE3[t3 & 255] as number);
  out[o + 1] =
    (TE0[t1 >>> 24] as number) ^
    (TE1[(t2 >>> 16) & 255] as number) ^
    (TE2[(t3 >>> 8) & 255] as number) ^
    (TE3[t0 & 255] as number);
  out[o + 2] =
    (TE0[t2 >>> 24] as number) ^
    (TE1[(t3 >>> 16) & 255] as number) ^
    (TE2[(t0 >>> 8) & 255] as number) ^
    (TE3[t1 & 255] as number);
  out[o + 3] =
    (TE0[t3 >>> 24] as number) ^
    (TE1[(t0 >>> 16) & 255] as number) ^
    (TE2[(t1 >>> 8) & 255] as number) ^
    (TE3[t2 & 255] as number);
}

/** Round-key order of AES10: I, J, L repeated, ending on I. */
const AES10_KEY_OFFSETS = [
  ROUND_KEY_I,
  ROUND_KEY_J,
  ROUND_KEY_L,
  ROUND_KEY_I,
  ROUND_KEY_J,
  ROUND_KEY_L,
  ROUND_KEY_I,
  ROUND_KEY_J,
  ROUND_KEY_L,
  ROUND_KEY_I,
] as const;

/** AES10 of the block (s0, s1, s2, s3), offset already added. Writes the result to out[o..o+3]. */
export function aes10(
  keys: Int32Array,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  out: Int32Array,
  o: number,
): void {
  for (const k of AES10_KEY_OFFSETS) {
    const t0 =
      (TE0[s0 >>> 24] as number) ^
      (TE1[(s1 >>> 16) & 255] as number) ^
      (TE2[(s2 >>> 8) & 255] as number) ^
      (TE3[s3 & 255] as number) ^
      (keys[k] as number);
    const t1 =
      (TE0[s1 >>> 24] as number) ^
      (TE1[(s2 >>> 16) & 255] as number) ^
      (TE2[(s3 >>> 8) & 255] as number) ^
      (TE3[s0 & 255] as number) ^
      (keys[k + 1] as number);
    const t2 =
      (TE0[s2 >>> 24] as number) ^
      (TE1[(s3 >>> 16) & 255] as number) ^
      (TE2[(s0 >>> 8) & 255] as number) ^
      (TE3[s1 & 255] as number) ^
      (keys[k + 2] as number);
    const t3 =
      (TE0[s3 >>> 24] as number) ^
      (TE1[(s0 >>> 16) & 255] as number) ^
      (TE2[(s1 >>> 8) & 255] as number) ^
      (TE3[s2 & 255] as number) ^
      (keys[k + 3] as number);
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  out[o] = s0;
  out[o + 1] = s1;
  out[o + 2] = s2;
  out[o + 3] = s3;
}
