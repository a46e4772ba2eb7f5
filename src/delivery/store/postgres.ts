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
import { fromHex, toHex } from '../../bytes.ts';
import { ArgumentError } from '../../errors.ts';
import type { MessageKind } from '../../protocol/records.ts';
import {
  dispatch,
  type Migration,
  migrate,
  type SqlDriver,
  type SqlRow,
  type SqlSession,
  type SqlTransaction,
  type StreamPostOutcome,
  type StreamPostRequest,
} from './driver.ts';
import type { DeliveryLimits, StoreEvent, StoreListener } from './types.ts';

export const DEFAULT_SCHEMA = 'umbra_delivery';
const DEFAULT_POOL_SIZE = 10;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;
const INT8_OID = 20;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/** Posts per `post_batch` statement at most (the arrays' size stays far below a protocol message's limit). */
const MAX_POSTS_PER_BATCH = 256;
/**
 * `post_batch` statements in flight at once: two, so that one batch fills while the other commits; more would
 * only queue on the store-wide total, which each batch takes last and holds until its commit.
 */
const MAX_BATCHES_IN_FLIGHT = 2;
/** Raised by `post_batch` when a post would pass the store-wide quota, and at its final check. */
const STORE_FULL = new Set(['UMB01', 'UMB02']);
const POST_BATCH_SQL = `SELECT post_index, outcome, out_seq, out_winning_seq FROM post_batch($1::smallint[],
  $2::bytea[], $3::bytea[], $4::text[], $5::bytea[], $6::integer[], $7::bytea[], $8::bigint[], $9, $10, $11, $12, $13)`;

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
  {
    version: 6,
    name: 'posts in one statement: post_one and post_batch',
    statements: [
      // One post, as SqlStore.#postIn does it (sql-store.ts has the rules and says why), its change events
      // included. `room` is what the store-wide quota has left for it; a post that would pass it raises
      // UMB01, which takes back everything its statement did, its stream row included.
      `CREATE FUNCTION post_one(p_space SMALLINT, p_stream BYTEA, p_message BYTEA, p_kind TEXT, p_commit BYTEA,
        p_bucket INTEGER, p_blob BYTEA, p_now BIGINT, p_ttl BIGINT, p_max_items BIGINT, p_max_bytes BIGINT,
        p_room BIGINT, p_channel TEXT,
        OUT outcome TEXT, OUT out_seq BIGINT, OUT out_winning_seq BIGINT, OUT added_bytes BIGINT)
      LANGUAGE plpgsql AS $fn$
      DECLARE
        stream RECORD;
        existing RECORD;
        found_existing BOOLEAN;
        replaces BOOLEAN;
        live_items BIGINT;
        live_bytes BIGINT;
        blob_size BIGINT := length(p_blob);
        freed BIGINT := 0;
        dropped_items BIGINT;
        dropped_bytes BIGINT;
        last BIGINT;
        held RECORD;
        hex TEXT := encode(p_stream, 'hex');
      BEGIN
        added_bytes := 0;
        INSERT INTO streams AS s (space, stream_id, last_seq, touched_at) VALUES (p_space, p_stream, 0, p_now)
          ON CONFLICT (space, stream_id) DO UPDATE SET touched_at = p_now
          RETURNING s.last_seq, s.winning_seq, s.winning_message_id, s.item_count, s.item_bytes INTO stream;
        SELECT i.seq, i.expires_at INTO existing FROM items i
          WHERE i.space = p_space AND i.stream_id = p_stream AND i.message_id = p_message;
        found_existing := FOUND;
        replaces := found_existing AND existing.expires_at <= p_now;
        IF found_existing AND NOT replaces THEN
          outcome := CASE WHEN existing.seq IS NULL THEN 'held' ELSE 'duplicate' END;
          out_seq := existing.seq;
          RETURN;
        END IF;
        IF stream.winning_seq IS NOT NULL AND (p_commit IS NULL OR p_commit <> stream.winning_message_id) THEN
          outcome := 'stale_epoch';
          out_winning_seq := stream.winning_seq;
          RETURN;
        END IF;
        live_items := stream.item_count;
        live_bytes := stream.item_bytes;
        IF live_items >= p_max_items OR live_bytes + blob_size > p_max_bytes THEN
          SELECT COUNT(*), COALESCE(SUM(length(i.blob)), 0) INTO live_items, live_bytes FROM items i
            WHERE i.space = p_space AND i.stream_id = p_stream AND i.expires_at > p_now;
          IF live_items >= p_max_items THEN outcome := 'messages'; RETURN; END IF;
          IF live_bytes + blob_size > p_max_bytes THEN outcome := 'bytes'; RETURN; END IF;
        END IF;
        IF replaces THEN
          DELETE FROM items i WHERE i.space = p_space AND i.stream_id = p_stream AND i.message_id = p_message
            RETURNING length(i.blob) INTO freed;
        END IF;
        IF p_kind IS DISTINCT FROM 'commit' AND blob_size - freed > p_room THEN
          RAISE EXCEPTION 'the store is full' USING ERRCODE = 'UMB01';
        END IF;
        last := stream.last_seq;
        IF p_kind = 'welcome' AND stream.winning_seq IS NULL THEN
          out_seq := NULL;
          outcome := 'held';
        ELSE
          last := last + 1;
          out_seq := last;
          outcome := 'stored';
        END IF;
        INSERT INTO items (space, stream_id, message_id, seq, kind, commit_message_id, bucket, blob, posted_at, expires_at)
          VALUES (p_space, p_stream, p_message, out_seq, p_kind, p_commit, p_bucket, p_blob, p_now, p_now + p_ttl);
        live_items := live_items + 1;
        live_bytes := live_bytes + blob_size;
        IF out_seq IS NOT NULL THEN
          PERFORM pg_notify(p_channel, CASE WHEN p_kind IS NULL
            THEN json_build_object('type', 'mailbox', 'id', hex, 'seq', out_seq)::text
            ELSE json_build_object('type', 'log', 'id', hex, 'seq', out_seq, 'kind', p_kind)::text END);
        END IF;
        IF p_kind = 'commit' THEN
          UPDATE streams SET winning_seq = out_seq, winning_message_id = p_message
            WHERE space = p_space AND stream_id = p_stream;
          FOR held IN SELECT i.message_id FROM items i
              WHERE i.space = p_space AND i.stream_id = p_stream AND i.seq IS NULL
                AND i.commit_message_id = p_message AND i.expires_at > p_now
              ORDER BY i.posted_at, i.message_id LOOP
            last := last + 1;
            UPDATE items SET seq = last
              WHERE space = p_space AND stream_id = p_stream AND message_id = held.message_id;
            PERFORM pg_notify(p_channel,
              json_build_object('type', 'log', 'id', hex, 'seq', last, 'kind', 'welcome')::text);
          END LOOP;
          WITH dropped AS (
            DELETE FROM items i WHERE i.space = p_space AND i.stream_id = p_stream AND i.seq IS NULL
              AND i.expires_at > p_now RETURNING length(i.blob) AS size)
          SELECT COUNT(*), COALESCE(SUM(size), 0) INTO dropped_items, dropped_bytes FROM dropped;
          live_items := live_items - dropped_items;
          live_bytes := live_bytes - dropped_bytes;
          freed := freed + dropped_bytes;
          IF blob_size - freed > p_room THEN
            RAISE EXCEPTION 'the store is full' USING ERRCODE = 'UMB01';
          END IF;
        END IF;
        UPDATE streams SET last_seq = last, item_count = live_items, item_bytes = live_bytes
          WHERE space = p_space AND stream_id = p_stream;
        added_bytes := blob_size - freed;
      END
      $fn$`,
      // Posts from several clients in one statement (one transaction). They take their streams' locks in
      // the order of (space, stream ID), the store-wide total once and last, so that batches and single
      // writes never deadlock. Any post that fails (UMB01: the store is full) fails the statement, as does
      // the final check (UMB02) when another writer filled the store meanwhile; the caller then runs each
      // post alone, where a failure is that post's own. No savepoint per post: the common batch pays none.
      `CREATE FUNCTION post_batch(p_space SMALLINT[], p_stream BYTEA[], p_message BYTEA[], p_kind TEXT[],
        p_commit BYTEA[], p_bucket INTEGER[], p_blob BYTEA[], p_now BIGINT[], p_ttl BIGINT, p_max_items BIGINT,
        p_max_bytes BIGINT, p_max_total BIGINT, p_channel TEXT)
      RETURNS TABLE (post_index INTEGER, outcome TEXT, out_seq BIGINT, out_winning_seq BIGINT)
      LANGUAGE plpgsql AS $fn$
      DECLARE
        k INTEGER;
        one RECORD;
        used BIGINT;
        added BIGINT := 0;
      BEGIN
        SELECT u.blob_bytes INTO used FROM store_usage u WHERE u.id = 1;
        FOR k IN SELECT t.o::INTEGER FROM unnest(p_stream) WITH ORDINALITY AS t(id, o)
            ORDER BY p_space[t.o], t.id, t.o LOOP
          SELECT * INTO one FROM post_one(p_space[k], p_stream[k], p_message[k], p_kind[k], p_commit[k],
            p_bucket[k], p_blob[k], p_now[k], p_ttl, p_max_items, p_max_bytes, p_max_total - used - added, p_channel);
          post_index := k;
          outcome := one.outcome;
          out_seq := one.out_seq;
          out_winning_seq := one.out_winning_seq;
          added := added + one.added_bytes;
          RETURN NEXT;
        END LOOP;
        IF added > 0 THEN
          UPDATE store_usage u SET blob_bytes = u.blob_bytes + added WHERE u.id = 1 AND u.blob_bytes + added <= p_max_total;
          IF NOT FOUND THEN RAISE EXCEPTION 'the store is full' USING ERRCODE = 'UMB02'; END IF;
        ELSIF added < 0 THEN
          UPDATE store_usage u SET blob_bytes = u.blob_bytes + added WHERE u.id = 1;
        END IF;
      END
      $fn$`,
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

/** A post waiting for, or in, a `post_batch` statement. */
interface QueuedPost {
  readonly post: StreamPostRequest;
  readonly limits: DeliveryLimits;
  readonly resolve: (outcome: StreamPostOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/** A view of `bytes` as a Buffer, which is what `pg` encodes as BYTEA inside an array parameter. */
function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

class PostgresDriver implements SqlDriver {
  readonly backend = 'postgres';
  readonly skipLockedRows = ' FOR UPDATE SKIP LOCKED';
  readonly #pool: pg.Pool;
  readonly #channel: string;
  readonly #notifier: Notifier;
  /** Posts that arrived while MAX_BATCHES_IN_FLIGHT batches were running: the next batch. */
  #waiting: QueuedPost[] = [];
  #batchesInFlight = 0;

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

  /**
   * Group commit for posts: one that arrives while the database is busy with earlier batches joins the next
   * one, which is one statement and one transaction (`post_batch`) however many posts it holds.
   */
  readonly postOnServer = (post: StreamPostRequest, limits: DeliveryLimits): Promise<StreamPostOutcome> =>
    new Promise((resolve, reject) => {
      this.#waiting.push({ post, limits, resolve, reject });
      this.#sendBatches();
    });

  #sendBatches(): void {
    while (this.#batchesInFlight < MAX_BATCHES_IN_FLIGHT && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, MAX_POSTS_PER_BATCH);
      this.#batchesInFlight += 1;
      void this.#runBatch(batch).finally(() => {
        this.#batchesInFlight -= 1;
        this.#sendBatches();
      });
    }
  }

  /**
   * Runs `batch` in one statement and answers each post. If the statement fails, each post runs again
   * alone, where a failure is that post's own (the store being full is an answer, not an error).
   */
  async #runBatch(batch: readonly QueuedPost[]): Promise<void> {
    const posts = batch.map((queued) => queued.post);
    const { ttlMs, maxItemsPerStream, maxBytesPerStream, maxTotalBytes } = (batch[0] as QueuedPost).limits;
    let rows: SqlRow[];
    try {
      const result = await this.#pool.query(POST_BATCH_SQL, [
        posts.map((post) => post.space),
        posts.map((post) => buffer(post.streamId)),
        posts.map((post) => buffer(post.messageId)),
        posts.map((post) => post.kind),
        posts.map((post) => (post.commitMessageId === null ? null : buffer(post.commitMessageId))),
        posts.map((post) => post.bucket),
        posts.map((post) => buffer(post.blob)),
        posts.map((post) => post.now),
        ttlMs,
        maxItemsPerStream,
        maxBytesPerStream,
        maxTotalBytes,
        this.#channel,
      ]);
      rows = result.rows;
    } catch (error) {
      if (batch.length > 1) {
        await Promise.all(batch.map((queued) => this.#runBatch([queued])));
        return;
      }
      const [queued] = batch as [QueuedPost];
      if (STORE_FULL.has((error as { code?: unknown }).code as string)) {
        queued.resolve({ outcome: 'storage', seq: null, winningSeq: null });
      } else {
        queued.reject(error);
      }
      return;
    }
    for (const row of rows) {
      batch[(row.post_index as number) - 1]?.resolve({
        outcome: row.outcome as StreamPostOutcome['outcome'],
        seq: row.out_seq as number | null,
        winningSeq: row.out_winning_seq as number | null,
      });
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
