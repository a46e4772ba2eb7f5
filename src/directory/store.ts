/**
 * What the directory authority keeps on disk, in its data directory (created 0700): `authority.key`, the two
 * signing seeds (0600, created exclusively, refused at start if group or others may read it, as ssh refuses
 * a readable private key), `authority.pub`, the public keys' text form to hand to clients and nodes, and
 * `descriptors.json`, the signed descriptors of the kept epochs, so a restart keeps the network. Every file
 * is replaced atomically (write a temporary file, then rename), so a crash leaves the old or the new one.
 */
import { chmod, mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromBase64Url, toBase64Url, wipe } from '../bytes.ts';
import { decode, encode, fixedBytes, literal, struct, u8 } from '../codec/index.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { CodecError, ConfigError } from '../errors.ts';
import { AUTHORITY_SEED_LENGTH, AuthorityKeys, formatAuthorityPublicKeys } from './authority-keys.ts';

export const AUTHORITY_KEY_FILE = 'authority.key';
export const AUTHORITY_PUBLIC_FILE = 'authority.pub';
export const DESCRIPTORS_FILE = 'descriptors.json';

const keyFileCodec = struct({
  version: literal(u8, 1),
  ed25519Seed: fixedBytes(AUTHORITY_SEED_LENGTH),
  mldsa65Seed: fixedBytes(AUTHORITY_SEED_LENGTH),
});

/** Whether file modes mean anything here (they do not on Windows). */
const POSIX_MODES = process.platform !== 'win32';

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'ENOENT';
}

async function writeAtomically(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, data, { mode });
  await rename(temporary, path);
}

async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

/**
 * The authority's keys from `dataDir`, generated and stored on first start. Throws `ConfigError` when the
 * key file is readable by others ('insecure_file') or damaged ('malformed_file').
 */
export async function loadOrCreateAuthorityKeys(
  dataDir: string,
  backend: CryptoBackend,
): Promise<{
  readonly keys: AuthorityKeys;
  readonly created: boolean;
}> {
  await ensureDataDir(dataDir);
  const path = join(dataDir, AUTHORITY_KEY_FILE);
  let created = false;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    if (!isNotFound(error)) throw new ConfigError('unreadable_file', `cannot read ${path}`);
    const keys = AuthorityKeys.generate(backend);
    bytes = encode(keyFileCodec, {
      version: 1 as const,
      ed25519Seed: keys.ed25519.secretKey,
      mldsa65Seed: keys.mldsa65.secretKey,
    });
    // 'wx' fails if another process created the file meanwhile; that one's keys win on the next start.
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    created = true;
  }
  if (POSIX_MODES) {
    const { mode } = await stat(path);
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(
        'insecure_file',
        `${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
      );
    }
  }
  let seeds: { readonly ed25519Seed: Uint8Array; readonly mldsa65Seed: Uint8Array };
  try {
    seeds = decode(keyFileCodec, bytes);
  } catch (error) {
    if (error instanceof CodecError)
      throw new ConfigError('malformed_file', `${path} is not an authority key file`);
    throw error;
  }
  const keys = AuthorityKeys.fromSeeds(backend, seeds.ed25519Seed, seeds.mldsa65Seed);
  wipe(bytes);
  await writeAtomically(
    join(dataDir, AUTHORITY_PUBLIC_FILE),
    `${formatAuthorityPublicKeys(keys.publicKeys)}\n`,
    0o644,
  );
  if (POSIX_MODES) await chmod(join(dataDir, AUTHORITY_PUBLIC_FILE), 0o644);
  return { keys, created };
}

/** The signed descriptors stored by an earlier run (none on first start). */
export async function loadDescriptors(dataDir: string): Promise<Uint8Array[]> {
  const path = join(dataDir, DESCRIPTORS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return [];
    throw new ConfigError('unreadable_file', `cannot read ${path}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    const list = (parsed as { descriptors?: unknown }).descriptors;
    if ((parsed as { version?: unknown }).version !== 1 || !Array.isArray(list)) throw new Error('shape');
    return list.map((item) => {
      if (typeof item !== 'string') throw new Error('shape');
      return fromBase64Url(item);
    });
  } catch {
    throw new ConfigError('malformed_file', `${path} is not a descriptor store`);
  }
}

/**
 * Writes descriptor snapshots one at a time, newest last: saves requested while one is being written are
 * coalesced into one more write of the latest snapshot.
 */
export class DescriptorWriter {
  readonly #path: string;
  #pending: (() => Uint8Array[]) | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    this.#path = join(dataDir, DESCRIPTORS_FILE);
  }

  /**
   * Schedules a save of what `snapshot` returns when the write starts; resolves once it is on disk, rejects if
   * that write fails (a failed write does not stop later ones).
   */
  save(snapshot: () => Uint8Array[]): Promise<void> {
    const alreadyQueued = this.#pending !== undefined;
    this.#pending = snapshot;
    if (!alreadyQueued) {
      const write = () => this.#write();
      this.#writing = this.#writing.then(write, write);
    }
    return this.#writing;
  }

  async #write(): Promise<void> {
    const take = this.#pending;
    this.#pending = undefined;
    if (take === undefined) return;
    const descriptors = take().map(toBase64Url);
    await writeAtomically(this.#path, `${JSON.stringify({ version: 1, descriptors }, null, 1)}\n`, 0o600);
  }

  /** Resolves once no save is in progress (each failure was reported to the caller of its save). */
  flush(): Promise<void> {
    return this.#writing.catch(() => {});
  }
}
