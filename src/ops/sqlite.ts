/**
 * The durable SQLite file (`node:sqlite`) a node keeps its state in (the mix node's replay filter, the
 * gateway's inboxes): created with its directory (mode 0700) if needed, in WAL mode. `synchronous = FULL` by
 * default, so a committed transaction has been fsynced and survives an operating-system crash or a power
 * cut; `NORMAL` for state whose last second may be lost to those (never to a crash of the process): WAL
 * commits then cost no fsync, which on a busy disk takes up to a second and blocks the event loop with it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** A trivial read of `db`: returns when the file answers, throws when it does not (closed, disk gone). */
export function probeSqlite(db: DatabaseSync): void {
  db.prepare('SELECT 1').get();
}

/**
 * Opens the file at `path`, runs `schema` (idempotent statements) on it and hands it to `wrap`; the file is
 * closed again if any of that fails.
 */
export function openDurableSqlite<T>(
  path: string,
  schema: readonly string[],
  wrap: (db: DatabaseSync) => T,
  options: { readonly synchronous?: 'FULL' | 'NORMAL' } = {},
): T {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    for (const statement of schema) db.exec(statement);
    return wrap(db);
  } catch (error) {
    db.close();
    throw error;
  }
}
