/**
 * The scale-out delivery store: PostgreSQL through a `pg` pool, the tables in one schema (selected per
 * connection with `search_path`, so that several deployments or test runs share a database). Transactions
 * run at READ COMMITTED; `SqlStore` makes racing writers safe by locking the stream or device row first and
 * by claiming KeyPackages with `FOR UPDATE SKIP LOCKED`.
 *
 * Change events travel with LISTEN/NOTIFY: `pg_notify` is called inside the writing transaction, so
 * PostgreSQL delivers it only if that transaction commits, to every listening connection of every process
 * on the database. One extra connection per store instance listens while anyone subscribes; if it drops,
 * it reconnects and reports `resync`, because notifications sent meanwhile are lost.
 */
import pg from 'pg';
import { fromHex, toHex } from '../../crypto/bytes.ts';
import { ArgumentError } from '../../errors.ts';
import {
  dispatch,
  type Migration,
  migrate,
  type SqlDriver,
  type SqlRow,
  type SqlSession,
  type SqlTransaction,
} from './driver.ts';
import type { MessageKind, StoreEvent, StoreListener } from './types.ts';

export const DEFAULT_SCHEMA = 'umbra_delivery';
const DEFAULT_POOL_SIZE = 10;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;
const INT8_OID = 20;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'identities and key packages',
    statements: [
      `CREATE TABLE identities (
        handle_hash BYTEA PRIMARY KEY,
        identity_key BYTEA NOT NULL,
        registration BYTEA NOT NULL,
        registered_at BIGINT NOT NULL
      )`,
      `CREATE TABLE key_package_devices (
        handle_hash BYTEA NOT NULL,
        device_id BYTEA NOT NULL,
        last_resort_id BYTEA,
        last_resort_data BYTEA,
        last_resort_at BIGINT,
        PRIMARY KEY (handle_hash, device_id)
      )`,
      `CREATE TABLE key_packages (
        ord BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        handle_hash BYTEA NOT NULL,
        device_id BYTEA NOT NULL,
        package_id BYTEA NOT NULL,
        data BYTEA,
        uploaded_at BIGINT NOT NULL,
        claimed_at BIGINT,
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
        space SMALLINT NOT NULL,
        stream_id BYTEA NOT NULL,
        last_seq BIGINT NOT NULL,
        winning_seq BIGINT,
        winning_message_id BYTEA,
        touched_at BIGINT NOT NULL,
        PRIMARY KEY (space, stream_id)
      )`,
      `CREATE TABLE items (
        space SMALLINT NOT NULL,
        stream_id BYTEA NOT NULL,
        message_id BYTEA NOT NULL,
        seq BIGINT,
        kind TEXT CHECK (kind IN ('commit', 'application', 'welcome')),
        commit_message_id BYTEA,
        bucket INTEGER NOT NULL,
        blob BYTEA NOT NULL,
        posted_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
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
        kind SMALLINT NOT NULL,
        id BYTEA NOT NULL,
        binding BYTEA,
        receipt BYTEA,
        spent_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (kind, id)
      )`,
      'CREATE INDEX spent_by_expiry ON spent (expires_at)',
      `CREATE TABLE issuer_keys (
        slot BIGINT PRIMARY KEY,
        token_key BYTEA NOT NULL,
        sealed_private_key BYTEA NOT NULL,
        not_before BIGINT NOT NULL,
        accept_until BIGINT NOT NULL
      )`,
      `CREATE TABLE token_budgets (
        handle_hash BYTEA NOT NULL,
        day BIGINT NOT NULL,
        issued BIGINT NOT NULL,
        PRIMARY KEY (handle_hash, day)
      )`,
    ],
  },
  {
    version: 4,
    name: 'running total of stored blob bytes',
    statements: [
      `CREATE TABLE store_usage (
        id SMALLINT PRIMARY KEY CHECK (id = 1),
        blob_bytes BIGINT NOT NULL
      )`,
      'INSERT INTO store_usage (id, blob_bytes) SELECT 1, COALESCE(SUM(LENGTH(blob)), 0) FROM items',
    ],
  },
  {
    version: 5,
    name: 'per-stream item and byte counters',
    statements: [
      'ALTER TABLE streams ADD COLUMN item_count BIGINT NOT NULL DEFAULT 0',
      'ALTER TABLE streams ADD COLUMN item_bytes BIGINT NOT NULL DEFAULT 0',
      `UPDATE streams SET
        item_count = (SELECT COUNT(*) FROM items WHERE items.space = streams.space AND items.stream_id = streams.stream_id),
        item_bytes = (SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM items
                      WHERE items.space = streams.space AND items.stream_id = streams.stream_id)`,
    ],
  },
];

export interface PostgresLocation {
  readonly postgresUrl: string;
  readonly schema?: string;
  readonly poolSize?: number;
}

/** Millisecond timestamps, sequence numbers and counts are BIGINT; all stay far below 2^53. */
function typeParsers(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, Number);
  return types;
}

/** `pg` returns BYTEA as Buffers that may share a pooled allocation; hand out exact, unshared copies. */
function normalizeRow(row: Record<string, unknown>): SqlRow {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row))
    out[name] = value instanceof Uint8Array ? new Uint8Array(value) : value;
  return out;
}

function sessionOf(client: pg.ClientBase): SqlSession {
  return {
    query: async (sql, params = []) => (await client.query(sql, [...params])).rows.map(normalizeRow),
    execute: async (sql, params = []) => (await client.query(sql, [...params])).rowCount ?? 0,
  };
}

