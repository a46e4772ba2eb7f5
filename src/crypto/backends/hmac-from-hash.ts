/**
 * HMAC (RFC 2104) built from a one-shot hash: HMAC-SHA256 for the node backend, and HMAC-SHA384/512 for the
 * MLS native provider (src/mls/crypto/sha2.ts). Used instead of node:crypto's createHmac, which imports its
 * key into a fresh OpenSSL object on every call and costs several times the two hashes an HMAC needs; Sphinx
 * runs several HMACs per unwrap, MLS several per key derivation.
 */

type Hash = (data: Uint8Array) => Uint8Array;

/** A hash block holding `key` XOR `pad` (ipad 0x36 or opad 0x5c), followed by `extra` free bytes. */
function padded(key: Uint8Array, block: number, pad: number, extra: number): Uint8Array {
  const out = new Uint8Array(block + extra).fill(pad, 0, block);
  for (let i = 0; i < key.length; i++) out[i] = pad ^ (key[i] as number);
  return out;
}

/** `block` is the hash's block length in bytes: 64 for SHA-256, 128 for SHA-384 and SHA-512. */
export function hmacFromHash(hash: Hash, block = 64) {
  /** Keys longer than a block are hashed first, as RFC 2104 §2 requires. */
  const blockKey = (key: Uint8Array) => (key.length > block ? hash(key) : key);

  function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
    const k = blockKey(key);
    let length = 0;
    for (const part of parts) length += part.length;
    const inner = padded(k, block, 0x36, length);
    let offset = block;
    for (const part of parts) {
      inner.set(part, offset);
      offset += part.length;
    }
    const innerHash = hash(inner);
    const outer = padded(k, block, 0x5c, innerHash.length);
    outer.set(innerHash, block);
    const out = hash(outer);
    inner.fill(0, 0, block);
    outer.fill(0);
    innerHash.fill(0);
    return out;
  }

  return { hmac };
}
