/**
 * The AEADs of MLS ciphersuites (RFC 9420 §5.1; HPKE's AEAD, RFC 9180 §7.3) for the native provider:
 * AES-128-GCM and AES-256-GCM from OpenSSL (node:crypto), ChaCha20-Poly1305 (RFC 8439) from libsodium, through
 * umbra's node backend and its argument checks. Keys and nonces come from the MLS key schedule, never from the
 * wire; ciphertexts do, so a ciphertext shorter than its tag fails as any forgery does, with
 * `AuthenticationError`.
 */
import type { AeadAlgorithm } from 'ts-mls';
import type { Aead } from '../../crypto/backend.ts';
import { checkedAead } from '../../crypto/backends/checked.ts';
import { nodeAead, nodeBackend } from '../../crypto/backends/node.ts';
import { AuthenticationError } from '../../errors.ts';

const EMPTY = new Uint8Array(0);

const aeads: Record<AeadAlgorithm, Aead> = {
  AES128GCM: checkedAead('AES-128-GCM', 16, 12, nodeAead('aes-128-gcm')),
  AES256GCM: nodeBackend.aes256gcm,
  CHACHA20POLY1305: nodeBackend.chacha20poly1305,
};

/** The AEAD with ts-mls's argument order (key, nonce, aad, data) and an absent aad read as empty. */
export interface MlsAead {
  readonly keyLength: number;
  readonly nonceLength: number;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, plaintext: Uint8Array): Uint8Array;
  /** Throws `AuthenticationError` when the ciphertext does not authenticate, however short it is. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, cipherText: Uint8Array): Uint8Array;
}

export function mlsAead(algorithm: AeadAlgorithm): MlsAead {
  const aead = aeads[algorithm];
  return {
    keyLength: aead.keyLength,
    nonceLength: aead.nonceLength,
    seal: (key, nonce, aad, plaintext) => aead.seal(key, nonce, plaintext, aad ?? EMPTY),
    open(key, nonce, aad, cipherText) {
      if (cipherText.length < aead.tagLength) {
        throw new AuthenticationError(`${aead.name}: ciphertext shorter than the tag`);
      }
      return aead.open(key, nonce, cipherText, aad ?? EMPTY);
    },
  };
}