/** Event payloads: a few hundred bytes of JSON, far below NOTIFY's 8000-byte limit. */
function encodeEvent(event: StoreEvent): string {
  switch (event.type) {
    case 'log':
      return JSON.stringify({ type: 'log', id: toHex(event.routingId), seq: event.seq, kind: event.kind });
    case 'mailbox':
      return JSON.stringify({ type: 'mailbox', id: toHex(event.mailboxId), seq: event.seq });
    case 'resync':
      return JSON.stringify({ type: 'resync' });
  }
}

const KINDS: readonly string[] = ['commit', 'application', 'welcome'] satisfies MessageKind[];

/** Anyone with access to the database can NOTIFY on the channel; anything malformed is dropped. */
function decodeEvent(payload: string): StoreEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, id, seq, kind } = value as Record<string, unknown>;
  if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id) || !Number.isSafeInteger(seq)) return undefined;
  if (type === 'mailbox') return { type, mailboxId: fromHex(id), seq: seq as number };
  if (type === 'log' && typeof kind === 'string' && KINDS.includes(kind)) {
    return { type, routingId: fromHex(id), seq: seq as number, kind: kind as MessageKind };
  }
  return undefined;
}

/**
 * The one LISTEN connection of a store instance, open while it has subscribers. A connection lost while
 * listening is replaced with growing delays; listeners then get `resync`.
 */
class Notifier {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #listeners = new Set<StoreListener>();
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #failures = 0;

  constructor(config: pg.ClientConfig, channel: string) {
    this.#config = config;
    this.#channel = channel;
  }

  async add(listener: StoreListener): Promise<() => Promise<void>> {
    // A wrapper per subscription, so that the same function subscribed twice is two subscriptions.
    const subscription: StoreListener = (event) => listener(event);
    this.#listeners.add(subscription);
    try {
      await this.#ensureConnected();
    } catch (error) {
      this.#listeners.delete(subscription);
      throw error;
    }
    return async () => {
      this.#listeners.delete(subscription);
      await this.#disconnectIfIdle();
    };
  }

  async stop(): Promise<void> {
    this.#listeners.clear();
    await this.#disconnectIfIdle();
  }

  async #disconnectIfIdle(): Promise<void> {
    await this.#connecting?.catch(() => undefined);
    if (this.#listeners.size > 0) return;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #ensureConnected(): Promise<void> {
    if (this.#client !== undefined) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#config);
    // Registered before connecting so that no 'error' event is ever unhandled; it acts only on the
    // current connection, not on one being set up or deliberately closed.
    const onLost = (): void => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      if (message.channel !== this.#channel || message.payload === undefined) return;
      const event = decodeEvent(message.payload);
      if (event !== undefined) dispatch(this.#listeners, event);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.#client = client;
  }

  #scheduleReconnect(): void {
    if (this.#listeners.size === 0 || this.#reconnectTimer !== undefined) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.#failures);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#listeners.size === 0) return;
      this.#ensureConnected().then(
        () => {
          this.#failures = 0;
          dispatch(this.#listeners, { type: 'resync' });
        },
        () => {
          this.#failures += 1;
          this.#scheduleReconnect();
        },
      );
    }, delay);
  }
}

class PostgresDriver implements SqlDriver {
  readonly backend = 'postgres';
  readonly skipLockedRows = ' FOR UPDATE SKIP LOCKED';
  readonly #pool: pg.Pool;
  readonly #channel: string;
  readonly #notifier: Notifier;

  constructor(pool: pg.Pool, channel: string, notifier: Notifier) {
    this.#pool = pool;
    this.#channel = channel;
    this.#notifier = notifier;
  }

  async write<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const events: StoreEvent[] = [];
      const session = sessionOf(client);
      const result = await work({ ...session, emit: (event) => events.push(event) });
      for (const event of events) {
        await client.query('SELECT pg_notify($1, $2)', [this.#channel, encodeEvent(event)]);
      }
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      // A connection that could not roll back is in an unknown state: destroy it rather than reuse it.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async read<T>(work: (session: SqlSession) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      return await work(sessionOf(client));
    } finally {
      client.release();
    }
  }

  listen(listener: StoreListener): Promise<() => Promise<void>> {
    return this.#notifier.add(listener);
  }

  async close(): Promise<void> {
    await this.#notifier.stop();
    await this.#pool.end();
  }
}

/** Connects, creates the schema if needed and migrates it; concurrent openers wait on an advisory lock. */
export async function openPostgresDriver(
  location: PostgresLocation,
  now: number,
  migrations: readonly Migration[] = POSTGRES_MIGRATIONS,
): Promise<SqlDriver> {
  const schema = location.schema ?? DEFAULT_SCHEMA;
  if (!SCHEMA_NAME.test(schema)) {
    throw new ArgumentError('schema', 'expected 1 to 40 characters of [a-z0-9_], not starting with a digit');
  }
  const poolSize = location.poolSize ?? DEFAULT_POOL_SIZE;
  if (!Number.isSafeInteger(poolSize) || poolSize < 1)
    throw new ArgumentError('poolSize', 'expected an integer >= 1');
  const config: pg.ClientConfig = {
    connectionString: location.postgresUrl,
    options: `-c search_path=${schema}`,
    application_name: 'umbra-delivery',
    types: typeParsers(),
  };
  const pool = new pg.Pool({ ...config, max: poolSize });
  // An idle pooled connection that dies (server restart) is discarded by the pool; without a handler
  // its 'error' event would crash the process.
  pool.on('error', () => undefined);
  const channel = `umbra_delivery_${schema}`;
  const driver = new PostgresDriver(pool, channel, new Notifier(config, channel));
  try {
    await driver.write(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`umbra_delivery_migrate:${schema}`]);
      await tx.execute(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await migrate(tx, migrations, now);
    });
  } catch (error) {
    await pool.end();
    throw error;
  }
  return driver;
}
