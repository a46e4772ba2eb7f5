/**
 * The vault: umbra's state at rest (identity keys, MLS group state, contacts, history), encrypted under a
 * passphrase. Argon2id (RFC 9106) turns the passphrase and a random salt into a key-encryption key, which
 * wraps a random 32-byte data key with XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) in a small header
 * blob; changing the passphrase rewrites only that header. Every record is a separate blob sealed under a
 * key derived from the data key (HKDF-SHA-256, RFC 5869), in a file named by an HMAC of the record's name
 * so that file names reveal nothing; the name itself travels encrypted inside the record, for `list`.
 *
 * Header (format version 1, 122 bytes): "UMBRAVLT" ‖ version (1) ‖ vault id (16) ‖ Argon2id memory in KiB
 * (u32, big-endian) ‖ iterations (u32) ‖ parallelism (u8) ‖ salt (16) ‖ nonce (24) ‖ wrapped data key (48).
 * Everything before the nonce is the wrap's associated data, so the parameters cannot be altered unnoticed.
 * A header with an unknown magic or version is `unsupported_format`, one of the wrong length or with
 * impossible parameters, or a cost above `MAXIMUM_KDF_PARAMETERS`, is `tampered` (found before Argon2id
 * runs); any other alteration cannot be told from a wrong passphrase and is reported as `wrong_passphrase`.
 *
 * Record: nonce (24) ‖ XChaCha20-Poly1305 of (name length (u16) ‖ UTF-8 name ‖ value), with associated data
 * "umbra/vault record" ‖ version ‖ vault id ‖ file id, where the file id (the HMAC of the name, which is also
 * the file name) stands for the name: a record moved to another file name, or into another vault, fails as
 * `tampered`. Not detected: replacing a record with an older version of itself, or deleting a record file;
 * file count and sizes reveal how many records there are and roughly how large.
 *
 * The blobs live in a `BlobStore` (vault/blob-store.ts: named blobs, each replaced atomically) that the caller
 * passes in: `IndexedDbStore` in browsers, `DirectoryStore` or simply a directory path under Node. A path is
 * turned into a `DirectoryStore` by a run-time import, so that bundles of this module never contain the
 * file-system store or `node:fs`.
 *
 * One `Vault` instance serializes its own operations; two instances (or processes) writing to one store at
 * the same time are not supported.
 */
import { backend as defaultBackend } from '#default-backend';
import { concatBytes, constantTimeEqual, fromHex, fromUtf8, toHex, utf8, wipe } from '../bytes.ts';
import { ArgumentError, AuthenticationError, VaultError } from '../errors.ts';
import type { Argon2Parameters, CryptoBackend } from './backend.ts';
import { randomBytes } from './random.ts';
import { SecretHolder } from './secret.ts';
import type { BlobStore } from './vault/blob-store.ts';

/** Where a vault lives: a `BlobStore`, or (Node only) a directory path for a `DirectoryStore`. */
export type VaultStorage = BlobStore | string;

/** Text (NFKC-normalized, then UTF-8, so equivalent spellings open the vault) or raw bytes, used as given. */
export type Passphrase = string | Uint8Array;

export interface VaultOptions {
  /** The crypto backend; the platform default (`node` under Node.js, `portable` in browsers) unless set. */
  readonly backend?: CryptoBackend;
}

export interface KdfOptions {
  /**
   * Argon2id parameters; they must lie between `MINIMUM_KDF_PARAMETERS` and `MAXIMUM_KDF_PARAMETERS`.
   * `DEFAULT_KDF_PARAMETERS` unless set.
   */
  readonly kdf?: Argon2Parameters;
  /**
   * Argon2id parameters with no minimum (the maximum still holds), so that test suites run fast (see
   * `UNSAFE_TEST_KDF_PARAMETERS`).
   * A vault created this way falls to a passphrase-guessing attack in moments: never use it for real data.
   */
  readonly unsafeKdfForTests?: Argon2Parameters;
}

