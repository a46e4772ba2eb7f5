/**
 * The browser storage of the client SDK: the vault (src/crypto/vault.ts) in an IndexedDB database of its
 * own, through the vault's IndexedDB blob store (src/crypto/vault/indexeddb-store.ts). Browser only: it
 * needs the page's `indexedDB` (or a given `IDBFactory`) when the vault is first opened.
 */

import { IndexedDbStore } from '../crypto/vault/indexeddb-store.ts';
import type { KdfOptions } from '../crypto/vault.ts';
import { ArgumentError } from '../errors.ts';
import { type ClientStorage, vaultStorage } from './storage.ts';

export interface IndexedDbStorageOptions extends KdfOptions {
  /** The IndexedDB implementation; the page's `indexedDB` unless set. */
  readonly factory?: IDBFactory;
}

/** The vault in the IndexedDB database `name`, created there on first use. */
export function indexedDbStorage(name: string, options: IndexedDbStorageOptions = {}): ClientStorage {
  if (typeof name !== 'string' || name === '') throw new ArgumentError('name', 'expected a database name');
  const { factory, ...kdf } = options;
  return vaultStorage(
    factory === undefined ? new IndexedDbStore(name) : new IndexedDbStore(name, factory),
    kdf,
  );
}
