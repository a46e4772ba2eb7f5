/**
 * HMAC-SHA256 (RFC 2104) and HKDF-Expand (RFC 5869 §2.3) built from a one-shot SHA-256. The node backend
 * uses this instead of node:crypto's createHmac, which imports its key into a fresh OpenSSL object on every
 * call and costs several times the two hashes an HMAC needs; Sphinx runs several HMACs per unwrap.
 */

const BLOCK = 64;
const OUTPUT = 32;

type Sha256 = (data: Uint8Array) => Uint8Array;

/** A hash block holding `key` XOR `pad` (ipad 0x36 or opad 0x5c), followed by `extra` free bytes. */
function padded(key: Uint8Array, pad: number, extra: number): Uint8Array {
  const out = new Uint8Array(BLOCK + extra).fill(pad, 0, BLOCK);
  for (let i = 0; i < key.length; i++) out[i] = pad ^ (key[i] as number);
  return out;
}

export function hmacFromHash(sha256: Sha256) {
  /** Keys longer than a block are hashed first, as RFC 2104 §2 requires. */
  const blockKey = (key: Uint8Array) => (key.length > BLOCK ? sha256(key) : key);

  function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
    const k = blockKey(key);
    let length = 0;
    for (const part of parts) length += part.length;
    const inner = padded(k, 0x36, length);
    let offset = BLOCK;
    for (const part of parts) {
      inner.set(part, offset);
      offset += part.length;
    }
    const outer = padded(k, 0x5c, OUTPUT);
    outer.set(sha256(inner), BLOCK);
    const out = sha256(outer);
    inner.fill(0, 0, BLOCK);
    outer.fill(0);
    return out;
  }

  /** T(1) = HMAC(PRK, info ‖ 1), T(n) = HMAC(PRK, T(n-1) ‖ info ‖ n); the padded keys are built once. */
  function expand(pseudorandomKey: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    const k = blockKey(pseudorandomKey);
    const blocks = Math.ceil(length / OUTPUT);
    const out = new Uint8Array(blocks * OUTPUT);
    const first = padded(k, 0x36, info.length + 1);
    first.set(info, BLOCK);
    first[first.length - 1] = 1;
    const later = padded(k, 0x36, OUTPUT + info.length + 1);
    later.set(info, BLOCK + OUTPUT);
    const outer = padded(k, 0x5c, OUTPUT);
    for (let block = 0; block < blocks; block++) {
      if (block > 0) {
        later.set(out.subarray((block - 1) * OUTPUT, block * OUTPUT), BLOCK);
        later[later.length - 1] = block + 1;
      }
      outer.set(sha256(block === 0 ? first : later), BLOCK);
      out.set(sha256(outer), block * OUTPUT);
    }
    first.fill(0);
    later.fill(0);
    outer.fill(0);
    return length === out.length ? out : out.slice(0, length);
  }

  return { hmac, expand };
}
