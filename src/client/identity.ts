/**
 * The client's own identity and its KeyPackage stock (issue #4; RFC 9420 §10, §16.8). The identity key is
 * the delivery protocol's hybrid key (Ed25519 + ML-DSA-65, src/protocol/identity.ts): the service binds the
 * handle to it, and the client's MLS leaves sign with its Ed25519 half, so the authentication service can
 * check any leaf against the handle's registration.
 *
 * Invitations reach a member through first-contact mailboxes (src/protocol/contact.ts): every published
 * KeyPackage names a mailbox of its own, whose secret the owner derives from the identity's contact seed and
 * the KeyPackage's upload ID (the first 32 bytes of its KeyPackageRef, which reveals nothing). The owner keeps
 * a read cursor in each KeyPackage's record and reads all of them in one request; a claimer learns an address
 * used for that KeyPackage alone, and the service never sees a lasting mailbox of the handle.
 */
import { backend as platformBackend } from '#default-backend';
import { fromBase64Url, fromHex, toBase64Url, toHex } from '../bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { ArgumentError } from '../errors.ts';
import { type GeneratedKeyPackage, KeyPackageSecrets, type Mls, type OwnKeyPackage } from '../mls/index.ts';
import { ID_LENGTH, type IdentityKey, type IdentitySigner } from '../protocol/api.ts';
import { contactMailboxId, contactMailboxSecret, encodeContactKeyPackage } from '../protocol/contact.ts';
import { IdentityKeyPair } from '../protocol/identity.ts';
import { type ClientVault, getJson, putJson, RECORD } from './storage.ts';

export const DEVICE_ID_LENGTH = 16;
const REFERENCE_PREFIX = 32;

/** The `client/identity` record. */
interface IdentityRecord {
  readonly handle: string;
  readonly ed25519: string;
  readonly mldsa65: string;
  readonly deviceId: string;
  /** The contact seed (named for the single mailbox it once was the secret of). */
  readonly mailboxSecret: string;
  /**
   * False from the moment the keys are made until the service has bound the handle to them and holds their
   * KeyPackages. Absent in records written before the flag existed: those identities count as registered
   * (calling register() again completes one that was interrupted, as it did then).
   */
  registered?: boolean;
}

export class OwnIdentity {
  readonly handle: string;
  readonly keys: IdentityKeyPair;
  readonly deviceId: Uint8Array;
  /** Derives the secret of every KeyPackage's contact mailbox (src/protocol/contact.ts). */
  readonly contactSeed: Uint8Array;
  registered: boolean;

  private constructor(record: IdentityRecord) {
    this.handle = record.handle;
    this.keys = IdentityKeyPair.fromSeeds(
      fromBase64Url(record.ed25519),
      fromBase64Url(record.mldsa65),
      platformBackend,
    );
    this.deviceId = fromBase64Url(record.deviceId);
    this.contactSeed = fromBase64Url(record.mailboxSecret);
    this.registered = record.registered ?? true;
  }

  static create(handle: string): OwnIdentity {
    const keys = IdentityKeyPair.generate(platformBackend);
    return new OwnIdentity({
      handle,
      ed25519: toBase64Url(keys.ed25519.secretKey),
      mldsa65: toBase64Url(keys.mldsa65.secretKey),
      deviceId: toBase64Url(randomBytes(DEVICE_ID_LENGTH)),
      mailboxSecret: toBase64Url(randomBytes(ID_LENGTH)),
      registered: false,
    });
  }

  static async load(vault: ClientVault): Promise<OwnIdentity | undefined> {
    const record = await getJson<IdentityRecord>(vault, RECORD.identity);
    return record === undefined ? undefined : new OwnIdentity(record);
  }

  get publicKey(): IdentityKey {
    return this.keys.publicKey;
  }

