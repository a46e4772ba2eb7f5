/**
 * The seam between the delivery store's logic and its two databases. `SqlStore` is written once against
 * `SqlDriver`; the SQLite and PostgreSQL drivers differ only in how they connect, lock, number parameters
 * and carry change events. SQL text uses PostgreSQL's `$1` placeholders and the subset of SQL both engines
 * share (UPSERT, RETURNING, partial indexes); each dialect supplies its own `Migration` list for the DDL.
 */
import { ArgumentError, DeliveryError } from '../../errors.ts';
import type { StoreEvent, StoreListener } from './types.ts';

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

export interface SqlDriver {
  readonly backend: 'sqlite' | 'postgres';
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
 * Brings the schema up to the last of `migrations` inside the caller's transaction, which must exclude
 * concurrent migrators. Applied versions are recorded in `schema_migrations`, so running it again changes
 * nothing; a database already past the known versions is refused rather than written by older code.
 */
export async function migrate(tx: SqlSession, migrations: readonly Migration[], now: number): Promise<void> {
  for (const [index, migration] of migrations.entries()) {
    if (migration.version !== index + 1)
      throw new ArgumentError('migrations', 'versions must be 1, 2, 3... in order');
  }
  await tx.execute(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  const [row] = await tx.query('SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations');
  const current = Number(row?.version ?? 0);
  if (current > migrations.length) {
    throw new DeliveryError(
      'unsupported_schema',
      `the database is at schema version ${current}; this build knows up to ${migrations.length}`,
    );
  }
  for (const migration of migrations.slice(current)) {
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