export interface CreateVaultOptions extends VaultOptions, KdfOptions {}

export type VaultState = 'open' | 'closed' | 'wiped';

export const VAULT_FORMAT_VERSION = 1;

/** RFC 9106 §4's second recommended option, with one lane: 64 MiB, 3 passes. */
export const DEFAULT_KDF_PARAMETERS: Argon2Parameters = Object.freeze({
  memoryKiB: 65_536,
  iterations: 3,
  parallelism: 1,
});

/**
 * The floor for `kdf`: at least 19 MiB and at least 19 MiB × 2 passes of memory-time (the weakest settings
 * OWASP's Password Storage Cheat Sheet lists for Argon2id are 19 MiB × 2 and 46 MiB × 1).
 */
export const MINIMUM_KDF_PARAMETERS = Object.freeze({ memoryKiB: 19_456, memoryTimeKiB: 2 * 19_456 });

/**
 * The ceiling for every vault, checked when a header is read (before Argon2id runs, since the header is not
 * yet authenticated) and when one is written: at most 1 GiB of memory, and memory × passes at most 4 GiB
 * (1 GiB × 4, 256 MiB × 16, 64 MiB × 64: about 21 times the default's cost). RFC 9106's first option (2 GiB,
 * one pass) is outside it on purpose: a browser tab or phone cannot be counted on to allocate 2 GiB. Without
 * the ceiling one flipped bit in a header's cost fields could make unlock demand up to 4 GiB, or run for
 * minutes to hours before the wrong key is noticed. Lanes are not capped: they divide the memory rather than
 * add to the work.
 */
export const MAXIMUM_KDF_PARAMETERS = Object.freeze({ memoryKiB: 1_048_576, memoryTimeKiB: 4 * 1_048_576 });

/** For tests only, through `unsafeKdfForTests`: 256 KiB, one pass. */
export const UNSAFE_TEST_KDF_PARAMETERS: Argon2Parameters = Object.freeze({
  memoryKiB: 256,
  iterations: 1,
  parallelism: 1,
});

/** Longest record name, in UTF-8 bytes. Names are identifiers chosen by umbra, not user content. */
export const MAX_RECORD_NAME_BYTES = 1024;

const MAGIC = utf8('UMBRAVLT');
const VAULT_ID_LENGTH = 16;
const SALT_LENGTH = 16;
const KEY_LENGTH = 32;
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
/** Magic, version, vault id, memory, iterations, parallelism, salt: the associated data of the key wrap. */
const HEADER_AUTHENTICATED_LENGTH = MAGIC.length + 1 + VAULT_ID_LENGTH + 4 + 4 + 1 + SALT_LENGTH;
const HEADER_LENGTH = HEADER_AUTHENTICATED_LENGTH + NONCE_LENGTH + KEY_LENGTH + TAG_LENGTH;
const NAME_LENGTH_BYTES = 2;

const HEADER_BLOB = 'vault.header';
const RECORD_BLOB = /^([0-9a-f]{64})\.record$/;
const RECORD_KEY_LABEL = utf8('umbra/vault record encryption key');
const NAME_KEY_LABEL = utf8('umbra/vault record file-name key');
const RECORD_LABEL = utf8('umbra/vault record');

/**
 * Argon2id parameters that the backends accept (RFC 9106 §3.1, memory capped at 4 GiB) and the header can
 * hold: what is possible, where `MAXIMUM_KDF_PARAMETERS` bounds what a vault may cost.
 */
function isValidKdf(parameters: unknown): parameters is Argon2Parameters {
  if (typeof parameters !== 'object' || parameters === null) return false;
  const { memoryKiB, iterations, parallelism } = parameters as Record<string, unknown>;
  const inRange = (value: unknown, low: number, high: number): value is number =>
    Number.isSafeInteger(value) && (value as number) >= low && (value as number) <= high;
  return (
    inRange(parallelism, 1, 255) &&
    inRange(iterations, 1, 1 << 16) &&
    inRange(memoryKiB, 8 * parallelism, 4 * 1024 * 1024)
  );
}

