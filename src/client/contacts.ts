/**
 * Contacts: the identity key each handle is bound to at the delivery service, as this client first saw it
 * (trust on first use), whether the user verified it by comparing safety numbers, and a warning when the
 * service later binds the handle to another key. The MLS authentication service (RFC 9420 §5.3.1) answers
 * from here: a basic credential naming a handle is accepted iff the leaf's signature key is the Ed25519 half
 * of that handle's identity key. The delivery client has already checked each registration's signatures
 * against the handle asked for (src/protocol/client.ts).
 */
import { backend as platformBackend } from '#default-backend';
import { constantTimeEqual, fromBase64Url, fromUtf8, toBase64Url } from '../bytes.ts';
import { type SafetyNumber, safetyNumber } from '../crypto/safety-number.ts';
import type { AuthenticationService, MlsCredential } from '../mls/index.ts';
import type { IdentityInfo, IdentityKey } from '../protocol/api.ts';
import { encodeIdentityKey } from '../protocol/identity.ts';
import { type ClientVault, getJson, putJson, RECORD } from './storage.ts';

export interface Contact {
  readonly handle: string;
  readonly identityKey: IdentityKey;
  /** The user compared safety numbers and marked this key verified. */
  readonly verified: boolean;
  /** The service bound the handle to another key than the one first seen (and verified, if it was). */
  readonly keyChanged: boolean;
}

export interface KeyChange {
  readonly handle: string;
  /** Whether the replaced key had been verified: the strongest warning. */
  readonly wasVerified: boolean;
}

interface ContactRecord {
  ed25519: string;
  mldsa65: string;
  verified: boolean;
  keyChanged: boolean;
}

function sameKey(a: IdentityKey, b: IdentityKey): boolean {
  return constantTimeEqual(encodeIdentityKey(a), encodeIdentityKey(b));
}

function keyOf(record: ContactRecord): IdentityKey {
  return { ed25519: fromBase64Url(record.ed25519), mldsa65: fromBase64Url(record.mldsa65) };
}

export class Contacts {
  readonly #vault: ClientVault;
  readonly #records: Map<string, ContactRecord>;
  readonly #lookup: (handle: string) => Promise<IdentityInfo | undefined>;
  readonly #onKeyChange: (change: KeyChange) => void;
  /** The write in progress and whether records changed since it started (writes are coalesced). */
  #writing: Promise<void> | undefined;
  #dirty = false;

  private constructor(
    vault: ClientVault,
    records: Map<string, ContactRecord>,
    lookup: (handle: string) => Promise<IdentityInfo | undefined>,
    onKeyChange: (change: KeyChange) => void,
  ) {
    this.#vault = vault;
    this.#records = records;
    this.#lookup = lookup;
    this.#onKeyChange = onKeyChange;
  }

  /**
   * `lookup` asks the delivery service (resolving undefined for an unknown handle, rejecting when it cannot
   * be reached); `onKeyChange` is told when a handle's key differs from the one remembered.
   */
  static async load(
    vault: ClientVault,
    lookup: (handle: string) => Promise<IdentityInfo | undefined>,
    onKeyChange: (change: KeyChange) => void,
  ): Promise<Contacts> {
    const stored = (await getJson<Record<string, ContactRecord>>(vault, RECORD.contacts)) ?? {};
    return new Contacts(vault, new Map(Object.entries(stored)), lookup, onKeyChange);
  }

  get(handle: string): Contact | undefined {
    const record = this.#records.get(handle);
    return record && { handle, identityKey: keyOf(record), ...record };
  }

  list(): Contact[] {
    return [...this.#records.keys()].flatMap((handle) => this.get(handle) ?? []);
  }

  /**
   * Records the identity the service returned for `handle` (from a lookup or a claim). New contacts are
   * written behind (joining a large group meets many at once); a key change is written before it is told.
   */
  async observe(handle: string, identityKey: IdentityKey): Promise<void> {
    const record = this.#records.get(handle);
    if (record !== undefined && sameKey(keyOf(record), identityKey)) return;
    const next: ContactRecord = {
      ed25519: toBase64Url(identityKey.ed25519),
      mldsa65: toBase64Url(identityKey.mldsa65),
      verified: false,
      keyChanged: record !== undefined,
    };
    this.#records.set(handle, next);
    const written = this.#save();
    if (record === undefined) {
      written.catch(() => undefined); // Only a closing vault fails here; `flush` runs before it closes.
      return;
    }
    await written;
    this.#onKeyChange({ handle, wasVerified: record.verified });
  }

  /** The identity key of `handle`, asking the service (through `lookup` if given) when it is not known yet. */
  async resolve(
    handle: string,
    lookup: (handle: string) => Promise<IdentityInfo | undefined> = this.#lookup,
  ): Promise<IdentityKey | undefined> {
    const known = this.#records.get(handle);
    if (known !== undefined) return keyOf(known);
    const info = await lookup(handle);
    if (info === undefined) return undefined;
    await this.observe(handle, info.identityKey);
    return info.identityKey;
  }

  async markVerified(handle: string, verified: boolean): Promise<void> {
    const record = this.#records.get(handle);
    if (record === undefined) return;
    record.verified = verified;
    if (verified) record.keyChanged = false;
    await this.#save();
  }

  /** The authentication service the client's MLS layer consults for every credential. */
  authenticationService(): AuthenticationService {
    return {
      validateCredential: async (credential: MlsCredential, signaturePublicKey: Uint8Array) => {
        if (credential.kind !== 'basic') return false;
        let handle: string;
        try {
          handle = fromUtf8(credential.identity);
        } catch {
          return false;
        }
        let key = await this.resolve(handle);
        if (key !== undefined && !constantTimeEqual(key.ed25519, signaturePublicKey)) {
          // Perhaps the handle was re-bound since we first saw it: ask again (and warn if it changed).
          const info = await this.#lookup(handle);
          if (info !== undefined) await this.observe(handle, info.identityKey);
          key = info?.identityKey;
        }
        return (
          key !== undefined &&
          key.ed25519.length === signaturePublicKey.length &&
          constantTimeEqual(key.ed25519, signaturePublicKey)
        );
      },
    };
  }

  /** Resolves once every change so far is in the vault. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  #save(): Promise<void> {
    this.#dirty = true;
    this.#writing ??= (async () => {
      try {
        while (this.#dirty) {
          this.#dirty = false;
          await putJson(this.#vault, RECORD.contacts, Object.fromEntries(this.#records));
        }
      } finally {
        this.#writing = undefined;
      }
    })();
    return this.#writing;
  }
}

/** The 60-digit safety number of two identities (Signal's construction, src/crypto/safety-number.ts). */
export function safetyNumberOf(
  local: { readonly handle: string; readonly identityKey: IdentityKey },
  remote: { readonly handle: string; readonly identityKey: IdentityKey },
): SafetyNumber {
  return safetyNumber(
    platformBackend,
    { id: local.handle, identityKey: encodeIdentityKey(local.identityKey) },
    { id: remote.handle, identityKey: encodeIdentityKey(remote.identityKey) },
  );
}
