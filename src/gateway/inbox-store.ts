/**
 * The exit gateway's client inboxes (docs/gateway.md, "Inboxes"), in one SQLite file (`node:sqlite`, WAL,
 * `synchronous = NORMAL`) of its data directory, so that what was stored survives a restart or a crash of
 * the gateway. An operating-system crash may lose the last second of items: replies the client asks for
 * again (its requests are retransmitted and idempotent) and loops it counts as lost. Not fsyncing each item
 * keeps the gateway's event loop, and with it every client's constant-rate downstream, from stalling for as
 * long as a busy disk takes to fsync (up to a second, measured here; clients read that as a hung gateway). An
 * inbox exists once its owner has opened it (`open`, on a client's hello); items for an inbox nobody opened
 * are refused, so random recipient ids cannot fill the disk. Each inbox keeps at most `quota` items: the
 * next is refused with `GatewayError('inbox_full')` and counted, and the owner is told how many were refused
 * when it next connects. Items live until acknowledged or for `ttlMs` (72 hours by default); an inbox whose
 * owner has not connected for `idleMs` is deleted with its items.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { assertBytes } from '../bytes.ts';
import { GatewayError } from '../errors.ts';
import { openDurableSqlite, probeSqlite } from '../ops/sqlite.ts';
import type { InboxContent, InboxItem } from '../protocol/gateway-protocol.ts';
import { RECIPIENT_ID_LENGTH } from '../sphinx/geometry.ts';

export const DEFAULT_INBOX_QUOTA = 1_000;
export const DEFAULT_ITEM_TTL_MS = 72 * 60 * 60 * 1000;
export const DEFAULT_INBOX_IDLE_MS = 30 * 24 * 60 * 60 * 1000;

export interface InboxStoreOptions {
  /** Most items one inbox holds. Default `DEFAULT_INBOX_QUOTA`. */
  readonly quota?: number;
  /** How long an unacknowledged item is kept. Default 72 hours. */
  readonly ttlMs?: number;
  /** How long an inbox whose owner never connects is kept. Default 30 days. */
  readonly idleMs?: number;
  /** Unix milliseconds; default Date.now. */
  readonly now?: () => number;
}

const MAX_SEQUENCE = 2n ** 63n - 1n;
const KIND_MESSAGE = 1;
const KIND_REPLY = 2;

interface ItemRow {
  readonly sequence: number | bigint;
  readonly received_at: number | bigint;
  readonly kind: number | bigint;
  readonly surb_id: Uint8Array | null;
  readonly payload: Uint8Array;
}

export class InboxStore {
  readonly quota: number;
  readonly ttlMs: number;
  readonly idleMs: number;
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #statements: Record<
    | 'touch'
    | 'inbox'
    | 'resetDropped'
    | 'count'
    | 'bump'
    | 'refuse'
    | 'insert'
    | 'items'
    | 'delete'
    | 'expireItems'
    | 'idleItems'
    | 'idleInboxes',
    StatementSync
  >;
  #open = true;

