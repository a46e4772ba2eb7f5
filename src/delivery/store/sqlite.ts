/**
 * The embedded delivery store: one SQLite file through `node:sqlite`, in WAL mode so that readers never
 * wait for the writer, with a busy timeout so that several processes can share the file. Every write runs
 * under `BEGIN IMMEDIATE`, which takes the database's single write lock up front: writers are serialized,
 * which is what makes the first-commit rule and the quotas exact. `synchronous = FULL` because an accepted
 * commit that a power cut erased could let a different commit win the same epoch and fork the group.
 *
 * `DatabaseSync` is synchronous and one connection runs one transaction at a time, so operations on one
 * store instance queue behind each other. Writes are committed in groups (as databases with a write-ahead
 * log do it): the writes that arrive while one commit waits for the disk run next in one transaction, each in
 * its own savepoint, so one fsync covers them all and a write that fails rolls back only itself. Each is
 * answered only after the commit that holds it, so durability is what it was with a transaction each.
 * Change events reach subscribers of every store instance on the same file in this process; other
 * processes are not told (use PostgreSQL to scale out). `openStore` runs this driver on a worker thread
 * (`sqlite-thread.ts`), where the commits' fsyncs block only that thread.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  dispatch,
  type Migration,
  migrate,
  type SqlDriver,
  type SqlSession,
  type SqlTransaction,
} from './driver.ts';
import type { StoreEvent, StoreListener } from './types.ts';

const BUSY_TIMEOUT_MS = 10_000;
const SQLITE_BUSY = 5;

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'identities and key packages',
    statements: [
      `CREATE TABLE identities (
        handle_hash BLOB PRIMARY KEY,
        identity_key BLOB NOT NULL,
        registration BLOB NOT NULL,
        registered_at INTEGER NOT NULL
      ) WITHOUT ROWID`,
      `CREATE TABLE key_package_devices (
        handle_hash BLOB NOT NULL,
        device_id BLOB NOT NULL,
        last_resort_id BLOB,
        last_resort_data BLOB,
        last_resort_at INTEGER,
        PRIMARY KEY (handle_hash, device_id)
      ) WITHOUT ROWID`,
      `CREATE TABLE key_packages (
        ord INTEGER PRIMARY KEY AUTOINCREMENT,
        handle_hash BLOB NOT NULL,
        device_id BLOB NOT NULL,
        package_id BLOB NOT NULL,
        data BLOB,
        uploaded_at INTEGER NOT NULL,
        claimed_at INTEGER,
        UNIQUE (handle_hash, package_id)
      )`,
      'CREATE INDEX key_packages_unclaimed ON key_packages (handle_hash, device_id, ord) WHERE claimed_at IS NULL',
      'CREATE INDEX key_packages_claimed ON key_packages (claimed_at) WHERE claimed_at IS NOT NULL',
    ],
  },
  {
    version: 2,
    name: 'group logs and mailboxes',
    statements: [
      `CREATE TABLE streams (
        space INTEGER NOT NULL,
        stream_id BLOB NOT NULL,
        last_seq INTEGER NOT NULL,
        winning_seq INTEGER,
        winning_message_id BLOB,
        touched_at INTEGER NOT NULL,
        PRIMARY KEY (space, stream_id)
      ) WITHOUT ROWID`,
      `CREATE TABLE items (
        space INTEGER NOT NULL,
        stream_id BLOB NOT NULL,
        message_id BLOB NOT NULL,
        seq INTEGER,
        kind TEXT CHECK (kind IN ('commit', 'application', 'welcome')),
        commit_message_id BLOB,
        bucket INTEGER NOT NULL,
        blob BLOB NOT NULL,
        posted_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (space, stream_id, message_id)
      )`,
      'CREATE UNIQUE INDEX items_by_seq ON items (space, stream_id, seq)',
      'CREATE INDEX items_by_expiry ON items (expires_at)',
    ],
  },
  {
    version: 3,
    name: 'anonymous tokens: spent tokens and nonces, issuer keys, daily budgets',
    statements: [
      `CREATE TABLE spent (
        kind INTEGER NOT NULL,
        id BLOB NOT NULL,
        binding BLOB,
        receipt BLOB,
        spent_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (kind, id)
      ) WITHOUT ROWID`,
      'CREATE INDEX spent_by_expiry ON spent (expires_at)',
      `CREATE TABLE issuer_keys (
        slot INTEGER PRIMARY KEY,
        token_key BLOB NOT NULL,
        sealed_private_key BLOB NOT NULL,
        not_before INTEGER NOT NULL,
        accept_until INTEGER NOT NULL
      )`,
      `CREATE TABLE token_budgets (
        handle_hash BLOB NOT NULL,
        day INTEGER NOT NULL,
        issued INTEGER NOT NULL,
        PRIMARY KEY (handle_hash, day)
      ) WITHOUT ROWID`,
    ],
  },
  {
    version: 4,
    name: 'running total of stored blob bytes',
    statements: [
      `CREATE TABLE store_usage (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        blob_bytes INTEGER NOT NULL
      )`,
      'INSERT INTO store_usage (id, blob_bytes) SELECT 1, COALESCE(SUM(LENGTH(blob)), 0) FROM items',
    ],
  },
  {
    version: 5,
    name: 'per-stream item and byte counters',
    statements: [
      'ALTER TABLE streams ADD COLUMN item_count INTEGER NOT NULL DEFAULT 0',
      'ALTER TABLE streams ADD COLUMN item_bytes INTEGER NOT NULL DEFAULT 0',
      `UPDATE streams SET
        item_count = (SELECT COUNT(*) FROM items WHERE items.space = streams.space AND items.stream_id = streams.stream_id),
        item_bytes = (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM items
                      WHERE items.space = streams.space AND items.stream_id = streams.stream_id)`,
    ],
  },
];

/** Subscribers per database file, shared by every store instance of this process on that file. */
const listenersByFile = new Map<string, Set<StoreListener>>();

