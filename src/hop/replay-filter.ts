/**
 * The replay filter: every Sphinx replay tag a node has accepted, per key epoch, in a SQLite file
 * (`node:sqlite`) of the node's data directory. A replayed packet would leave the node as the same output
 * again and link its input to its output, so a tag must never be forgotten while its epoch's key can still
 * unwrap packets — not even across a restart. Tags of a round are written in one transaction that commits
 * (WAL, `synchronous = FULL`: an fsync) before the round's batch leaves: a crash can lose only tags whose
 * packets were never sent, and replaying those reveals nothing. Epochs whose key is destroyed are dropped.
 *
 * Admission is test-and-set in one statement on the primary key, so a duplicate inside the same round is
 * caught as well as one from a past round.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { assertBytes } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { openDurableSqlite, probeSqlite } from '../ops/sqlite.ts';

const TAG_LENGTH = 32;

function assertEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ArgumentError('epoch', 'expected an integer ≥ 0');
}

export class ReplayFilter {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #forget: StatementSync;
  readonly #count: StatementSync;
  #open = true;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insert = db.prepare('INSERT OR IGNORE INTO seen (epoch, tag) VALUES (?, ?)');
    this.#forget = db.prepare('DELETE FROM seen WHERE epoch < ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM seen WHERE epoch = ?');
  }

  /** Opens (creating it and its directory if needed) the filter file at `path`. */
  static open(path: string): ReplayFilter {
    return openDurableSqlite(
      path,
      [
        'CREATE TABLE IF NOT EXISTS seen (epoch INTEGER NOT NULL, tag BLOB NOT NULL, PRIMARY KEY (epoch, tag)) WITHOUT ROWID',
      ],
      (db) => new ReplayFilter(db),
    );
  }

  /** Records `tag` under `epoch`. False when it was already recorded: the packet is a replay. */
  admit(epoch: number, tag: Uint8Array): boolean {
    assertEpoch(epoch);
    assertBytes('tag', tag, TAG_LENGTH);
    if (!this.#db.isTransaction) this.#db.exec('BEGIN');
    return Number(this.#insert.run(epoch, tag).changes) === 1;
  }

  /** Makes every tag admitted so far durable. */
  commit(): void {
    if (this.#db.isTransaction) this.#db.exec('COMMIT');
  }

  /** Forgets every epoch before `oldest` (their keys are destroyed, so their packets cannot be unwrapped). */
  forgetBefore(oldest: number): void {
    assertEpoch(oldest);
    this.#forget.run(oldest);
  }

  /** How many tags `epoch` holds (for tests and diagnostics). */
  size(epoch: number): number {
    assertEpoch(epoch);
    return Number((this.#count.get(epoch) as { n: number | bigint }).n);
  }

  /** Throws when the file does not answer a read (for /ready). */
  check(): void {
    probeSqlite(this.#db);
  }

  /** Commits and closes. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.commit();
    this.#db.close();
  }
}