function isWithinMaximum(parameters: Argon2Parameters): boolean {
  return (
    parameters.memoryKiB <= MAXIMUM_KDF_PARAMETERS.memoryKiB &&
    parameters.memoryKiB * parameters.iterations <= MAXIMUM_KDF_PARAMETERS.memoryTimeKiB
  );
}

/** Refused here rather than written: a vault above the ceiling could never be opened again. */
function checkMaximum(argument: string, parameters: Argon2Parameters): void {
  if (!isWithinMaximum(parameters)) {
    throw new ArgumentError(argument, 'above MAXIMUM_KDF_PARAMETERS, so the vault could never be opened');
  }
}

function chooseKdf(options: KdfOptions, fallback: Argon2Parameters): Argon2Parameters {
  const { kdf, unsafeKdfForTests } = options;
  if (kdf !== undefined && unsafeKdfForTests !== undefined) {
    throw new ArgumentError('options', 'give kdf or unsafeKdfForTests, not both');
  }
  if (unsafeKdfForTests !== undefined) {
    if (!isValidKdf(unsafeKdfForTests)) {
      throw new ArgumentError('unsafeKdfForTests', 'invalid Argon2id parameters');
    }
    checkMaximum('unsafeKdfForTests', unsafeKdfForTests);
    return Object.freeze({ ...unsafeKdfForTests });
  }
  if (kdf === undefined) return fallback;
  if (!isValidKdf(kdf)) throw new ArgumentError('kdf', 'invalid Argon2id parameters');
  if (
    kdf.memoryKiB < MINIMUM_KDF_PARAMETERS.memoryKiB ||
    kdf.memoryKiB * kdf.iterations < MINIMUM_KDF_PARAMETERS.memoryTimeKiB
  ) {
    throw new ArgumentError('kdf', 'below MINIMUM_KDF_PARAMETERS (use unsafeKdfForTests in tests)');
  }
  checkMaximum('kdf', kdf);
  return Object.freeze({ ...kdf });
}

function checkOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new ArgumentError('options', 'expected an object');
  }
  const { backend } = options as Record<string, unknown>;
  if (
    backend !== undefined &&
    (typeof backend !== 'object' || backend === null || !('argon2id' in backend))
  ) {
    throw new ArgumentError('backend', 'expected a CryptoBackend');
  }
}

/** Not a static import: bundlers do not follow it, so browser bundles stay free of `node:fs`. */
const DIRECTORY_STORE_MODULE = new URL('./vault/directory-store.ts', import.meta.url).href;

function isBlobStore(value: object): value is BlobStore {
  const store = value as Record<string, unknown>;
  return (
    typeof store.location === 'string' &&
    ['read', 'write', 'writeNew', 'remove', 'list', 'destroy'].every(
      (method) => typeof store[method] === 'function',
    )
  );
}

async function blobStore(storage: unknown): Promise<BlobStore> {
  if (typeof storage === 'string') {
    if (storage === '') throw new ArgumentError('storage', 'expected a non-empty path or a BlobStore');
    const { DirectoryStore } = (await import(
      DIRECTORY_STORE_MODULE
    )) as typeof import('./vault/directory-store.ts');
    return new DirectoryStore(storage);
  }
  if (typeof storage !== 'object' || storage === null || !isBlobStore(storage)) {
    throw new ArgumentError('storage', 'expected a non-empty path or a BlobStore');
  }
  return storage;
}

