/**
 * The MLS crypto provider on Node (RFC 9420 §5.1 ciphersuites for ts-mls 1.6.4), chosen by the `#mls-provider`
 * import condition in package.json: SHA-2, HMAC and HKDF (sha2.ts), Ed25519 (ed25519.ts) and HPKE with
 * DHKEM(X25519) (hpke.ts) run natively — OpenSSL through node:crypto and libsodium through sodium-native —
 * and synchronously inside ts-mls's promises. What it does not implement natively comes from ts-mls's own
 * default provider: the other signature schemes (P-256/384/521, Ed448, ML-DSA), the other KEMs (NIST curves,
 * X448, ML-KEM, and X-Wing of umbra's post-quantum suite), and the random number generator (WebCrypto's
 * getRandomValues, which is OpenSSL's on Node). Loading a suite always loads it through the default provider
 * first, so a suite whose optional dependency is missing fails the same way on both providers.
 */
import {
  type CiphersuiteImpl,
  type CryptoProvider,
  defaultCryptoProvider,
  type Hash,
  type Kdf,
} from 'ts-mls';
import { constantTimeEqual } from '../../bytes.ts';
import { ed25519Signature } from './ed25519.ts';
import { isNativeHpke, nativeHpke } from './hpke.ts';
import { type Sha2, sha2, sha2OfKdf } from './sha2.ts';

function hashOf({ digest, hmac }: Sha2): Hash {
  return {
    digest: async (data) => digest(data),
    mac: async (key, data) => hmac(key, data),
    verifyMac: async (key, mac, data) => constantTimeEqual(hmac(key, data), mac),
  };
}

function kdfOf({ extract, expand, outputLength }: Sha2): Kdf {
  return {
    extract: async (salt, ikm) => extract(salt, ikm),
    expand: async (prk, info, length) => expand(prk, info, length),
    size: outputLength,
  };
}

export const mlsCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(suite): Promise<CiphersuiteImpl> {
    const fallback = await defaultCryptoProvider.getCiphersuiteImpl(suite);
    return {
      name: suite.name,
      rng: fallback.rng,
      hash: hashOf(sha2(suite.hash)),
      kdf: kdfOf(sha2OfKdf(suite.hpke.kdf)),
      signature: suite.signature === 'Ed25519' ? ed25519Signature : fallback.signature,
      hpke: isNativeHpke(suite.hpke) ? nativeHpke(suite.hpke) : fallback.hpke,
    };
  },
};
