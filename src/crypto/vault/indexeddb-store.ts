/**
 * The browser's vault storage: the `BlobStore` seam of blob-store.ts on IndexedDB (W3C
 * Indexed Database API 3.0). One database per vault, one object store of blobs keyed by blob name. Each
 * operation is a single IndexedDB transaction, and transactions are atomic, so a reader sees a blob's old
 * bytes or its new ones and a tab closed mid-write leaves no partial blob: there are no interrupted writes to
 * list or shred. Everything stored is already sealed by the vault (Argon2id-wrapped data key,
 * XChaCha20-Poly1305 records); this layer never sees plaintext.
 *
 * `destroy` overwrites each blob with random bytes in one transaction before deleting it, then deletes the
 * database once it is empty. As with files, the browser may keep old pages on disk; the vault's protection
 * is that the header holding the only wrapped data key is gone.
 */
import { BLOB_NAME, type BlobStore } from './blob-store.ts';

const OBJECT_STORE = 'blobs';
const SCHEMA_VERSION = 1;

function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

function transactionDone(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
    transaction.onerror = () => reject(transaction.error ?? new Error('IndexedDB transaction failed'));
  });
}

function checkName(name: string): void {
  if (!BLOB_NAME.test(name)) throw new TypeError('blob name: not a vault blob name');
}

/** Random bytes of any length (`getRandomValues` fills at most 65,536 bytes per call). */
function noise(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65_536)));
  }
  return bytes;
}

/** A copy that owns its buffer, so IndexedDB's structured clone stores exactly these bytes. */
function ownedCopy(data: Uint8Array): Uint8Array {
  return new Uint8Array(data);
}

export class IndexedDbStore implements BlobStore {
  readonly location: string;
  readonly #name: string;
  readonly #factory: IDBFactory;
  #database: Promise<IDBDatabase> | undefined;

  /** `name` is the IndexedDB database name; `factory` defaults to the page's `indexedDB`. */
  constructor(name: string, factory: IDBFactory = indexedDB) {
    this.location = `indexeddb:${name}`;
    this.#factory = factory;
    this.#name = name;
  }

  /** Whether a database of this name holds any blob, without creating one. */
  static async exists(name: string, factory: IDBFactory = indexedDB): Promise<boolean> {
    const databases = await factory.databases();
    if (!databases.some((database) => database.name === name)) return false;
    const store = new IndexedDbStore(name, factory);
    try {
      return (await store.list()).length > 0;
    } finally {
      store.close();
    }
  }

  #open(): Promise<IDBDatabase> {
    this.#database ??= new Promise((resolve, reject) => {
      const request = this.#factory.open(this.#name, SCHEMA_VERSION);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(OBJECT_STORE)) {
          request.result.createObjectStore(OBJECT_STORE);
        }
      };
      request.onsuccess = () => {
        const database = request.result;
        // Another tab deleting or upgrading the database: let it, and reopen on the next operation.
        database.onversionchange = () => {
          database.close();
          this.#database = undefined;
        };
        resolve(database);
      };
      request.onerror = () => reject(request.error ?? new Error('cannot open IndexedDB'));
      request.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
    });
    return this.#database;
  }

  async #transaction<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => Promise<T>): Promise<T> {
    const database = await this.#open();
    const transaction = database.transaction(OBJECT_STORE, mode, { durability: 'strict' });
    const done = transactionDone(transaction);
    const result = await work(transaction.objectStore(OBJECT_STORE));
    await done;
    return result;
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    checkName(name);
    const value = await this.#transaction('readonly', (store) => requestResult(store.get(name)));
    return value instanceof Uint8Array ? ownedCopy(value) : undefined;
  }

  async write(name: string, data: Uint8Array): Promise<void> {
    checkName(name);
    await this.#transaction('readwrite', (store) => requestResult(store.put(ownedCopy(data), name)));
  }

  async writeNew(name: string, data: Uint8Array): Promise<boolean> {
    checkName(name);
    // get and add in one readwrite transaction: no other writer can slip in between.
    return this.#transaction('readwrite', async (store) => {
      const existing = await requestResult(store.getKey(name));
      if (existing !== undefined) return false;
      await requestResult(store.add(ownedCopy(data), name));
      return true;
    });
  }

  async remove(name: string): Promise<boolean> {
    checkName(name);
    return this.#transaction('readwrite', async (store) => {
      const existing = await requestResult(store.getKey(name));
      if (existing === undefined) return false;
      await requestResult(store.delete(name));
      return true;
    });
  }

  async list(): Promise<string[]> {
    const keys = await this.#transaction('readonly', (store) => requestResult(store.getAllKeys()));
    return keys.filter((key): key is string => typeof key === 'string');
  }

  async destroy(names: readonly string[]): Promise<void> {
    for (const name of names) checkName(name);
    const remaining = await this.#transaction('readwrite', async (store) => {
      for (const name of names) {
        const value = await requestResult(store.get(name));
        if (!(value instanceof Uint8Array)) continue;
        await requestResult(store.put(noise(value.length), name));
        await requestResult(store.delete(name));
      }
      return requestResult(store.count());
    });
    if (remaining === 0) {
      this.close();
      await requestResult(this.#factory.deleteDatabase(this.#name));
    }
  }

  /** Closes the connection; a later operation reopens it. */
  close(): void {
    const database = this.#database;
    this.#database = undefined;
    void database?.then((open) => open.close()).catch(() => {});
  }
}
