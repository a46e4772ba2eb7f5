/**
 * HMAC-SHA256 (RFC 2104) built from a one-shot SHA-256. The node backend
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

  return { hmac };
}