/** Fresh bytes for the caller to wipe (a copy even of a byte passphrase, which stays the caller's). */
function passphraseBytes(argument: string, passphrase: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof passphrase === 'string') {
    if (!passphrase.isWellFormed()) throw new ArgumentError(argument, 'contains a lone surrogate');
    // NFKC so that one passphrase typed on different keyboards or systems (composed or decomposed accents,
    // full-width forms, ligatures) gives the same bytes, as RFC 8265's OpaqueString profile intends.
    bytes = utf8(passphrase.normalize('NFKC'));
  } else if (passphrase instanceof Uint8Array) {
    bytes = passphrase.slice();
  } else {
    throw new ArgumentError(argument, 'expected a string or a Uint8Array');
  }
  if (bytes.length === 0) throw new ArgumentError(argument, 'must not be empty');
  return bytes;
}

function checkRecordName(name: unknown): Uint8Array {
  if (typeof name !== 'string' || name === '') throw new ArgumentError('name', 'expected a non-empty string');
  if (!name.isWellFormed()) throw new ArgumentError('name', 'contains a lone surrogate');
  const bytes = utf8(name);
  if (bytes.length > MAX_RECORD_NAME_BYTES) {
    throw new ArgumentError('name', `longer than ${MAX_RECORD_NAME_BYTES} UTF-8 bytes`);
  }
  return bytes;
}

interface Header {
  readonly authenticated: Uint8Array;
  readonly vaultId: Uint8Array;
  readonly kdf: Argon2Parameters;
  readonly salt: Uint8Array;
  readonly nonce: Uint8Array;
  readonly wrappedKey: Uint8Array;
}