/** SQLite numbers parameters `?1`, PostgreSQL `$1`; the store's SQL is written in the latter. */
function toSqliteParameters(sql: string): string {
  return sql.replace(/\$(\d+)/g, '?$1');
}

/** A write waiting for the next group commit. */
interface PendingWrite {
  readonly work: (tx: SqlTransaction) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** What one write of a group came to, settled once the group's commit is done. */
type WriteOutcome =
  | { readonly ok: true; readonly value: unknown; readonly events: readonly StoreEvent[] }
  | { readonly ok: false; readonly error: unknown };

class SqliteDriver implements SqlDriver {
  readonly backend = 'sqlite';
  readonly skipLockedRows = '';
  readonly #db: DatabaseSync;
  readonly #file: string;
  readonly #statements = new Map<string, StatementSync>();
  readonly #session: SqlSession;
  readonly #ownListeners = new Set<StoreListener>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Writes for the next group commit; undefined when none is scheduled. */
  #group: PendingWrite[] | undefined;

  constructor(db: DatabaseSync, file: string) {
    this.#db = db;
    this.#file = file;
    this.#session = {
      query: async (sql, params = []) => this.#statement(sql).all(...params),
      execute: async (sql, params = []) => Number(this.#statement(sql).run(...params).changes),
    };
  }

