/**
 * The storage seam under the vault: a flat set of named, opaque blobs with atomic replacement. The vault's
 * cryptography is written once against this interface; `DirectoryStore` (directory-store.ts) implements it
 * on a file system and `IndexedDbStore` (indexeddb-store.ts) in browsers. Callers pass the store to
 * `Vault.create` / `Vault.open`.
 *
 * Blob names are short ASCII identifiers chosen by the vault (`[0-9a-z]+` then one `.extension`), never
 * user-supplied text, so every implementation can use them as keys or file names unchanged.
 */

export interface BlobStore {
  /** Where the blobs live, for display (a directory path, a database name). Not secret. */
  readonly location: string;
  /** The blob's bytes, or undefined when there is no such blob. */
  read(name: string): Promise<Uint8Array | undefined>;
  /** Replaces or creates the blob atomically: readers see the old bytes or the new ones, never a mixture. */
  write(name: string, data: Uint8Array): Promise<void>;
  /** Creates the blob atomically unless that name exists; then it returns false and changes nothing. */
  writeNew(name: string, data: Uint8Array): Promise<boolean>;
  /** Deletes the blob; returns false when there was none. */
  remove(name: string): Promise<boolean>;
  /** The names of all complete blobs, in no particular order. Interrupted writes are never listed. */
  list(): Promise<string[]>;
  /**
   * Overwrites the named blobs and every interrupted write with random bytes, then deletes them, and the
   * container too once nothing else is left in it.
   */
  destroy(names: readonly string[]): Promise<void>;
}

/** The blob-name syntax every implementation accepts. */
export const BLOB_NAME = /^[0-9a-z]+\.[a-z]+$/;
