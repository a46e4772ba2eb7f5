/**
 * The client's own identity and its KeyPackage stock (issue #4; RFC 9420 §10, §16.8). The identity key is
 * the delivery protocol's hybrid key (Ed25519 + ML-DSA-65, src/protocol/identity.ts): the service binds the
 * handle to it, and the client's MLS leaves sign with its Ed25519 half, so the authentication service can
 * check any leaf against the handle's registration.
 *
 * Invitations reach a member through its mailbox, whose ID others learn from the KeyPackages they claim:
 * the upload ID of every KeyPackage is `mailbox ID (32) ‖ first 32 bytes of its KeyPackageRef`. The ID is
 * not secret (anyone may post to a mailbox); only the owner, who holds the mailbox secret, reads it. The
 * service learns which handle owns the mailbox, which it could infer from the claims anyway.
 */
import { backend as platformBackend } from '#default-backend';
import { fromBase64Url, toBase64Url, toHex } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { ArgumentError } from '../errors.ts';
import { type GeneratedKeyPackage, KeyPackageSecrets, type Mls, type OwnKeyPackage } from '../mls/index.ts';
import { ID_LENGTH, type IdentityKey, type IdentitySigner } from '../protocol/api.ts';
import { IdentityKeyPair, mailboxIdOf } from '../protocol/identity.ts';
import { type ClientVault, getJson, putJson, RECORD } from './storage.ts';

export const DEVICE_ID_LENGTH = 16;
const REFERENCE_PREFIX = 32;

/** The `client/identity` record. */
interface IdentityRecord {
  readonly handle: string;
  readonly ed25519: string;
  readonly mldsa65: string;
  readonly deviceId: string;
  readonly mailboxSecret: string;
  mailboxCursor: number;
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
  readonly mailboxSecret: Uint8Array;
  readonly mailboxId: Uint8Array;
  mailboxCursor: number;
  registered: boolean;

  private constructor(record: IdentityRecord) {
    this.handle = record.handle;
    this.keys = IdentityKeyPair.fromSeeds(
      fromBase64Url(record.ed25519),
      fromBase64Url(record.mldsa65),
      platformBackend,
    );
    this.deviceId = fromBase64Url(record.deviceId);
    this.mailboxSecret = fromBase64Url(record.mailboxSecret);
    this.mailboxId = mailboxIdOf(this.mailboxSecret, platformBackend);
    this.mailboxCursor = record.mailboxCursor;
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
      mailboxCursor: 0,
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
      mailboxSecret: toBase64Url(this.mailboxSecret),
      mailboxCursor: this.mailboxCursor,
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

/** A KeyPackage's upload ID: the owner's mailbox ID, then a prefix of its KeyPackageRef. */
export function keyPackageUploadId(mailboxId: Uint8Array, reference: Uint8Array): Uint8Array {
  const id = new Uint8Array(ID_LENGTH + REFERENCE_PREFIX);
  id.set(mailboxId);
  id.set(reference.subarray(0, REFERENCE_PREFIX), ID_LENGTH);
  return id;
}

/** The mailbox an invitation for a claimed KeyPackage goes to, or undefined for an ID of another form. */
export function mailboxOfUploadId(id: Uint8Array): Uint8Array | undefined {
  return id.length === ID_LENGTH + REFERENCE_PREFIX ? id.slice(0, ID_LENGTH) : undefined;
}

interface KeyPackageRecord {
  readonly keyPackage: string;
  readonly secrets: string;
  readonly lastResort: boolean;
}

export interface StoredKeyPackage extends OwnKeyPackage {
  readonly uploadId: Uint8Array;
  readonly lastResort: boolean;
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
  const uploadId = keyPackageUploadId(identity.mailboxId, generated.reference);
  const record: KeyPackageRecord = {
    keyPackage: toBase64Url(generated.keyPackage),
    secrets: toBase64Url(generated.secrets.encode()),
    lastResort,
  };
  await putJson(vault, keyPackageRecordName(uploadId), record);
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
  await vault.delete(keyPackageRecordName(stored.uploadId));
}