  private constructor(db: DatabaseSync, options: InboxStoreOptions) {
    this.#db = db;
    this.quota = options.quota ?? DEFAULT_INBOX_QUOTA;
    this.ttlMs = options.ttlMs ?? DEFAULT_ITEM_TTL_MS;
    this.idleMs = options.idleMs ?? DEFAULT_INBOX_IDLE_MS;
    this.#now = options.now ?? Date.now;
    this.#statements = {
      touch: db.prepare(
        'INSERT INTO inboxes (id, next_sequence, dropped, last_seen) VALUES (?, 1, 0, ?) ' +
          'ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen',
      ),
      inbox: db.prepare('SELECT next_sequence, dropped FROM inboxes WHERE id = ?'),
      resetDropped: db.prepare('UPDATE inboxes SET dropped = 0 WHERE id = ?'),
      count: db.prepare('SELECT count(*) AS n FROM items WHERE inbox = ?'),
      bump: db.prepare('UPDATE inboxes SET next_sequence = next_sequence + 1 WHERE id = ?'),
      refuse: db.prepare('UPDATE inboxes SET dropped = dropped + 1 WHERE id = ?'),
      insert: db.prepare(
        'INSERT INTO items (inbox, sequence, received_at, kind, surb_id, payload) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      items: db.prepare(
        'SELECT sequence, received_at, kind, surb_id, payload FROM items WHERE inbox = ? AND sequence > ? ' +
          'ORDER BY sequence LIMIT ?',
      ),
      delete: db.prepare('DELETE FROM items WHERE inbox = ? AND sequence = ?'),
      expireItems: db.prepare('DELETE FROM items WHERE received_at < ?'),
      idleItems: db.prepare('DELETE FROM items WHERE inbox IN (SELECT id FROM inboxes WHERE last_seen < ?)'),
      idleInboxes: db.prepare('DELETE FROM inboxes WHERE last_seen < ?'),
    };
  }

  /** Opens (creating it and its directory if needed) the store at `path`. */
  static open(path: string, options: InboxStoreOptions = {}): InboxStore {
    return openDurableSqlite(
      path,
      [
        'CREATE TABLE IF NOT EXISTS inboxes (id BLOB PRIMARY KEY, next_sequence INTEGER NOT NULL, ' +
          'dropped INTEGER NOT NULL, last_seen INTEGER NOT NULL) WITHOUT ROWID',
        'CREATE TABLE IF NOT EXISTS items (inbox BLOB NOT NULL, sequence INTEGER NOT NULL, ' +
          'received_at INTEGER NOT NULL, kind INTEGER NOT NULL, surb_id BLOB, payload BLOB NOT NULL, ' +
          'PRIMARY KEY (inbox, sequence)) WITHOUT ROWID',
        'CREATE INDEX IF NOT EXISTS items_received_at ON items (received_at)',
      ],
      (db) => new InboxStore(db, options),
      { synchronous: 'NORMAL' },
    );
  }

  /**
   * Creates the inbox if needed and records its owner's visit. Returns how many items wait and how many were
   * refused as over quota since the last visit (that count starts again at zero).
   */
  open(inbox: Uint8Array): { pending: number; dropped: number } {
    this.#check(inbox);
    return this.#transaction(() => {
      this.#statements.touch.run(inbox, this.#now());
      const row = this.#statements.inbox.get(inbox) as { dropped: number | bigint };
      this.#statements.resetDropped.run(inbox);
      return { pending: this.#count(inbox), dropped: Number(row.dropped) };
    });
  }

  /**
   * Stores `content` for `inbox` and returns the item, or undefined when nobody opened that inbox. Throws
   * `GatewayError('inbox_full')` when it holds `quota` items already.
   */
  put(inbox: Uint8Array, content: InboxContent): InboxItem | undefined {
    const [stored] = this.putMany([{ inbox, content }]);
    if (stored === 'inbox_full') {
      throw new GatewayError('inbox_full', `the inbox holds its quota of ${this.quota} items`);
    }
    return stored === 'unknown_inbox' ? undefined : stored;
  }

  /**
   * Stores several items in one transaction (one fsync: what lets an exit keep up with a whole batch), each
   * as `put` would, and returns for each the item or why it was refused. Refusals for a full inbox are
   * counted for its owner.
   */
  putMany(
    entries: readonly { readonly inbox: Uint8Array; readonly content: InboxContent }[],
  ): (InboxItem | 'unknown_inbox' | 'inbox_full')[] {
    for (const { inbox } of entries) this.#check(inbox);
    if (entries.length === 0) return [];
    return this.#transaction(() => entries.map(({ inbox, content }) => this.#putOne(inbox, content)));
  }

  #putOne(inbox: Uint8Array, content: InboxContent): InboxItem | 'unknown_inbox' | 'inbox_full' {
    const row = this.#statements.inbox.get(inbox) as { next_sequence: number | bigint } | undefined;
    if (!row) return 'unknown_inbox';
    if (this.#count(inbox) >= this.quota) {
      // Counted (and committed) so the owner learns of it; the item itself is refused.
      this.#statements.refuse.run(inbox);
      return 'inbox_full';
    }
    const sequence = BigInt(row.next_sequence);
    const receivedAt = this.#now();
    const { kind, surbId, payload } =
      content.kind === 'message'
        ? { kind: KIND_MESSAGE, surbId: null, payload: content.value.payload }
        : { kind: KIND_REPLY, surbId: content.value.surbId, payload: content.value.payload };
    this.#statements.insert.run(inbox, sequence, receivedAt, kind, surbId, payload);
    this.#statements.bump.run(inbox);
    return { sequence, receivedAt: BigInt(receivedAt), content };
  }

  /** Up to `limit` items of `inbox` with a sequence number above `after`, oldest first. */
  items(inbox: Uint8Array, after = 0n, limit = this.quota): InboxItem[] {
    this.#check(inbox);
    const rows = this.#statements.items.all(inbox, after, limit) as unknown as ItemRow[];
    return rows.map((row) => ({
      sequence: BigInt(row.sequence),
      receivedAt: BigInt(row.received_at),
      content:
        Number(row.kind) === KIND_REPLY && row.surb_id
          ? {
              kind: 'reply',
              value: { surbId: Uint8Array.from(row.surb_id), payload: Uint8Array.from(row.payload) },
            }
          : { kind: 'message', value: { payload: Uint8Array.from(row.payload) } },
    }));
  }

  /** Deletes the acknowledged items; returns how many existed. Numbers no item can have are ignored. */
  ack(inbox: Uint8Array, sequences: readonly bigint[]): number {
    this.#check(inbox);
    // SQLite integers are 64-bit signed: a larger number (a client may send any u64) names no item.
    const possible = sequences.filter((sequence) => sequence >= 1n && sequence <= MAX_SEQUENCE);
    return this.#transaction(() =>
      possible.reduce(
        (deleted, sequence) => deleted + Number(this.#statements.delete.run(inbox, sequence).changes),
        0,
      ),
    );
  }

  /** Deletes items past their TTL and inboxes idle for too long; returns how many items went. */
  expire(): number {
    const now = this.#now();
    return this.#transaction(() => {
      const expired = Number(this.#statements.expireItems.run(now - this.ttlMs).changes);
      const idle = Number(this.#statements.idleItems.run(now - this.idleMs).changes);
      this.#statements.idleInboxes.run(now - this.idleMs);
      return expired + idle;
    });
  }

  /** Throws when the file does not answer a read (for /ready). */
  check(): void {
    probeSqlite(this.#db);
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#db.close();
  }

  #count(inbox: Uint8Array): number {
    return Number((this.#statements.count.get(inbox) as { n: number | bigint }).n);
  }

  #check(inbox: Uint8Array): void {
    if (!this.#open) throw new GatewayError('closed', 'the inbox store is closed');
    assertBytes('inbox', inbox, RECIPIENT_ID_LENGTH);
  }

  #transaction<T>(body: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = body();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }
}