  save(vault: ClientVault): Promise<void> {
    const record: IdentityRecord = {
      handle: this.handle,
      ed25519: toBase64Url(this.keys.ed25519.secretKey),
      mldsa65: toBase64Url(this.keys.mldsa65.secretKey),
      deviceId: toBase64Url(this.deviceId),
      mailboxSecret: toBase64Url(this.contactSeed),
      registered: this.registered,
    };
    return putJson(vault, RECORD.identity, record);
  }
}

/**
 * The identity the client signs delivery requests with, before and after registration: the `DeliveryClient`s
 * are made once, when the client opens, and sign with whatever identity the client has by then.
 */
export class IdentitySlot implements IdentitySigner {
  #identity: OwnIdentity | undefined;

  set(identity: OwnIdentity | undefined): void {
    this.#identity = identity;
  }

  get current(): OwnIdentity | undefined {
    return this.#identity;
  }

  get publicKey(): IdentityKey {
    return this.#require().publicKey;
  }

  sign(message: Uint8Array): Uint8Array {
    return this.#require().keys.sign(message);
  }

  #require(): OwnIdentity {
    if (this.#identity === undefined) throw new ArgumentError('identity', 'the client is not registered');
    return this.#identity;
  }
}

/** A KeyPackage's upload ID: a prefix of its KeyPackageRef, which anyone holding the KeyPackage can compute. */
export function keyPackageUploadId(reference: Uint8Array): Uint8Array {
  return reference.slice(0, REFERENCE_PREFIX);
}

interface KeyPackageRecord {
  readonly keyPackage: string;
  readonly secrets: string;
  readonly lastResort: boolean;
}

/**
 * One entry of the `client/contact-mailboxes` record: every KeyPackage this device holds keys for, in the
 * order they were made (the order the service hands them out), with what the owner noted about each. One
 * record, so that a poll reads one record and not the whole vault.
 */
interface ContactEntry {
  /** The upload ID, hex. */
  readonly id: string;
  readonly lastResort: boolean;
  /** The last sequence number read from this KeyPackage's contact mailbox (absent: none). */
  readonly cursor?: number;
  /** When a refill first found this one-time KeyPackage claimed (absent: not seen claimed). */
  readonly claimedSeenAt?: number;
}

export interface StoredKeyPackage extends OwnKeyPackage {
  readonly uploadId: Uint8Array;
  readonly lastResort: boolean;
}

/** One KeyPackage's contact mailbox, as the owner reads it. */
export interface ContactMailbox {
  readonly uploadId: Uint8Array;
  readonly secret: Uint8Array;
  readonly cursor: number;
  readonly lastResort: boolean;
  readonly claimedSeenAt: number | undefined;
}

function keyPackageRecordName(uploadId: Uint8Array): string {
  return `${RECORD.keyPackagePrefix}${toHex(uploadId)}`;
}

/** A new KeyPackage signed with the identity's Ed25519 key, stored in the vault before it is published. */
export async function newKeyPackage(
  mls: Mls,
  identity: OwnIdentity,
  vault: ClientVault,
  lastResort: boolean,
): Promise<StoredKeyPackage> {
  const generated: GeneratedKeyPackage = await mls.generateKeyPackage({
    identity: new TextEncoder().encode(identity.handle),
    signatureKeyPair: identity.keys.ed25519,
  });
  const uploadId = keyPackageUploadId(generated.reference);
  const record: KeyPackageRecord = {
    keyPackage: toBase64Url(generated.keyPackage),
    secrets: toBase64Url(generated.secrets.encode()),
    lastResort,
  };
  await putJson(vault, keyPackageRecordName(uploadId), record);
  const id = toHex(uploadId);
  // (A vault from before the record lists this one already, when the record is first built.)
  await updateContacts(vault, (entries) =>
    entries.some((entry) => entry.id === id) ? entries : [...entries, { id, lastResort }],
  );
  return { keyPackage: generated.keyPackage, secrets: generated.secrets, uploadId, lastResort };
}

