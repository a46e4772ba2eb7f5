/**
 * Where the client SDK keeps its state: records in an encrypted vault (src/crypto/vault.ts), reached only
 * through the `ClientVault` interface, which `Vault` implements. The SDK itself never imports the vault's
 * file-system store, so it bundles for browsers: the app chooses the storage — `directoryStorage(dataDir)`
 * (directory-storage.ts, Node only), `indexedDbStorage(name)` (indexeddb-storage.ts, browsers) or
 * `vaultStorage(store)` over any other `BlobStore` — and the SDK opens it with the user's passphrase.
 *
 * Records (names are umbra's own identifiers, never user text; values are JSON unless noted):
 *
 *     client/identity                  handle, identity key seeds, device ID, mailbox secret and cursor,
 *                                      whether the registration finished (written before its first request)
 *     client/contacts                  handle → identity key, verified flag, key-change warning
 *     client/key-package/<id hex>      a published KeyPackage and its private keys (one-time or last resort)
 *     client/contact-mailboxes         every KeyPackage held, oldest first, with its contact mailbox's cursor
 *     client/tokens                    anonymous tokens not yet spent, with when their key expires (tokens.ts)
 *     conversation/<group id hex>      routing cursor, policy, history, outgoing queue, Welcomes to deliver
 *     group/<group id hex>             the MLS group state (`Group.save()` bytes, not JSON)
 *     wellness/entries/<yyyy-mm>       raw wellness entries of that month, never sent (wellness/entries.ts)
 *     wellness/care                    care team, tier conversations, reminders, check-ins, shared insights
 *
 * A conversation's group record is written before its conversation record: after a crash the cursor may lag
 * the group (the repeated log entries then fail MLS verification and are skipped), never lead it.
 */
import type { BlobStore } from '../crypto/vault/blob-store.ts';
import { type KdfOptions, type Passphrase, Vault } from '../crypto/vault.ts';
import { VaultError } from '../errors.ts';

/** The record store the SDK needs; `Vault` (src/crypto/vault.ts) is one. */
export interface ClientVault {
  get(name: string): Promise<Uint8Array | undefined>;
  put(name: string, value: Uint8Array): Promise<void>;
  delete(name: string): Promise<boolean>;
  list(): Promise<string[]>;
  /** Destroys every record and the keys: nothing can be read afterwards, with any passphrase. */
  wipe(): Promise<void>;
  close(): Promise<void>;
}

/** Opens (or, the first time, creates) the client's vault. */
export interface ClientStorage {
  open(passphrase: Passphrase): Promise<ClientVault>;
}

export type { Passphrase };

/**
 * The vault in `store`, created there on first use. `kdf` sets the Argon2id parameters of a new vault;
 * tests pass `{ unsafeKdfForTests: UNSAFE_TEST_KDF_PARAMETERS }`.
 */
export function vaultStorage(store: BlobStore, kdf: KdfOptions = {}): ClientStorage {
  return {
    async open(passphrase: Passphrase): Promise<ClientVault> {
      try {
        return await Vault.open(store, passphrase);
      } catch (error) {
        if (!(error instanceof VaultError) || error.reason !== 'not_found') throw error;
        return Vault.create(store, passphrase, kdf);
      }
    },
  };
}

/** The names of the SDK's records in its vault: an app watching writes (a sign-up's progress) tells which. */
export const RECORD = {
  identity: 'client/identity',
  contacts: 'client/contacts',
  keyPackagePrefix: 'client/key-package/',
  contactMailboxes: 'client/contact-mailboxes',
  tokens: 'client/tokens',
  conversationPrefix: 'conversation/',
  groupPrefix: 'group/',
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON records: the vault authenticates them, so they are parsed without defensive checks beyond shape. */
export async function getJson<T>(vault: ClientVault, name: string): Promise<T | undefined> {
  const bytes = await vault.get(name);
  return bytes === undefined ? undefined : (JSON.parse(decoder.decode(bytes)) as T);
}

export function putJson(vault: ClientVault, name: string, value: unknown): Promise<void> {
  return vault.put(name, encoder.encode(JSON.stringify(value)));
}