function decodeHeader(bytes: Uint8Array): Header {
  const magic = bytes.subarray(0, MAGIC.length);
  if (!constantTimeEqual(magic, MAGIC.subarray(0, magic.length))) {
    throw new VaultError('unsupported_format', 'not an umbra vault header');
  }
  if (bytes.length > MAGIC.length && bytes[MAGIC.length] !== VAULT_FORMAT_VERSION) {
    throw new VaultError('unsupported_format', `unknown vault format version ${bytes[MAGIC.length]}`);
  }
  if (bytes.length !== HEADER_LENGTH) {
    throw new VaultError('tampered', 'the vault header has the wrong length');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vaultIdAt = MAGIC.length + 1;
  const kdfAt = vaultIdAt + VAULT_ID_LENGTH;
  const kdf = {
    memoryKiB: view.getUint32(kdfAt),
    iterations: view.getUint32(kdfAt + 4),
    parallelism: view.getUint8(kdfAt + 8),
  };
  if (!isValidKdf(kdf)) throw new VaultError('tampered', 'the vault header has invalid Argon2id parameters');
  if (!isWithinMaximum(kdf)) {
    throw new VaultError('tampered', 'the vault header asks for Argon2id above MAXIMUM_KDF_PARAMETERS');
  }
  const nonceAt = HEADER_AUTHENTICATED_LENGTH;
  return {
    authenticated: bytes.subarray(0, nonceAt),
    vaultId: bytes.subarray(vaultIdAt, kdfAt),
    kdf,
    salt: bytes.subarray(nonceAt - SALT_LENGTH, nonceAt),
    nonce: bytes.subarray(nonceAt, nonceAt + NONCE_LENGTH),
    wrappedKey: bytes.subarray(nonceAt + NONCE_LENGTH),
  };
}

function encodeHeaderAuthenticated(vaultId: Uint8Array, kdf: Argon2Parameters, salt: Uint8Array): Uint8Array {
  const parameters = new Uint8Array(9);
  const view = new DataView(parameters.buffer);
  view.setUint32(0, kdf.memoryKiB);
  view.setUint32(4, kdf.iterations);
  view.setUint8(8, kdf.parallelism);
  return concatBytes(MAGIC, Uint8Array.of(VAULT_FORMAT_VERSION), vaultId, parameters, salt);
}

async function sealHeader(
  backend: CryptoBackend,
  passphrase: Uint8Array,
  vaultId: Uint8Array,
  kdf: Argon2Parameters,
  dataKey: Uint8Array,
): Promise<Uint8Array> {
  const salt = randomBytes(SALT_LENGTH);
  const authenticated = encodeHeaderAuthenticated(vaultId, kdf, salt);
  const keyEncryptionKey = await backend.argon2id(passphrase, salt, kdf);
  try {
    const nonce = randomBytes(NONCE_LENGTH);
    return concatBytes(
      authenticated,
      nonce,
      backend.xchacha20poly1305.seal(keyEncryptionKey, nonce, dataKey, authenticated),
    );
  } finally {
    wipe(keyEncryptionKey);
  }
}

/** The data key, or `wrong_passphrase`. */
async function unsealHeader(
  backend: CryptoBackend,
  passphrase: Uint8Array,
  header: Header,
): Promise<Uint8Array> {
  const keyEncryptionKey = await backend.argon2id(passphrase, header.salt, header.kdf);
  try {
    return backend.xchacha20poly1305.open(
      keyEncryptionKey,
      header.nonce,
      header.wrappedKey,
      header.authenticated,
    );
  } catch (error) {
    if (error instanceof AuthenticationError) {
      throw new VaultError('wrong_passphrase', 'the passphrase does not open this vault');
    }
    throw error;
  } finally {
    wipe(keyEncryptionKey);
  }
}

async function readHeader(store: BlobStore): Promise<Header> {
  const bytes = await store.read(HEADER_BLOB);
  if (bytes === undefined) throw new VaultError('not_found', `no vault in ${store.location}`);
  return decodeHeader(bytes);
}

function isVaultBlob(name: string): boolean {
  return name === HEADER_BLOB || RECORD_BLOB.test(name);
}

export class Vault extends SecretHolder {
  readonly #store: BlobStore;
  readonly #backend: CryptoBackend;
  readonly #vaultId: Uint8Array;
  readonly #dataKey: Uint8Array;
  readonly #recordKey: Uint8Array;
  readonly #nameKey: Uint8Array;
  #kdf: Argon2Parameters;
  #state: VaultState = 'open';
  /** The tail of this instance's operation queue: each operation starts when the previous one settles. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    store: BlobStore,
    backend: CryptoBackend,
    vaultId: Uint8Array,
    kdf: Argon2Parameters,
    dataKey: Uint8Array,
  ) {
    super();
    this.#store = store;
    this.#backend = backend;
    this.#vaultId = vaultId;
    this.#kdf = kdf;
    this.#dataKey = dataKey;
    // Separate keys for the AEAD and for the file-name PRF, so neither use can interact with the other.
    this.#recordKey = backend.hkdfSha256(dataKey, vaultId, RECORD_KEY_LABEL, KEY_LENGTH);
    this.#nameKey = backend.hkdfSha256(dataKey, vaultId, NAME_KEY_LABEL, KEY_LENGTH);
  }

  /**
   * Creates a vault in `storage` (a directory path is made, mode 0700, if absent); `already_exists` if one is
   * there.
   */
  static async create(
    storage: VaultStorage,
    passphrase: Passphrase,
    options: CreateVaultOptions = {},
  ): Promise<Vault> {
    checkOptions(options);
    const kdf = chooseKdf(options, DEFAULT_KDF_PARAMETERS);
    const backend = options.backend ?? defaultBackend;
    const store = await blobStore(storage);
    const secret = passphraseBytes('passphrase', passphrase);
    const dataKey = randomBytes(KEY_LENGTH);
    try {
      if ((await store.list()).some(isVaultBlob)) {
        throw new VaultError('already_exists', `${store.location} already holds a vault`);
      }
      const vaultId = randomBytes(VAULT_ID_LENGTH);
      const header = await sealHeader(backend, secret, vaultId, kdf, dataKey);
      if (!(await store.writeNew(HEADER_BLOB, header))) {
        throw new VaultError('already_exists', `${store.location} already holds a vault`);
      }
      return new Vault(store, backend, vaultId, kdf, dataKey);
    } catch (error) {
      wipe(dataKey);
      throw error;
    } finally {
      wipe(secret);
    }
  }

  /** Opens the vault in `storage`, or fails: not_found, wrong_passphrase, unsupported_format, tampered. */
  static async open(
    storage: VaultStorage,
    passphrase: Passphrase,
    options: VaultOptions = {},
  ): Promise<Vault> {
    checkOptions(options);
    const backend = options.backend ?? defaultBackend;
    const store = await blobStore(storage);
    const secret = passphraseBytes('passphrase', passphrase);
    try {
      const header = await readHeader(store);
      const dataKey = await unsealHeader(backend, secret, header);
      return new Vault(store, backend, header.vaultId.slice(), header.kdf, dataKey);
    } finally {
      wipe(secret);
    }
  }

  get state(): VaultState {
    return this.#state;
  }

  /** The Argon2id parameters the current header was sealed with. */
  get kdfParameters(): Argon2Parameters {
    return this.#kdf;
  }

  /** Stores `value` under `name`, replacing any previous value atomically. */
  async put(name: string, value: Uint8Array): Promise<void> {
    const nameBytes = checkRecordName(name);
    if (!(value instanceof Uint8Array)) throw new ArgumentError('value', 'expected a Uint8Array');
    return this.#exclusive(async () => {
      const fileId = this.#fileId(nameBytes);
      const plaintext = new Uint8Array(NAME_LENGTH_BYTES + nameBytes.length + value.length);
      new DataView(plaintext.buffer).setUint16(0, nameBytes.length);
      plaintext.set(nameBytes, NAME_LENGTH_BYTES);
      plaintext.set(value, NAME_LENGTH_BYTES + nameBytes.length);
      const nonce = randomBytes(NONCE_LENGTH);
      const sealed = this.#backend.xchacha20poly1305.seal(
        this.#recordKey,
        nonce,
        plaintext,
        this.#recordAd(fileId),
      );
      wipe(plaintext);
      await this.#store.write(recordBlob(fileId), concatBytes(nonce, sealed));
    });
  }

  /** The value stored under `name`, or undefined when there is none; `tampered` if its file was altered. */
  async get(name: string): Promise<Uint8Array | undefined> {
    const nameBytes = checkRecordName(name);
    return this.#exclusive(async () => {
      const fileId = this.#fileId(nameBytes);
      const bytes = await this.#store.read(recordBlob(fileId));
      return bytes === undefined ? undefined : this.#openRecord(fileId, bytes).value;
    });
  }

  /** Deletes the record; returns false when there was none. */
  async delete(name: string): Promise<boolean> {
    const nameBytes = checkRecordName(name);
    return this.#exclusive(() => this.#store.remove(recordBlob(this.#fileId(nameBytes))));
  }

  /** All record names, sorted. It decrypts every record, so one altered file makes it fail (`tampered`). */
  async list(): Promise<string[]> {
    return this.#exclusive(async () => {
      const names: string[] = [];
      for (const blob of await this.#store.list()) {
        const fileIdHex = RECORD_BLOB.exec(blob)?.[1];
        if (fileIdHex === undefined) continue;
        const bytes = await this.#store.read(blob);
        if (bytes !== undefined) names.push(this.#openRecord(fromHex(fileIdHex), bytes).name);
      }
      return names.sort();
    });
  }

  /**
   * Re-wraps the data key under a new passphrase (with a fresh salt, and new Argon2id parameters if given),
   * replacing the header atomically; records are untouched. `wrong_passphrase` if `oldPassphrase` is wrong.
   */
  async changePassphrase(
    oldPassphrase: Passphrase,
    newPassphrase: Passphrase,
    options: KdfOptions = {},
  ): Promise<void> {
    checkOptions(options);
    const kdf = chooseKdf(options, this.#kdf);
    const secrets: Uint8Array[] = [];
    try {
      const oldSecret = passphraseBytes('oldPassphrase', oldPassphrase);
      secrets.push(oldSecret);
      const newSecret = passphraseBytes('newPassphrase', newPassphrase);
      secrets.push(newSecret);
      await this.#exclusive(async () => {
        const dataKey = await unsealHeader(this.#backend, oldSecret, await readHeader(this.#store));
        const sameVault = constantTimeEqual(dataKey, this.#dataKey);
        wipe(dataKey);
        if (!sameVault) throw new VaultError('tampered', 'the header on disk belongs to another vault');
        const header = await sealHeader(this.#backend, newSecret, this.#vaultId, kdf, this.#dataKey);
        await this.#store.write(HEADER_BLOB, header);
        this.#kdf = kdf;
      });
    } finally {
      wipe(...secrets);
    }
  }

  /**
   * The panic button. Overwrites the header (the only wrapped copy of the data key) and then every record
   * and interrupted write with random bytes, deletes them and the container (directory, database) if nothing
   * else is left in it,
   * and zeroes the keys in memory. No passphrase opens the vault afterwards: `Vault.open` reports
   * `not_found` — deliberately the same as for a directory that never held a vault.
   */
  async wipe(): Promise<void> {
    return this.#exclusive(async () => {
      try {
        const records = (await this.#store.list()).filter((blob) => RECORD_BLOB.test(blob));
        await this.#store.destroy([HEADER_BLOB, ...records]);
      } finally {
        this.#forgetKeys('wiped');
      }
    });
  }

  /** Zeroes the keys in memory once pending operations finish. Idempotent; later calls fail with `closed`. */
  async close(): Promise<void> {
    const pending = this.#queue;
    this.#queue = pending.then(() => {
      if (this.#state === 'open') this.#forgetKeys('closed');
    });
    await this.#queue;
  }

  protected override publicView(): Record<string, unknown> {
    return { location: this.#store.location, state: this.#state, kdf: this.#kdf };
  }

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(() => {
      if (this.#state !== 'open') throw new VaultError(this.#state, `the vault is ${this.#state}`);
      return operation();
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #forgetKeys(state: 'closed' | 'wiped'): void {
    wipe(this.#dataKey, this.#recordKey, this.#nameKey);
    this.#state = state;
  }

  #fileId(nameBytes: Uint8Array): Uint8Array {
    return this.#backend.hmacSha256(this.#nameKey, nameBytes);
  }

  #recordAd(fileId: Uint8Array): Uint8Array {
    return concatBytes(RECORD_LABEL, Uint8Array.of(VAULT_FORMAT_VERSION), this.#vaultId, fileId);
  }

  #openRecord(fileId: Uint8Array, bytes: Uint8Array): { name: string; value: Uint8Array } {
    const tampered = () => new VaultError('tampered', 'a record file was altered, truncated or moved');
    if (bytes.length < NONCE_LENGTH + TAG_LENGTH) throw tampered();
    let plaintext: Uint8Array;
    try {
      plaintext = this.#backend.xchacha20poly1305.open(
        this.#recordKey,
        bytes.subarray(0, NONCE_LENGTH),
        bytes.subarray(NONCE_LENGTH),
        this.#recordAd(fileId),
      );
    } catch (error) {
      if (error instanceof AuthenticationError) throw tampered();
      throw error;
    }
    // Authentic plaintext was written by `put`, so its layout holds; it is decoded without further checks.
    const nameLength = new DataView(plaintext.buffer, plaintext.byteOffset).getUint16(0);
    const nameEnd = NAME_LENGTH_BYTES + nameLength;
    const record = {
      name: fromUtf8(plaintext.subarray(NAME_LENGTH_BYTES, nameEnd)),
      value: plaintext.slice(nameEnd),
    };
    wipe(plaintext);
    return record;
  }
}

function recordBlob(fileId: Uint8Array): string {
  return `${toHex(fileId)}.record`;
}