export async function loadKeyPackage(
  vault: ClientVault,
  uploadId: Uint8Array,
): Promise<StoredKeyPackage | undefined> {
  const record = await getJson<KeyPackageRecord>(vault, keyPackageRecordName(uploadId));
  if (record === undefined) return undefined;
  return {
    keyPackage: fromBase64Url(record.keyPackage),
    secrets: KeyPackageSecrets.decode(fromBase64Url(record.secrets)),
    uploadId,
    lastResort: record.lastResort,
  };
}

/** Forgets a used one-time KeyPackage: its keys must not open another Welcome. */
export async function dropKeyPackage(vault: ClientVault, stored: StoredKeyPackage): Promise<void> {
  stored.secrets.wipe();
  await forgetKeyPackage(vault, stored.uploadId);
}

/** What is published for `stored`: its KeyPackage and the contact mailbox its Welcome goes to. */
export function publishedKeyPackage(identity: OwnIdentity, stored: StoredKeyPackage): Uint8Array {
  return encodeContactKeyPackage({
    contactMailboxId: contactMailboxId(identity.contactSeed, stored.uploadId, platformBackend),
    keyPackage: stored.keyPackage,
  });
}

/** The contact mailboxes of every KeyPackage this device still holds keys for, oldest first. */
export async function contactMailboxes(vault: ClientVault, identity: OwnIdentity): Promise<ContactMailbox[]> {
  return (await readContacts(vault)).map((entry) => {
    const uploadId = fromHex(entry.id);
    return {
      uploadId,
      secret: contactMailboxSecret(identity.contactSeed, uploadId, platformBackend),
      cursor: entry.cursor ?? 0,
      lastResort: entry.lastResort,
      claimedSeenAt: entry.claimedSeenAt,
    };
  });
}

/** Notes a contact mailbox's cursor or when its KeyPackage was seen claimed; a dropped one stays dropped. */
export function noteKeyPackage(
  vault: ClientVault,
  uploadId: Uint8Array,
  note: { readonly cursor?: number; readonly claimedSeenAt?: number },
): Promise<void> {
  const id = toHex(uploadId);
  return updateContacts(vault, (entries) =>
    entries.map((entry) => (entry.id === id ? { ...entry, ...note } : entry)),
  );
}

/** Forgets a KeyPackage by upload ID: its record (with its keys) and its contact mailbox. */
export async function forgetKeyPackage(vault: ClientVault, uploadId: Uint8Array): Promise<void> {
  const id = toHex(uploadId);
  await updateContacts(vault, (entries) => entries.filter((entry) => entry.id !== id));
  await vault.delete(keyPackageRecordName(uploadId));
}

interface ContactsRecord {
  readonly entries: readonly ContactEntry[];
}

/**
 * The entries, oldest first. A vault from before the record existed has its KeyPackages listed once from the
 * vault (their order unknown: sorted by ID, every one counted unclaimed until a refill notes otherwise).
 */
async function readContacts(vault: ClientVault): Promise<readonly ContactEntry[]> {
  const record = await getJson<ContactsRecord>(vault, RECORD.contactMailboxes);
  if (record !== undefined) return record.entries;
  const entries: ContactEntry[] = [];
  for (const name of await vault.list()) {
    if (!name.startsWith(RECORD.keyPackagePrefix)) continue;
    const stored = await getJson<KeyPackageRecord>(vault, name);
    if (stored !== undefined) {
      entries.push({ id: name.slice(RECORD.keyPackagePrefix.length), lastResort: stored.lastResort });
    }
  }
  return entries;
}

/** Read-modify-write of the entries, one at a time per vault. */
const contactWrites = new WeakMap<ClientVault, Promise<unknown>>();

function updateContacts(
  vault: ClientVault,
  change: (entries: readonly ContactEntry[]) => readonly ContactEntry[],
): Promise<void> {
  const run = (contactWrites.get(vault) ?? Promise.resolve()).then(async () => {
    const record: ContactsRecord = { entries: change(await readContacts(vault)) };
    await putJson(vault, RECORD.contactMailboxes, record);
  });
  contactWrites.set(
    vault,
    run.catch(() => undefined),
  );
  return run;
}
