/**
 * The symmetric half of Katzenpost's Sphinx parameterization (`core/sphinx/internal/crypto`): HKDF-Expand
 * (SHA-256) of the shared secret with the info "katzenpost-kdf-v0-hkdf-sha256" into the header MAC key,
 * header stream key and IV, payload SPRP key and (NIKE only) a blinding-factor seed; HMAC-SHA256 header MACs;
 * the AES-256-CTR header stream; AEZ v5 (tau = 0) as the payload SPRP, keyed by the payload key and the header
 * IV. Katzenpost turns the blinding seed into a scalar by reading 32 bytes of a ChaCha20 keystream (64-bit zero
 * nonce) keyed by it; the scalar is then used, clamped, as an X25519 secret.
 */

import { utf8, wipe } from '../bytes.ts';
import { aezEncipherInPlace } from '../crypto/aez/index.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { MAC_LENGTH, SPRP_IV_LENGTH, SPRP_KEY_LENGTH } from './geometry.ts';

const KDF_INFO = utf8('katzenpost-kdf-v0-hkdf-sha256');
const STREAM_KEY_LENGTH = 32;
const BLINDING_SEED_LENGTH = 32;
const KEYS_LENGTH = MAC_LENGTH + STREAM_KEY_LENGTH + SPRP_IV_LENGTH + SPRP_KEY_LENGTH;
const CHACHA_ZERO_NONCE = new Uint8Array(8);
const NO_ASSOCIATED_DATA: readonly Uint8Array[] = [];

/** The per-hop keys of one shared secret. */
export interface PacketKeys {
  readonly headerMac: Uint8Array;
  readonly headerKey: Uint8Array;
  /** IV of the header stream, reused as the payload SPRP's nonce (different key, different primitive). */
  readonly headerIv: Uint8Array;
  readonly payloadKey: Uint8Array;
  /** NIKE Sphinx only: the X25519 scalar that blinds the group element for the next hop. */
  readonly blindingFactor: Uint8Array | undefined;
}

export function wipeKeys(keys: PacketKeys): void {
  wipe(keys.headerMac, keys.headerKey, keys.headerIv, keys.payloadKey);
  if (keys.blindingFactor) wipe(keys.blindingFactor);
}

export interface SphinxPrimitives {
  /** HMAC-SHA256 of the concatenation of `parts`. */
  mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  kdf(sharedSecret: Uint8Array, withBlindingFactor: boolean): PacketKeys;
  /** `data` XOR the AES-256-CTR keystream (the header stream). */
  headerStream(keys: PacketKeys, data: Uint8Array): Uint8Array;
  /** Enciphers `data` in place with the payload SPRP. */
  sprpEncrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): void;
  /** Deciphers `data` in place with the payload SPRP. */
  sprpDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): void;
  hash(data: Uint8Array): Uint8Array;
}

export function createPrimitives(backend: CryptoBackend): SphinxPrimitives {
  function kdf(sharedSecret: Uint8Array, withBlindingFactor: boolean): PacketKeys {
    const okm = backend.hkdfExpandSha256(
      sharedSecret,
      KDF_INFO,
      KEYS_LENGTH + (withBlindingFactor ? BLINDING_SEED_LENGTH : 0),
    );
    const streamKeyEnd = MAC_LENGTH + STREAM_KEY_LENGTH;
    const ivEnd = streamKeyEnd + SPRP_IV_LENGTH;
    const blindingSeed = okm.subarray(KEYS_LENGTH, KEYS_LENGTH + BLINDING_SEED_LENGTH);
    const blindingFactor = withBlindingFactor
      ? backend.chacha20(blindingSeed, CHACHA_ZERO_NONCE, new Uint8Array(BLINDING_SEED_LENGTH))
      : undefined;
    blindingSeed.fill(0);
    return {
      headerMac: okm.subarray(0, MAC_LENGTH),
      headerKey: okm.subarray(MAC_LENGTH, streamKeyEnd),
      headerIv: okm.subarray(streamKeyEnd, ivEnd),
      payloadKey: okm.subarray(ivEnd, KEYS_LENGTH),
      blindingFactor,
    };
  }

  return {
    mac: backend.hmacSha256,
    kdf,
    headerStream: (keys, data) => backend.aesCtr(keys.headerKey, keys.headerIv, data),
    sprpEncrypt: (key, iv, data) => aezEncipherInPlace(key, iv, NO_ASSOCIATED_DATA, data, false),
    sprpDecrypt: (key, iv, data) => aezEncipherInPlace(key, iv, NO_ASSOCIATED_DATA, data, true),
    hash: backend.sha256,
  };
}
