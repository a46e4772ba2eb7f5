/**
 * The Node.js storage of the client SDK: the vault in a directory (src/crypto/vault.ts over its file-system
 * store, Argon2id under the passphrase). Node only — it reaches `node:fs` through the vault's directory
 * store — so it is exported from the package root and never imported by the rest of src/client/.
 */
import { type KdfOptions, Vault } from '../crypto/vault.ts';
import { ArgumentError, VaultError } from '../errors.ts';
import type { ClientStorage, ClientVault, Passphrase } from './storage.ts';

/**
 * The vault in `dataDir`, created there on first use. `kdf` sets the Argon2id parameters of a new vault;
 * tests pass `{ unsafeKdfForTests: UNSAFE_TEST_KDF_PARAMETERS }`.
 */
export function directoryStorage(dataDir: string, kdf: KdfOptions = {}): ClientStorage {
  if (typeof dataDir !== 'string' || dataDir === '') throw new ArgumentError('dataDir', 'expected a path');
  return {
    async open(passphrase: Passphrase): Promise<ClientVault> {
      try {
        return await Vault.open(dataDir, passphrase);
      } catch (error) {
        if (!(error instanceof VaultError) || error.reason !== 'not_found') throw error;
        return Vault.create(dataDir, passphrase, kdf);
      }
    },
  };
}
