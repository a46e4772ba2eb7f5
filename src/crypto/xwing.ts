/**
 * X-Wing, the hybrid post-quantum KEM of draft-connolly-cfrg-xwing-kem: ML-KEM-768 and X25519 run side by
 * side and a SHA3-256 combiner binds both shared secrets to the X25519 ciphertext and public key, so the
 * result is secure if either component is. The 32-byte decapsulation key is a seed expanded with SHAKE256
 * (the draft's `expandDecapsulationKey`), which makes `generateKeyPair(seed)` and `encapsulate(pk, eseed)`
 * deterministic for the draft's known-answer tests. Written once against `CryptoBackend`, so both backends
 * share it.
 */

import { assertBytes, concatBytes, wipe } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import type { CryptoBackend, Kem } from './backend.ts';
import { cachedPerKey } from './key-cache.ts';
import { randomBytes } from './random.ts';
import { KeyPair } from './secret.ts';

/** The draft's 6-byte label, "\./" over "/^\" (hex 5c2e2f2f5e5c). */
const X_WING_LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);
const ML_KEM_PUBLIC = 1184;
const ML_KEM_CIPHERTEXT = 1088;

export function createXWing(backend: CryptoBackend): Kem {
  const { mlkem768, x25519 } = backend;

  function expandDecapsulationKey(secretKey: Uint8Array) {
    const expanded = backend.shake256(secretKey, 96);
    // ML-KEM.KeyGen_internal(d, z) is the 64-byte seed form of an ML-KEM-768 key.
    const mlkemSeed = expanded.slice(0, 64);
    const x25519Secret = expanded.slice(64, 96);
    wipe(expanded);
    return { mlkemSeed, x25519Secret, x25519Public: x25519.publicKeyFromSecret(x25519Secret) };
  }

  // Decapsulation keys are long-lived (a mix node's epoch key): expand each once. Its parts live as long as
  // the caller's key array does, and are not wiped here.
  const expandedDecapsulationKey = cachedPerKey(expandDecapsulationKey);

  function combine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Uint8Array {
    return backend.sha3_256(concatBytes(ssM, ssX, ctX, pkX, X_WING_LABEL));
  }

  return {
    name: 'X-Wing',
    publicKeyLength: ML_KEM_PUBLIC + 32,
    secretKeyLength: 32,
    cipherTextLength: ML_KEM_CIPHERTEXT + 32,
    sharedSecretLength: 32,
    seedLength: 32,
    encapsulationSeedLength: 64,

    generateKeyPair(seed = randomBytes(32)) {
      assertBytes('seed', seed, 32);
      const { mlkemSeed, x25519Secret, x25519Public } = expandDecapsulationKey(seed);
      const mlkemPublic = mlkem768.generateKeyPair(mlkemSeed).publicKey;
      wipe(mlkemSeed, x25519Secret);
      return new KeyPair(concatBytes(mlkemPublic, x25519Public), Uint8Array.from(seed));
    },

    encapsulate(publicKey, encapsulationSeed) {
      assertBytes('publicKey', publicKey, ML_KEM_PUBLIC + 32);
      if (encapsulationSeed !== undefined) assertBytes('encapsulationSeed', encapsulationSeed, 64);
      const pkM = publicKey.subarray(0, ML_KEM_PUBLIC);
      const pkX = publicKey.subarray(ML_KEM_PUBLIC);
      const ephemeralX = encapsulationSeed ? encapsulationSeed.slice(32, 64) : randomBytes(32);
      const ctX = x25519.publicKeyFromSecret(ephemeralX);
      const ssX = x25519.sharedSecret(ephemeralX, pkX);
      const { cipherText: ctM, sharedSecret: ssM } = mlkem768.encapsulate(
        pkM,
        encapsulationSeed?.subarray(0, 32),
      );
      const sharedSecret = combine(ssM, ssX, ctX, pkX);
      wipe(ephemeralX, ssX, ssM);
      return { cipherText: concatBytes(ctM, ctX), sharedSecret };
    },

    decapsulate(cipherText, secretKey) {
      assertBytes('cipherText', cipherText, ML_KEM_CIPHERTEXT + 32);
      assertBytes('secretKey', secretKey, 32);
      const ctM = cipherText.subarray(0, ML_KEM_CIPHERTEXT);
      const ctX = cipherText.subarray(ML_KEM_CIPHERTEXT);
      const { mlkemSeed, x25519Secret, x25519Public } = expandedDecapsulationKey(secretKey);
      const ssM = mlkem768.decapsulate(ctM, mlkemSeed);
      // X-Wing computes plain X25519 here: a low-order ct_X yields the all-zero value, never an exception,
      // so a hostile ciphertext is rejected implicitly like any other (the combiner output is unrelated).
      let ssX: Uint8Array;
      try {
        ssX = x25519.sharedSecret(x25519Secret, ctX);
      } catch (error) {
        if (!(error instanceof ArgumentError)) throw error;
        ssX = new Uint8Array(32);
      }
      const sharedSecret = combine(ssM, ssX, ctX, x25519Public);
      wipe(ssM, ssX);
      return sharedSecret;
    },
  };
}