  write<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: PendingWrite = { work, resolve: resolve as (value: unknown) => void, reject };
      if (this.#group !== undefined) {
        this.#group.push(pending);
        return;
      }
      const group = [pending];
      this.#group = group;
      // The group takes its place in the queue now (reads and close() called after this write run after
      // it), and stays open until its turn comes — behind the commit in progress, whose fsync is when the
      // writes of other clients arrive — and then for the rest of that turn of the event loop (the requests
      // read from every socket that was ready; a microtask would close it after the first).
      void this.#serialize(async () => {
        await new Promise((resolve) => setImmediate(resolve));
        this.#group = undefined;
        await this.#commitGroup(group);
      });
    });
  }

  /**
   * One transaction for `group`, each write in a savepoint of its own (a failure rolls back that write
   * only), one COMMIT for all; then each write is answered and its events dispatched, in order.
   */
  async #commitGroup(group: readonly PendingWrite[]): Promise<void> {
    const outcomes: WriteOutcome[] = [];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const { work } of group) {
        const events: StoreEvent[] = [];
        this.#db.exec('SAVEPOINT write');
        try {
          const value = await work({ ...this.#session, emit: (event) => events.push(event) });
          this.#db.exec('RELEASE write');
          outcomes.push({ ok: true, value, events });
        } catch (error) {
          this.#db.exec('ROLLBACK TO write');
          this.#db.exec('RELEASE write');
          outcomes.push({ ok: false, error });
        }
      }
      this.#db.exec('COMMIT');
    } catch (error) {
      // The transaction itself failed (the disk, or a savepoint SQLite could not roll back): nothing of
      // the group is stored, so every write of it fails.
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      for (const { reject } of group) reject(error);
      return;
    }
    const listeners = listenersByFile.get(this.#file) ?? [];
    for (const [index, outcome] of outcomes.entries()) {
      const { resolve, reject } = group[index] as PendingWrite;
      if (!outcome.ok) {
        reject(outcome.error);
        continue;
      }
      for (const event of outcome.events) dispatch(listeners, event);
      resolve(outcome.value);
    }
  }

  read<T>(work: (session: SqlSession) => Promise<T>): Promise<T> {
    return this.#serialize(() => work(this.#session));
  }

  async listen(listener: StoreListener): Promise<() => Promise<void>> {
    // A wrapper per subscription, so that the same function subscribed twice is two subscriptions.
    const subscription: StoreListener = (event) => listener(event);
    let listeners = listenersByFile.get(this.#file);
    if (listeners === undefined) {
      listeners = new Set();
      listenersByFile.set(this.#file, listeners);
    }
    listeners.add(subscription);
    this.#ownListeners.add(subscription);
    return async () => this.#unlisten(subscription);
  }

  close(): Promise<void> {
    for (const subscription of this.#ownListeners) this.#unlisten(subscription);
    return this.#serialize(async () => this.#db.close());
  }

  #unlisten(subscription: StoreListener): void {
    this.#ownListeners.delete(subscription);
    const listeners = listenersByFile.get(this.#file);
    listeners?.delete(subscription);
    if (listeners?.size === 0) listenersByFile.delete(this.#file);
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(toSqliteParameters(sql));
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #serialize<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && (code & 0xff) === SQLITE_BUSY;
}

/**
 * Switches the file to WAL (a persistent setting). The switch needs an exclusive lock, and SQLite answers
 * "busy" at once, without its busy handler, when another connection is opening the same new file; so this
 * waits and retries itself, within the same timeout.
 */
async function enableWal(db: DatabaseSync): Promise<void> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let delay = 1; ; delay = Math.min(2 * delay, 100)) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      if (!isBusy(error) || Date.now() + delay > deadline) throw error;
      await sleep(delay);
    }
  }
}

/** Opens (creating it and its directory if needed) and migrates the database file at `path`. */
export async function openSqliteDriver(
  path: string,
  now: number,
  migrations: readonly Migration[] = SQLITE_MIGRATIONS,
): Promise<SqlDriver> {
  const absolute = resolve(path);
  mkdirSync(dirname(absolute), { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(absolute);
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    await enableWal(db);
    db.exec('PRAGMA synchronous = FULL');
    const driver = new SqliteDriver(db, realpathSync(absolute));
    await driver.write((tx) => migrate(tx, migrations, now));
    return driver;
  } catch (error) {
    db.close();
    throw error;
  }
}
