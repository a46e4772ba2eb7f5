/**
 * The Node.js storage of the client SDK: the vault in a directory (src/crypto/vault.ts over its file-system
 * store, Argon2id under the passphrase). Node only — it imports the vault's directory store, which uses
 * `node:fs` — so it is exported from the package root and never imported by the rest of src/client/.
 */

import { DirectoryStore } from '../crypto/vault/directory-store.ts';
import type { KdfOptions } from '../crypto/vault.ts';
import { ArgumentError } from '../errors.ts';
import { type ClientStorage, vaultStorage } from './storage.ts';

/**
 * The vault in `dataDir`, created there on first use. `kdf` sets the Argon2id parameters of a new vault;
 * tests pass `{ unsafeKdfForTests: UNSAFE_TEST_KDF_PARAMETERS }`.
 */
export function directoryStorage(dataDir: string, kdf: KdfOptions = {}): ClientStorage {
  if (typeof dataDir !== 'string' || dataDir === '') throw new ArgumentError('dataDir', 'expected a path');
  return vaultStorage(new DirectoryStore(dataDir), kdf);
}
