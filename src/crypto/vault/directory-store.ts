/**
 * The file-system `BlobStore`: one file per blob in a directory of the vault's own. Replacement follows the
 * classic durable-rename recipe (POSIX rename(2) is atomic within a file system): write a temporary file in
 * the same directory, fsync it, rename it over the target, then fsync the directory so the rename itself
 * survives a power cut. A crash at any point leaves either the old file or the new one, plus at worst a
 * stray temporary file that `list` never reports and `destroy` shreds.
 *
 * Files are created with mode 0600 and the directory with 0700. Overwriting before deletion is best effort:
 * on SSDs and copy-on-write or journaling file systems the old blocks may survive; the vault's real
 * protection is that destroying the header destroys the only wrapped copy of the data key.
 */
import { link, mkdir, open, readdir, readFile, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { toHex } from '../../bytes.ts';
import { ArgumentError } from '../../errors.ts';
import { randomBytes } from '../random.ts';
import { BLOB_NAME, type BlobStore } from './blob-store.ts';

/** A write that never reached its rename: `<blob name>.<16 hex digits>.tmp`. */
const PARTIAL_WRITE = /^[0-9a-z]+\.[a-z]+\.[0-9a-f]{16}\.tmp$/;
/** Errors from fsync on a directory where the platform cannot do it (Windows, some network file systems). */
const DIRECTORY_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EINVAL', 'ENOTSUP']);
const SHRED_CHUNK = 1 << 20;

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function shred(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r+');
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    for (let offset = 0; offset < size; offset += SHRED_CHUNK) {
      const noise = randomBytes(Math.min(SHRED_CHUNK, size - offset));
      await handle.write(noise, 0, noise.length, offset);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  await unlink(path);
}

/** fsync on a directory makes renames, links and unlinks in it durable. Skipped where the platform refuses. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    const code = errorCode(error);
    if (code === undefined || !DIRECTORY_SYNC_UNSUPPORTED.has(code)) throw error;
  } finally {
    await handle?.close();
  }
}

export class DirectoryStore implements BlobStore {
  readonly location: string;

  constructor(directory: string) {
    this.location = directory;
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    try {
      const data = await readFile(this.#path(name));
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async write(name: string, data: Uint8Array): Promise<void> {
    await this.#commit(name, data, (temporary, target) => rename(temporary, target));
  }

  async writeNew(name: string, data: Uint8Array): Promise<boolean> {
    const created = await mkdir(this.location, { recursive: true, mode: 0o700 });
    // A new directory is durable only once the directory that lists it is synced too.
    if (created !== undefined) await syncDirectory(dirname(created));
    try {
      // link(2) fails with EEXIST instead of replacing, which makes creation exclusive and still atomic.
      await this.#commit(name, data, async (temporary, target) => {
        await link(temporary, target);
        await unlink(temporary);
      });
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw error;
    }
  }

  async remove(name: string): Promise<boolean> {
    try {
      await unlink(this.#path(name));
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    await syncDirectory(this.location);
    return true;
  }

  async list(): Promise<string[]> {
    return (await this.#entries()).filter((entry) => BLOB_NAME.test(entry));
  }

  async destroy(names: readonly string[]): Promise<void> {
    const paths = names.map((name) => this.#path(name));
    const partialWrites = (await this.#entries()).filter((entry) => PARTIAL_WRITE.test(entry));
    for (const path of [...paths, ...partialWrites.map((entry) => join(this.location, entry))]) {
      await shred(path);
    }
    await syncDirectory(this.location);
    try {
      await rmdir(this.location);
    } catch (error) {
      const code = errorCode(error);
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && !isMissing(error)) throw error;
    }
  }

  #path(name: string): string {
    if (!BLOB_NAME.test(name)) throw new ArgumentError('name', 'not a blob name');
    return join(this.location, name);
  }

  async #entries(): Promise<string[]> {
    try {
      return await readdir(this.location);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  }

  async #commit(
    name: string,
    data: Uint8Array,
    publish: (temporary: string, target: string) => Promise<void>,
  ): Promise<void> {
    const target = this.#path(name);
    const temporary = `${target}.${toHex(randomBytes(8))}.tmp`;
    try {
      await writeDurably(temporary, data);
      await publish(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await syncDirectory(this.location);
  }
}
