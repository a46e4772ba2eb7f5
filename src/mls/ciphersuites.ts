/**
 * The MLS ciphersuites umbra offers (RFC 9420 §5.1, §17.1) and their loading through ts-mls 1.6.4. The default
 * is MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (0x0001, the suite every RFC 9420 implementation must
 * support); the post-quantum option is ts-mls's MLS_256_XWING_AES256GCM_SHA512_Ed25519, whose HPKE KEM is
 * X-Wing (draft-connolly-cfrg-xwing-kem). That suite has no IANA code point yet: ts-mls 1.6.4 puts it on the
 * wire as 83 (0x0053), so it interoperates only with peers that agree on that number.
 *
 * Every other suite ts-mls knows can be loaded too (the IETF test vectors use suites 1 to 7); suites whose
 * optional dependency is not installed (X448, ChaCha20-Poly1305, X-Wing, ML-KEM) fail with
 * `MlsError('unsupported_ciphersuite')`.
 *
 * The crypto under the suites comes from the platform's provider (the `#mls-provider` import condition):
 * native on Node (crypto/native.ts), ts-mls's portable default in browsers (crypto/portable.ts).
 */

import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  type CryptoProvider,
  ciphersuites,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls';
import { mlsCryptoProvider } from '#mls-provider';
import { MlsError } from '../errors.ts';

export type MlsCiphersuiteName = CiphersuiteName;

export const DEFAULT_CIPHERSUITE =
  'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' satisfies MlsCiphersuiteName;
export const POST_QUANTUM_CIPHERSUITE = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519' satisfies MlsCiphersuiteName;

const namesById = new Map<number, MlsCiphersuiteName>(
  (Object.entries(ciphersuites) as [MlsCiphersuiteName, number][]).map(([name, id]) => [id, name]),
);

export function isCiphersuiteName(name: string): name is MlsCiphersuiteName {
  return Object.hasOwn(ciphersuites, name);
}

/** The name ts-mls gives a wire ciphersuite id, or undefined for ids it does not implement. */
export function ciphersuiteName(id: number): MlsCiphersuiteName | undefined {
  return namesById.get(id);
}

/**
 * Loads suites once per process: ts-mls builds each implementation asynchronously (optional dependencies are
 * imported on demand), and a failed load is remembered so that it is reported the same way every time.
 */
export class CiphersuiteCache {
  readonly #loaded = new Map<MlsCiphersuiteName, Promise<CiphersuiteImpl>>();
  readonly #provider: CryptoProvider;

  constructor(provider: CryptoProvider = mlsCryptoProvider) {
    this.#provider = provider;
  }

  load(name: MlsCiphersuiteName): Promise<CiphersuiteImpl> {
    let loading = this.#loaded.get(name);
    if (loading === undefined) {
      loading = getCiphersuiteImpl(getCiphersuiteFromName(name), this.#provider).catch((error: unknown) => {
        const detail = error instanceof Error ? error.message : String(error);
        throw new MlsError('unsupported_ciphersuite', `${name} cannot be loaded: ${detail}`);
      });
      this.#loaded.set(name, loading);
    }
    return loading;
  }

  /** Whether the suite loads in this installation (its optional dependency is present). */
  async isAvailable(name: MlsCiphersuiteName): Promise<boolean> {
    try {
      await this.load(name);
      return true;
    } catch {
      return false;
    }
  }
}
