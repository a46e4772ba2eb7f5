/**
 * The seam between the delivery store's logic and its two databases. `SqlStore` is written once against
 * `SqlDriver`; the SQLite and PostgreSQL drivers differ only in how they connect, lock, number parameters
 * and carry change events. SQL text uses PostgreSQL's `$1` placeholders and the subset of SQL both engines
 * share (UPSERT, RETURNING, partial indexes); each dialect supplies its own `Migration` list for the DDL.
 */
import { ArgumentError, DeliveryError } from '../../errors.ts';
import type { MessageKind } from '../../protocol/records.ts';
import type { DeliveryLimits, StoreEvent, StoreListener } from './types.ts';

export type SqlValue = Uint8Array | number | string | null;
export type SqlRow = Readonly<Record<string, unknown>>;

export interface SqlSession {
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
  /** Runs a statement and returns how many rows it changed. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlTransaction extends SqlSession {
  /** Queues an event that subscribers receive only if and after this transaction commits. */
  emit(event: StoreEvent): void;
}

/** A post to a group log or mailbox (`SqlStore`'s spaces 1 and 2), checked and ready to store. */
export interface StreamPostRequest {
  readonly space: number;
  readonly streamId: Uint8Array;
  readonly kind: MessageKind | null;
  readonly messageId: Uint8Array;
  readonly blob: Uint8Array;
  readonly bucket: number;
  readonly commitMessageId: Uint8Array | null;
  readonly now: number;
}

/**
 * What the database made of a post it ran itself: `stored`, `duplicate`, `held`, `stale_epoch`, or the quota
 * that refused it (`messages`, `bytes`, `storage`).
 */
export interface StreamPostOutcome {
  readonly outcome: 'stored' | 'duplicate' | 'held' | 'stale_epoch' | 'messages' | 'bytes' | 'storage';
  readonly seq: number | null;
  readonly winningSeq: number | null;
}

export interface SqlDriver {
  readonly backend: 'sqlite' | 'postgres';
  /**
   * Present where the database runs a whole (unpaid) post itself, its change events included, in one
   * round trip (PostgreSQL's `post_batch`, the same rules as `SqlStore`'s): answered once committed.
   */
  readonly postOnServer?: (post: StreamPostRequest, limits: DeliveryLimits) => Promise<StreamPostOutcome>;
  /**
   * Appended to a `SELECT ... LIMIT 1` that picks a row to consume, so that concurrent consumers each take a
   * different row instead of queueing behind one another. Empty where writers are serialized anyway.
   */
  readonly skipLockedRows: string;
  /**
   * Runs `work` in one transaction; a failure rolls all of it back. Writers that race on one stream or device
   * are serialized by the row lock `SqlStore` takes first (SQLite serializes all writers anyway).
   */
  write<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  read<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  listen(listener: StoreListener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/**
 * Brings the schema up to date inside the caller's transaction, which must exclude concurrent migrators:
 * every migration not yet recorded in `schema_migrations` is applied, in version order. Versions must
 * increase but may have gaps, so that changes numbered apart can land in any order (each migration must
 * then stand on versions 1 and 2 alone). Running it again changes nothing; a database that records a
 * version this build does not know is refused rather than written by older code.
 */
export async function migrate(tx: SqlSession, migrations: readonly Migration[], now: number): Promise<void> {
  let previous = 0;
  for (const migration of migrations) {
    if (!Number.isSafeInteger(migration.version) || migration.version <= previous)
      throw new ArgumentError('migrations', 'versions must be increasing integers >= 1');
    previous = migration.version;
  }
  await tx.execute(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  const rows = await tx.query('SELECT version FROM schema_migrations ORDER BY version');
  const applied = new Set(rows.map((row) => Number(row.version)));
  const known = new Set(migrations.map((migration) => migration.version));
  const unknown = [...applied].find((version) => !known.has(version));
  if (unknown !== undefined) {
    throw new DeliveryError(
      'unsupported_schema',
      `the database is at schema version ${unknown}, which this build does not know (it knows ${[...known].join(', ')})`,
    );
  }
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    for (const statement of migration.statements) await tx.execute(statement);
    await tx.execute('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
      migration.version,
      migration.name,
      now,
    ]);
  }
}

/**
 * Delivers an event to each listener in its own microtask: a throwing listener neither stops the others nor
 * unwinds into the store; its exception surfaces as uncaught, like any other bug.
 */
export function dispatch(listeners: Iterable<StoreListener>, event: StoreEvent): void {
  for (const listener of listeners) queueMicrotask(() => listener(event));
}
