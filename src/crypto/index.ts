/**
 * umbra's crypto core. Everything here is bound to the platform's default backend — `node` under Node.js,
 * `portable` in browsers (chosen by the `#default-backend` import condition in package.json). Code that must
 * pick a backend explicitly (tests, benchmarks, the mix node's hot path) imports `createXWing`,
 * `createSealedBox` and the backends from their own modules.
 */
import { backend } from '#default-backend';
import {
  safetyNumber as computeSafetyNumber,
  type SafetyNumber,
  type SafetyNumberParty,
} from './safety-number.ts';
import { createSealedBox } from './sealed-box.ts';
import { createXWing } from './xwing.ts';

export {
  assertBytes,
  concatBytes,
  constantTimeEqual,
  fromBase64Url,
  fromHex,
  fromUtf8,
  toBase64Url,
  toHex,
  utf8,
  wipe,
} from '../bytes.ts';
export type { Aead, Argon2Parameters, CryptoBackend, Kem, Nike, SignatureScheme } from './backend.ts';
export { randomBytes, randomInt } from './random.ts';
export type { OpenOptions, SealedBox, SealedBoxVersion, SealOptions } from './sealed-box.ts';
export { createSealedBox, DEFAULT_SEALED_BOX_VERSION, MAX_SEALED_PLAINTEXT } from './sealed-box.ts';
export { KeyPair, SecretHolder } from './secret.ts';
export type { CreateVaultOptions, KdfOptions, Passphrase, VaultOptions, VaultState } from './vault.ts';
export {
  DEFAULT_KDF_PARAMETERS,
  MAX_RECORD_NAME_BYTES,
  UNSAFE_TEST_KDF_PARAMETERS,
  VAULT_FORMAT_VERSION,
  Vault,
} from './vault.ts';
export { createXWing } from './xwing.ts';

export const cryptoBackend = backend;
export const xwing = createXWing(backend);
export const sealedBox = createSealedBox(backend);
export const { x25519, ed25519, mlkem768, mldsa65, aes256gcm, chacha20poly1305, xchacha20poly1305 } = backend;
export const hkdfSha256 = backend.hkdfSha256;
export { compareSafetyNumberQr, SAFETY_NUMBER_ITERATIONS, SAFETY_NUMBER_VERSION } from './safety-number.ts';
export type { SafetyNumber, SafetyNumberParty };

/** The safety number of two parties, identical on both sides (order-independent). See safety-number.ts. */
export function safetyNumber(local: SafetyNumberParty, remote: SafetyNumberParty): SafetyNumber {
  return computeSafetyNumber(backend, local, remote);
}
export const hkdfSha3_256 = backend.hkdfSha3_256;
