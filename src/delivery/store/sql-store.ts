/**
 * The delivery store's rules, written once over `SqlDriver` so that SQLite and PostgreSQL behave alike:
 * per-stream sequence numbers, the first-commit-wins rule with held Welcomes, idempotent retries, TTL and
 * quotas, and exactly-once KeyPackages. Group logs and mailboxes are both "streams" (a space number and an
 * opaque 32-byte ID) sharing one table of items, since they differ only in the commit rule and deletion.
 *
 * Every write begins by locking its stream row (or identity row) with an UPSERT or UPDATE, so that racing
 * writers on one stream run one after the other and each sees what the previous one committed; the checks
 * and the insert that follow are therefore atomic, in any number of processes. The per-stream quotas read
 * counters kept in that row (an upper bound of the live items, exact when a post recounts), so a post does
 * not scan its stream's items unless it is near a quota.
 *
 * Where the database can run a whole post itself (PostgreSQL), unpaid posts go there in one round trip,
 * batched with concurrent ones (`SqlDriver.postOnServer`): the same rules in the database's language,
 * held to the same compliance suite; `#postIn` below is the reference and runs everywhere else.
 *
 * The store-wide blob quota (`maxTotalBytes`) is a running total in the one row of `store_usage`, changed in
 * the same transaction as every insert and delete of items by exactly the bytes they add or free. A post
 * adds its bytes there with a conditional UPDATE as its last statement, and rolls back if the total would
 * pass the quota; taking that lock last in every transaction (posts, deletes, purges) keeps the hot row
 * from being part of a deadlock, and makes the total exact under any concurrency.
 */
import { assertBytes, constantTimeEqual, fromHex, toHex } from '../../bytes.ts';
import { ArgumentError, DeliveryError } from '../../errors.ts';
import type {
  ClaimedKeyPackage,
  Held,
  KeyPackageCount,
  KeyPackageUpload,
  LogEntry,
  LogPage,
  LogPost,
  LogPostResult,
  MailboxItem,
  MailboxPost,
  MailboxPostResult,
  MessageKind,
  RegisterOutcome,
} from '../../protocol/records.ts';
import type { SqlDriver, SqlRow, SqlTransaction, StreamPostOutcome } from './driver.ts';
import {
  CLAIM_RECEIPT_RETENTION_MS,
  type ClaimResult,
  type Clock,
  type DeliveryLimits,
  type DeliveryStore,
  type IdentityRecord,
  type IssuerKeyRecord,
  KEY_LENGTH,
  type KeyPackagePublication,
  MAX_IDENTITY_KEY_LENGTH,
  MAX_REGISTRATION_LENGTH,
  MAX_SPEND_ID_LENGTH,
  MAX_TAG_LENGTH,
  type PublishResult,
  type PurgeCounts,
  type SpendKind,
  type StoreListener,
  type TokenSpend,
  type TokenSpent,
} from './types.ts';

const LOG_SPACE = 1;
const MAILBOX_SPACE = 2;
type Space = typeof LOG_SPACE | typeof MAILBOX_SPACE;

const KINDS: readonly MessageKind[] = ['commit', 'application', 'welcome'];
const SPEND_KINDS: Readonly<Record<SpendKind, number>> = { token: 1, nonce: 2 };
const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_BUCKET = 2 ** 31 - 1;
const HELD: Held = { ok: true, status: 'held' };

/** A post as the shared stream logic sees it: mailbox items have no kind and no commit. */
interface StreamPost {
  readonly kind: MessageKind | null;
  readonly messageId: Uint8Array;
  readonly blob: Uint8Array;
  readonly bucket: number;
  readonly commitMessageId: Uint8Array | null;
}

// Row readers: a wrong type here is a bug in this module or a corrupted database, never user input.
function integer(row: SqlRow | undefined, column: string): number {
  const value = row?.[column];
  if (typeof value !== 'number') throw new TypeError(`column ${column}: expected an integer`);
  return value;
}

function integerOrNull(row: SqlRow | undefined, column: string): number | null {
  return row?.[column] === null ? null : integer(row, column);
}

function bytes(row: SqlRow | undefined, column: string): Uint8Array {
  const value = row?.[column];
  if (!(value instanceof Uint8Array)) throw new TypeError(`column ${column}: expected bytes`);
  return value;
}

function bytesOrNull(row: SqlRow | undefined, column: string): Uint8Array | null {
  return row?.[column] === null ? null : bytes(row, column);
}

function assertTag(argument: string, value: unknown): asserts value is Uint8Array {
  assertBytes(argument, value);
  if (value.length < 1 || value.length > MAX_TAG_LENGTH) {
    throw new ArgumentError(argument, `expected 1 to ${MAX_TAG_LENGTH} bytes, got ${value.length}`);
  }
}

function assertSized(argument: string, value: unknown, max: number): asserts value is Uint8Array {
  assertBytes(argument, value);
  if (value.length < 1 || value.length > max) {
    throw new ArgumentError(argument, `expected 1 to ${max} bytes, got ${value.length}`);
  }
}

function assertTime(argument: string, value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new ArgumentError(argument, 'expected an integer >= 0');
  }
}

function issuerKey(row: SqlRow): IssuerKeyRecord {
  return {
    slot: integer(row, 'slot'),
    tokenKey: bytes(row, 'token_key'),
    sealedPrivateKey: bytes(row, 'sealed_private_key'),
    notBefore: integer(row, 'not_before'),
    acceptUntil: integer(row, 'accept_until'),
  };
}

/** Thrown inside a paid write whose token was spent before, to undo the write. */
class AlreadySpent extends Error {}

const TOKEN_SPENT: TokenSpent = { ok: false, error: 'token_spent' };

function assertSpend(spend: TokenSpend): void {
  assertSized('spend.id', spend.id, MAX_SPEND_ID_LENGTH);
  assertTime('spend.expiresAt', spend.expiresAt);
  assertSized('spend.binding', spend.binding, MAX_SPEND_ID_LENGTH);
}

/** A claim's result as its spent record keeps it (store-internal JSON, hex bytes). */
function encodeReceipt(result: ClaimResult): Uint8Array {
  const packages = result.ok ? result.packages : [];
  return new TextEncoder().encode(
    JSON.stringify(
      packages.map((p) => [toHex(p.deviceId), toHex(p.id), toHex(p.data), p.lastResort ? 1 : 0]),
    ),
  );
}

function decodeReceipt(receipt: Uint8Array): ClaimResult {
  const rows = JSON.parse(new TextDecoder().decode(receipt)) as [string, string, string, number][];
  const packages = rows.map(([deviceId, id, data, lastResort]) => ({
    deviceId: fromHex(deviceId),
    id: fromHex(id),
    data: fromHex(data),
    lastResort: lastResort === 1,
  }));
  return packages.length === 0 ? { ok: false, error: 'not_found' } : { ok: true, packages };
}

function assertCursor(afterSeq: number, limit: number): void {
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0)
    throw new ArgumentError('afterSeq', 'expected an integer >= 0');
  if (!Number.isSafeInteger(limit) || limit < 1) throw new ArgumentError('limit', 'expected an integer >= 1');
}

function assertUpload(argument: string, upload: KeyPackageUpload): void {
  assertTag(`${argument}.id`, upload.id);
  assertBytes(`${argument}.data`, upload.data);
}

function mailboxItem(row: SqlRow): MailboxItem {
  return {
    seq: integer(row, 'seq'),
    messageId: bytes(row, 'message_id'),
    blob: bytes(row, 'blob'),
    bucket: integer(row, 'bucket'),
    postedAt: integer(row, 'posted_at'),
    expiresAt: integer(row, 'expires_at'),
  };
}

function logEntry(row: SqlRow): LogEntry {
  const kind = row.kind;
  if (!KINDS.includes(kind as MessageKind)) throw new TypeError('column kind: expected a message kind');
  return {
    ...mailboxItem(row),
    kind: kind as MessageKind,
    commitMessageId: bytesOrNull(row, 'commit_message_id'),
  };
}

const ITEM_COLUMNS = 'seq, kind, message_id, commit_message_id, bucket, blob, posted_at, expires_at';

/** Thrown inside a post's transaction to roll it back when the store-wide quota refuses it. */
class StorageFull extends Error {}

/** The blob bytes that a `DELETE ... RETURNING LENGTH(blob) AS size` freed. */
function freedBytes(rows: readonly SqlRow[]): number {
  return rows.reduce((sum, row) => sum + integer(row, 'size'), 0);
}

/**
 * Changes the running total of stored blob bytes by `delta`. Growth is refused (false, nothing changed)
 * when it would pass `max`. Call it last in a transaction: it takes the store-wide lock.
 */
async function addStoredBytes(tx: SqlTransaction, delta: number, max: number): Promise<boolean> {
  if (delta === 0) return true;
  if (delta < 0) {
    await tx.execute('UPDATE store_usage SET blob_bytes = blob_bytes + $1 WHERE id = 1', [delta]);
    return true;
  }
  const changed = await tx.execute(
    'UPDATE store_usage SET blob_bytes = blob_bytes + $1 WHERE id = 1 AND blob_bytes + $1 <= $2',
    [delta, max],
  );
  return changed === 1;
}

/** A post's result from what the database that ran it reports (`SqlDriver.postOnServer`). */
function postResult({ outcome, seq, winningSeq }: StreamPostOutcome): LogPostResult {
  switch (outcome) {
    case 'stored':
    case 'duplicate':
      return { ok: true, status: outcome, seq: seq as number };
    case 'held':
      return HELD;
    case 'stale_epoch':
      return { ok: false, error: 'stale_epoch', winningSeq: winningSeq as number };
    case 'messages':
    case 'bytes':
    case 'storage':
      return { ok: false, error: 'quota_exceeded', limit: outcome };
  }
}

export class SqlStore implements DeliveryStore {
  readonly backend: 'sqlite' | 'postgres';
  readonly limits: DeliveryLimits;
  readonly #driver: SqlDriver;
  readonly #clock: Clock;
  #closed = false;

  constructor(driver: SqlDriver, clock: Clock, limits: DeliveryLimits) {
    this.backend = driver.backend;
    this.#driver = driver;
    this.#clock = clock;
    this.limits = limits;
  }

  async registerIdentity(
    handleHash: Uint8Array,
    identityKey: Uint8Array,
    registration: Uint8Array,
  ): Promise<RegisterOutcome> {
    assertBytes('handleHash', handleHash, KEY_LENGTH);
    assertSized('identityKey', identityKey, MAX_IDENTITY_KEY_LENGTH);
    assertSized('registration', registration, MAX_REGISTRATION_LENGTH);
    const now = this.#clock();
    return this.#open().write(async (tx) => {
      const inserted = await tx.execute(
        `INSERT INTO identities (handle_hash, identity_key, registration, registered_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (handle_hash) DO NOTHING`,
        [handleHash, identityKey, registration, now],
      );
      if (inserted === 1) return { ok: true, created: true };
      const [existing] = await tx.query('SELECT identity_key FROM identities WHERE handle_hash = $1', [
        handleHash,
      ]);
      return constantTimeEqual(bytes(existing, 'identity_key'), identityKey)
        ? { ok: true, created: false }
        : { ok: false, error: 'handle_taken' };
    });
  }

  async getIdentity(handleHash: Uint8Array): Promise<IdentityRecord | undefined> {
    assertBytes('handleHash', handleHash, KEY_LENGTH);
    const [row] = await this.#open().read((session) =>
      session.query(
        'SELECT identity_key, registration, registered_at FROM identities WHERE handle_hash = $1',
        [handleHash],
      ),
    );
    if (row === undefined) return undefined;
    return {
      identityKey: bytes(row, 'identity_key'),
      registration: bytes(row, 'registration'),
      registeredAt: integer(row, 'registered_at'),
    };
  }

  async publishKeyPackages(publication: KeyPackagePublication): Promise<PublishResult> {
    const { handleHash, deviceId, oneTime, lastResort } = publication;
    assertBytes('handleHash', handleHash, KEY_LENGTH);
    assertTag('deviceId', deviceId);
    for (const [index, upload] of oneTime.entries()) assertUpload(`oneTime[${index}]`, upload);
    if (lastResort !== undefined) assertUpload('lastResort', lastResort);
    const maxBytes = this.limits.maxKeyPackageBytes;
    const uploads = lastResort === undefined ? oneTime : [...oneTime, lastResort];
    if (uploads.some((upload) => upload.data.length > maxBytes))
      return { ok: false, error: 'too_large', maxBytes };
    const now = this.#clock();
    return this.#open().write(async (tx) => {
      // Locks the identity, so that racing uploads of any of its devices cannot together overshoot a quota.
      const identity = await tx.execute(
        'UPDATE identities SET registered_at = registered_at WHERE handle_hash = $1',
        [handleHash],
      );
      if (identity === 0) return { ok: false, error: 'not_found' };
      await tx.execute(
        `INSERT INTO key_package_devices (handle_hash, device_id) VALUES ($1, $2)
         ON CONFLICT (handle_hash, device_id) DO UPDATE SET last_resort_at = key_package_devices.last_resort_at`,
        [handleHash, deviceId],
      );
      const fresh = await this.#unknownKeyPackages(tx, handleHash, oneTime);
      const [stock] = await tx.query(
        'SELECT COUNT(*) AS n FROM key_packages WHERE handle_hash = $1 AND device_id = $2 AND claimed_at IS NULL',
        [handleHash, deviceId],
      );
      if (integer(stock, 'n') + fresh.length > this.limits.maxKeyPackagesPerDevice) {
        return { ok: false, error: 'quota_exceeded', limit: 'key_packages' };
      }
      const [held] = await tx.query(
        `SELECT (SELECT COALESCE(SUM(LENGTH(data)), 0) FROM key_packages WHERE handle_hash = $1 AND claimed_at IS NULL)
           + (SELECT COALESCE(SUM(LENGTH(last_resort_data)), 0) FROM key_package_devices
              WHERE handle_hash = $1 AND NOT (device_id = $2 AND $3 = 1)) AS size`,
        [handleHash, deviceId, lastResort === undefined ? 0 : 1],
      );
      const adding = fresh.reduce((sum, upload) => sum + upload.data.length, lastResort?.data.length ?? 0);
      if (integer(held, 'size') + adding > this.limits.maxKeyPackageBytesPerIdentity) {
        return { ok: false, error: 'quota_exceeded', limit: 'key_packages' };
      }
      let added = 0;
      for (const upload of fresh) {
        // Another device of the same handle may have raced us to the same id: the first one keeps it.
        added += await tx.execute(
          `INSERT INTO key_packages (handle_hash, device_id, package_id, data, uploaded_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (handle_hash, package_id) DO NOTHING`,
          [handleHash, deviceId, upload.id, upload.data, now],
        );
      }
      if (lastResort !== undefined) {
        await tx.execute(
          `UPDATE key_package_devices SET last_resort_id = $3, last_resort_data = $4, last_resort_at = $5
           WHERE handle_hash = $1 AND device_id = $2`,
          [handleHash, deviceId, lastResort.id, lastResort.data, now],
        );
      }
      return { ok: true, added };
    });
  }

  claimKeyPackages(handleHash: Uint8Array): Promise<ClaimResult>;
  claimKeyPackages(handleHash: Uint8Array, spend: TokenSpend): Promise<ClaimResult | TokenSpent>;
  async claimKeyPackages(handleHash: Uint8Array, spend?: TokenSpend): Promise<ClaimResult | TokenSpent> {
    assertBytes('handleHash', handleHash, KEY_LENGTH);
    if (spend !== undefined) assertSpend(spend);
    const now = this.#clock();
    if (spend === undefined) return this.#open().write((tx) => this.#claim(tx, handleHash, now));
    const paid = await this.#paid(spend, now, (tx) => this.#claim(tx, handleHash, now), encodeReceipt);
    if (paid === 'spent') return TOKEN_SPENT;
    if ('result' in paid) return paid.result;
    return paid.receipt === null ? TOKEN_SPENT : decodeReceipt(paid.receipt);
  }

  async #claim(tx: SqlTransaction, handleHash: Uint8Array, now: number): Promise<ClaimResult> {
    const devices = await tx.query(
      `SELECT device_id, last_resort_id, last_resort_data FROM key_package_devices
       WHERE handle_hash = $1 ORDER BY device_id`,
      [handleHash],
    );
    const packages: ClaimedKeyPackage[] = [];
    for (const device of devices) {
      const deviceId = bytes(device, 'device_id');
      const [picked] = await tx.query(
        `SELECT ord, package_id, data FROM key_packages
         WHERE handle_hash = $1 AND device_id = $2 AND claimed_at IS NULL
         ORDER BY ord LIMIT 1${this.#driver.skipLockedRows}`,
        [handleHash, deviceId],
      );
      if (picked !== undefined) {
        // The row stays, without its data, until purged: a re-upload of the same id then changes nothing.
        await tx.execute('UPDATE key_packages SET claimed_at = $2, data = NULL WHERE ord = $1', [
          integer(picked, 'ord'),
          now,
        ]);
        packages.push({
          deviceId,
          id: bytes(picked, 'package_id'),
          data: bytes(picked, 'data'),
          lastResort: false,
        });
        continue;
      }
      const id = bytesOrNull(device, 'last_resort_id');
      const data = bytesOrNull(device, 'last_resort_data');
      if (id !== null && data !== null) packages.push({ deviceId, id, data, lastResort: true });
    }
    return packages.length === 0 ? { ok: false, error: 'not_found' } : { ok: true, packages };
  }

  /**
   * Records a spend in `tx`: 'first' when new, 'repeat' when recorded before with the same (non-empty)
   * binding, 'spent' otherwise. The primary key decides between racing spends in any number of processes.
   */
  async #spend(
    tx: SqlTransaction,
    space: number,
    id: Uint8Array,
    expiresAt: number,
    binding: Uint8Array | undefined,
    now: number,
  ): Promise<'first' | 'repeat' | 'spent'> {
    const inserted = await tx.execute(
      `INSERT INTO spent (kind, id, binding, spent_at, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (kind, id) DO NOTHING`,
      [space, id, binding ?? null, now, expiresAt],
    );
    if (inserted === 1) return 'first';
    if (binding === undefined) return 'spent';
    const [row] = await tx.query('SELECT binding FROM spent WHERE kind = $1 AND id = $2', [space, id]);
    const recorded = bytesOrNull(row, 'binding');
    return recorded !== null && constantTimeEqual(recorded, binding) ? 'repeat' : 'spent';
  }

  async countKeyPackages(handleHash: Uint8Array, deviceId: Uint8Array): Promise<KeyPackageCount> {
    assertBytes('handleHash', handleHash, KEY_LENGTH);
    assertTag('deviceId', deviceId);
    return this.#open().read(async (session) => {
      const [stock] = await session.query(
        'SELECT COUNT(*) AS n FROM key_packages WHERE handle_hash = $1 AND device_id = $2 AND claimed_at IS NULL',
        [handleHash, deviceId],
      );
      const [device] = await session.query(
        'SELECT last_resort_id FROM key_package_devices WHERE handle_hash = $1 AND device_id = $2',
        [handleHash, deviceId],
      );
      return { oneTime: integer(stock, 'n'), lastResort: device?.last_resort_id instanceof Uint8Array };
    });
  }

  async postToLog(routingId: Uint8Array, post: LogPost): Promise<LogPostResult> {
    assertBytes('routingId', routingId, KEY_LENGTH);
    if (!KINDS.includes(post.kind))
      throw new ArgumentError('kind', 'expected commit, application or welcome');
    let commitMessageId: Uint8Array | null = null;
    if (post.kind === 'welcome') {
      assertTag('commitMessageId', post.commitMessageId);
      commitMessageId = post.commitMessageId;
    }
    return this.#post(LOG_SPACE, routingId, { ...post, commitMessageId });
  }

  async fetchLog(routingId: Uint8Array, afterSeq: number, limit: number): Promise<LogPage> {
    assertBytes('routingId', routingId, KEY_LENGTH);
    assertCursor(afterSeq, limit);
    const now = this.#clock();
    return this.#open().read(async (session) => {
      const [stream] = await session.query(
        'SELECT winning_seq FROM streams WHERE space = $1 AND stream_id = $2',
        [LOG_SPACE, routingId],
      );
      const rows = await session.query(
        `SELECT ${ITEM_COLUMNS} FROM items WHERE space = $1 AND stream_id = $2 AND seq > $3 AND expires_at > $4
         ORDER BY seq LIMIT $5`,
        [LOG_SPACE, routingId, afterSeq, now, limit],
      );
      return {
        entries: rows.map(logEntry),
        winningSeq: stream === undefined ? null : integerOrNull(stream, 'winning_seq'),
      };
    });
  }

  postToMailbox(mailboxId: Uint8Array, post: MailboxPost): Promise<MailboxPostResult>;
  postToMailbox(
    mailboxId: Uint8Array,
    post: MailboxPost,
    spend: TokenSpend,
  ): Promise<MailboxPostResult | TokenSpent>;
  async postToMailbox(
    mailboxId: Uint8Array,
    post: MailboxPost,
    spend?: TokenSpend,
  ): Promise<MailboxPostResult | TokenSpent> {
    assertBytes('mailboxId', mailboxId, KEY_LENGTH);
    if (spend !== undefined) assertSpend(spend);
    const { messageId, blob, bucket } = post;
    // Without a kind, a mailbox post is never held and never stale.
    const streamPost: StreamPost = { kind: null, messageId, blob, bucket, commitMessageId: null };
    if (spend === undefined)
      return (await this.#post(MAILBOX_SPACE, mailboxId, streamPost)) as MailboxPostResult;
    const paid = await this.#post(MAILBOX_SPACE, mailboxId, streamPost, spend);
    if (paid === 'spent') return TOKEN_SPENT;
    if (!('repeat' in paid)) return paid as MailboxPostResult;
    // A retransmission of the post the token paid for: answered like any retry (`duplicate`).
    return (await this.#post(MAILBOX_SPACE, mailboxId, streamPost)) as MailboxPostResult;
  }

  async fetchMailbox(
    mailboxId: Uint8Array,
    afterSeq: number,
    limit: number,
  ): Promise<readonly MailboxItem[]> {
    assertBytes('mailboxId', mailboxId, KEY_LENGTH);
    assertCursor(afterSeq, limit);
    const now = this.#clock();
    const rows = await this.#open().read((session) =>
      session.query(
        `SELECT ${ITEM_COLUMNS} FROM items WHERE space = $1 AND stream_id = $2 AND seq > $3 AND expires_at > $4
         ORDER BY seq LIMIT $5`,
        [MAILBOX_SPACE, mailboxId, afterSeq, now, limit],
      ),
    );
    return rows.map(mailboxItem);
  }

  async deleteFromMailbox(mailboxId: Uint8Array, messageIds: readonly Uint8Array[]): Promise<number> {
    assertBytes('mailboxId', mailboxId, KEY_LENGTH);
    for (const [index, messageId] of messageIds.entries()) assertTag(`messageIds[${index}]`, messageId);
    const now = this.#clock();
    return this.#open().write(async (tx) => {
      // The stream's lock first, as posts take it, so that a delete and a post cannot deadlock.
      const locked = await tx.execute(
        'UPDATE streams SET item_count = item_count WHERE space = $1 AND stream_id = $2',
        [MAILBOX_SPACE, mailboxId],
      );
      if (locked === 0) return 0;
      let deleted = 0;
      let freed = 0;
      for (const messageId of messageIds) {
        const rows = await tx.query(
          `DELETE FROM items WHERE space = $1 AND stream_id = $2 AND message_id = $3 AND expires_at > $4
           RETURNING LENGTH(blob) AS size`,
          [MAILBOX_SPACE, mailboxId, messageId, now],
        );
        deleted += rows.length;
        freed += freedBytes(rows);
      }
      if (deleted === 0) return 0;
      await tx.execute(
        `UPDATE streams SET item_count = item_count - $3, item_bytes = item_bytes - $4
         WHERE space = $1 AND stream_id = $2`,
        [MAILBOX_SPACE, mailboxId, deleted, freed],
      );
      await addStoredBytes(tx, -freed, this.limits.maxTotalBytes);
      return deleted;
    });
  }

  async spendOnce(
    kind: SpendKind,
    id: Uint8Array,
    expiresAt: number,
    binding?: Uint8Array,
  ): Promise<boolean> {
    const space = SPEND_KINDS[kind];
    if (space === undefined) throw new ArgumentError('kind', 'expected token or nonce');
    assertSized('id', id, MAX_SPEND_ID_LENGTH);
    assertTime('expiresAt', expiresAt);
    if (binding !== undefined) assertSized('binding', binding, MAX_SPEND_ID_LENGTH);
    const now = this.#clock();
    return this.#open().write(
      async (tx) => (await this.#spend(tx, space, id, expiresAt, binding, now)) !== 'spent',
    );
  }

  async addIssuerKey(key: IssuerKeyRecord): Promise<IssuerKeyRecord> {
    assertTime('slot', key.slot);
    assertSized('tokenKey', key.tokenKey, 4096);
    assertSized('sealedPrivateKey', key.sealedPrivateKey, 8192);
    assertTime('notBefore', key.notBefore);
    assertTime('acceptUntil', key.acceptUntil);
    return this.#open().write(async (tx) => {
      await tx.execute(
        `INSERT INTO issuer_keys (slot, token_key, sealed_private_key, not_before, accept_until)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (slot) DO NOTHING`,
        [key.slot, key.tokenKey, key.sealedPrivateKey, key.notBefore, key.acceptUntil],
      );
      const [row] = await tx.query(
        'SELECT slot, token_key, sealed_private_key, not_before, accept_until FROM issuer_keys WHERE slot = $1',
        [key.slot],
      );
      return issuerKey(row as SqlRow);
    });
  }

  async issuerKeys(now: number): Promise<readonly IssuerKeyRecord[]> {
    assertTime('now', now);
    const rows = await this.#open().read((session) =>
      session.query(
        `SELECT slot, token_key, sealed_private_key, not_before, accept_until FROM issuer_keys
         WHERE accept_until > $1 ORDER BY slot DESC`,
        [now],
      ),
    );
    return rows.map(issuerKey);
  }

  async takeTokenBudget(
    handleHash: Uint8Array,
    day: number,
    wanted: number,
    perDay: number,
  ): Promise<number> {
    assertBytes('handleHash', handleHash, KEY_LENGTH);
    assertTime('day', day);
    assertTime('wanted', wanted);
    assertTime('perDay', perDay);
    return this.#open().write(async (tx) => {
      // The UPSERT locks the handle's row for the day, so racing issuances take from the budget in turn.
      const [row] = await tx.query(
        `INSERT INTO token_budgets (handle_hash, day, issued) VALUES ($1, $2, 0)
         ON CONFLICT (handle_hash, day) DO UPDATE SET issued = token_budgets.issued RETURNING issued`,
        [handleHash, day],
      );
      const granted = Math.max(0, Math.min(wanted, perDay - integer(row, 'issued')));
      if (granted > 0) {
        await tx.execute(
          'UPDATE token_budgets SET issued = issued + $3 WHERE handle_hash = $1 AND day = $2',
          [handleHash, day, granted],
        );
      }
      return granted;
    });
  }

  async purgeExpired(now: number = this.#clock()): Promise<PurgeCounts> {
    if (!Number.isSafeInteger(now)) throw new ArgumentError('now', 'expected milliseconds since the epoch');
    const { ttlMs, stateRetentionMs } = this.limits;
    const driver = this.#open();
    // Three transactions, not one: a purge holding expired items' locks while it waits for a stream lock
    // could deadlock with a post that holds that stream's lock and replaces one of those items.
    const items = await driver.write(async (tx) => {
      const rows = await tx.query('DELETE FROM items WHERE expires_at <= $1 RETURNING LENGTH(blob) AS size', [
        now,
      ]);
      await addStoredBytes(tx, -freedBytes(rows), this.limits.maxTotalBytes);
      return rows.length;
    });
    const keyPackages = await driver.write((tx) =>
      tx.execute('DELETE FROM key_packages WHERE claimed_at IS NOT NULL AND claimed_at <= $1', [now - ttlMs]),
    );
    const streams = await driver.write((tx) =>
      tx.execute(
        `DELETE FROM streams WHERE touched_at <= $1
         AND NOT EXISTS (SELECT 1 FROM items WHERE items.space = streams.space AND items.stream_id = streams.stream_id)`,
        [now - stateRetentionMs],
      ),
    );
    // Claim receipts hold KeyPackages: kept only as long as a retransmission may come.
    await driver.write((tx) =>
      tx.execute('UPDATE spent SET receipt = NULL WHERE receipt IS NOT NULL AND spent_at <= $1', [
        now - CLAIM_RECEIPT_RETENTION_MS,
      ]),
    );
    const tokens =
      (await driver.write((tx) => tx.execute('DELETE FROM spent WHERE expires_at <= $1', [now]))) +
      (await driver.write((tx) => tx.execute('DELETE FROM issuer_keys WHERE accept_until <= $1', [now]))) +
      (await driver.write((tx) =>
        tx.execute('DELETE FROM token_budgets WHERE day < $1', [Math.floor(now / DAY_MS)]),
      ));
    return { items, keyPackages, streams, tokens };
  }

  async ping(): Promise<void> {
    await this.#open().read((session) => session.query('SELECT 1 AS one'));
  }

  async subscribe(listener: StoreListener): Promise<() => Promise<void>> {
    if (typeof listener !== 'function') throw new ArgumentError('listener', 'expected a function');
    return this.#open().listen(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#driver.close();
  }

  #open(): SqlDriver {
    if (this.#closed) throw new DeliveryError('closed', 'the delivery store is closed');
    return this.#driver;
  }

  /** The one-time uploads whose ids this handle has never used (claimed ones included), without repeats. */
  async #unknownKeyPackages(
    tx: SqlTransaction,
    handleHash: Uint8Array,
    uploads: readonly KeyPackageUpload[],
  ): Promise<KeyPackageUpload[]> {
    const seen = new Set<string>();
    const fresh: KeyPackageUpload[] = [];
    for (const upload of uploads) {
      const key = toHex(upload.id);
      if (seen.has(key)) continue;
      seen.add(key);
      const [known] = await tx.query(
        'SELECT 1 AS present FROM key_packages WHERE handle_hash = $1 AND package_id = $2',
        [handleHash, upload.id],
      );
      if (known === undefined) fresh.push(upload);
    }
    return fresh;
  }

  #post(space: Space, streamId: Uint8Array, post: StreamPost): Promise<LogPostResult>;
  #post(
    space: Space,
    streamId: Uint8Array,
    post: StreamPost,
    spend: TokenSpend,
  ): Promise<LogPostResult | { readonly repeat: true } | 'spent'>;
  async #post(
    space: Space,
    streamId: Uint8Array,
    post: StreamPost,
    spend?: TokenSpend,
  ): Promise<LogPostResult | { readonly repeat: true } | 'spent'> {
    assertTag('messageId', post.messageId);
    assertBytes('blob', post.blob);
    if (!Number.isSafeInteger(post.bucket) || post.bucket < 0 || post.bucket > MAX_BUCKET) {
      throw new ArgumentError('bucket', `expected an integer from 0 to ${MAX_BUCKET}`);
    }
    const { maxBytesPerStream } = this.limits;
    if (post.blob.length > maxBytesPerStream) {
      return { ok: false, error: 'too_large', maxBytes: maxBytesPerStream };
    }
    const now = this.#clock();
    const driver = this.#open();
    if (spend === undefined && driver.postOnServer !== undefined) {
      const request = { space, streamId, now, ...post };
      return postResult(await driver.postOnServer(request, this.limits));
    }
    const work = (tx: SqlTransaction) => this.#postIn(tx, space, streamId, post, now);
    try {
      if (spend === undefined) return await driver.write(work);
      const paid = await this.#paid(spend, now, work);
      if (paid === 'spent') return paid;
      return 'result' in paid ? paid.result : { repeat: true };
    } catch (error) {
      if (error instanceof StorageFull) return { ok: false, error: 'quota_exceeded', limit: 'storage' };
      throw error;
    }
  }

  async #postIn(
    tx: SqlTransaction,
    space: Space,
    streamId: Uint8Array,
    post: StreamPost,
    now: number,
  ): Promise<LogPostResult> {
    const { maxBytesPerStream, maxItemsPerStream, maxTotalBytes, ttlMs } = this.limits;
    // The lock every writer of this stream queues on; refused posts also count as activity, which keeps a
    // routing ID that stale clients still post to closed for longer.
    const [stream] = await tx.query(
      `INSERT INTO streams (space, stream_id, last_seq, touched_at) VALUES ($1, $2, 0, $3)
     ON CONFLICT (space, stream_id) DO UPDATE SET touched_at = $3
     RETURNING last_seq, winning_seq, winning_message_id, item_count, item_bytes`,
      [space, streamId, now],
    );
    // An expired row is as good as absent (it is replaced below); it is not deleted by a post otherwise: a
    // post never locks several of the rows purgeExpired deletes, so the two cannot deadlock.
    const [existing] = await tx.query(
      'SELECT seq, expires_at FROM items WHERE space = $1 AND stream_id = $2 AND message_id = $3',
      [space, streamId, post.messageId],
    );
    const replacesExpired = existing !== undefined && integer(existing, 'expires_at') <= now;
    if (existing !== undefined && !replacesExpired) {
      const seq = integerOrNull(existing, 'seq');
      return seq === null ? HELD : { ok: true, status: 'duplicate', seq };
    }

    const winningSeq = integerOrNull(stream, 'winning_seq');
    if (winningSeq !== null) {
      const winningMessageId = bytes(stream, 'winning_message_id');
      const welcomesWinner =
        post.commitMessageId !== null && constantTimeEqual(post.commitMessageId, winningMessageId);
      if (!welcomesWinner) return { ok: false, error: 'stale_epoch', winningSeq };
    }

    // The stream's counters never undercount its live items (see `#countLiveItems`): a post they admit fits;
    // only one they would refuse pays for the exact count.
    let items = integer(stream, 'item_count');
    let size = integer(stream, 'item_bytes');
    if (items >= maxItemsPerStream || size + post.blob.length > maxBytesPerStream) {
      ({ items, size } = await this.#countLiveItems(tx, space, streamId, now));
      if (items >= maxItemsPerStream) return { ok: false, error: 'quota_exceeded', limit: 'messages' };
      if (size + post.blob.length > maxBytesPerStream) {
        return { ok: false, error: 'quota_exceeded', limit: 'bytes' };
      }
    }
    // The expired item with this message ID makes way for the new one (the counters may still count it).
    let freed = replacesExpired
      ? freedBytes(
          await tx.query(
            'DELETE FROM items WHERE space = $1 AND stream_id = $2 AND message_id = $3 RETURNING LENGTH(blob) AS size',
            [space, streamId, post.messageId],
          ),
        )
      : 0;
    // A full store refuses before writing the blob, and leaves nothing behind, not even the stream row of
    // a new ID. The exact check is the UPDATE at the end; a commit may free held Welcomes, so it goes there.
    if (post.kind !== 'commit') {
      const [total] = await tx.query('SELECT blob_bytes FROM store_usage WHERE id = 1');
      if (integer(total, 'blob_bytes') - freed + post.blob.length > maxTotalBytes) throw new StorageFull();
    }

    const held = post.kind === 'welcome' && winningSeq === null;
    let lastSeq = integer(stream, 'last_seq');
    const seq = held ? null : ++lastSeq;
    await tx.execute(
      `INSERT INTO items (space, stream_id, message_id, seq, kind, commit_message_id, bucket, blob, posted_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        space,
        streamId,
        post.messageId,
        seq,
        post.kind,
        post.commitMessageId,
        post.bucket,
        post.blob,
        now,
        now + ttlMs,
      ],
    );
    items += 1;
    size += post.blob.length;
    let result: LogPostResult = HELD;
    if (seq !== null) {
      this.#emitPosted(tx, streamId, seq, post.kind);
      if (post.kind === 'commit') {
        const closed = await this.#closeLog(tx, streamId, post.messageId, seq, now);
        lastSeq = closed.lastSeq;
        freed += closed.freed;
        items -= closed.dropped;
        size -= closed.freed;
      }
      result = { ok: true, status: 'stored', seq };
    }
    await tx.execute(
      'UPDATE streams SET last_seq = $3, item_count = $4, item_bytes = $5 WHERE space = $1 AND stream_id = $2',
      [space, streamId, lastSeq, items, size],
    );
    if (!(await addStoredBytes(tx, post.blob.length - freed, maxTotalBytes))) throw new StorageFull();
    return result;
  }

  /**
   * The exact number and blob bytes of a stream's live (unexpired) items, by a scan. The counters in the
   * stream's row are an upper bound of these: every insert adds to them, deletes of live items subtract,
   * and expiry and purges leave them alone; a post that recounts stores the exact figures, so what expired
   * stops counting then.
   */
  async #countLiveItems(
    tx: SqlTransaction,
    space: Space,
    streamId: Uint8Array,
    now: number,
  ): Promise<{ items: number; size: number }> {
    const [usage] = await tx.query(
      `SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(blob)), 0) AS size FROM items
     WHERE space = $1 AND stream_id = $2 AND expires_at > $3`,
      [space, streamId, now],
    );
    return { items: integer(usage, 'n'), size: integer(usage, 'size') };
  }

  /**
   * Records `spend`, then runs `work`, in one transaction. The spend comes first so that racing spends of one
   * token queue on its primary key before any of them does the work: the first does it and commits (with its
   * receipt, when `receipt` is given), the others then find the record and do nothing. (Recorded after the
   * work, a retransmitted claim that skipped the KeyPackage the first one had locked could commit first, with
   * an empty result, and every copy would get that.) If the token was spent before, the record decides:
   * `repeat` with the recorded receipt when the binding is the same (a retransmission), else 'spent'. A
   * failed work undoes the spend.
   */
  async #paid<T>(
    spend: TokenSpend,
    now: number,
    work: (tx: SqlTransaction) => Promise<T>,
    receipt?: (result: T) => Uint8Array,
  ): Promise<{ readonly result: T } | { readonly receipt: Uint8Array | null } | 'spent'> {
    try {
      return await this.#open().write(async (tx) => {
        const inserted = await tx.execute(
          `INSERT INTO spent (kind, id, binding, receipt, spent_at, expires_at) VALUES ($1, $2, $3, NULL, $4, $5)
           ON CONFLICT (kind, id) DO NOTHING`,
          [SPEND_KINDS.token, spend.id, spend.binding, now, spend.expiresAt],
        );
        if (inserted === 0) throw new AlreadySpent();
        const result = await work(tx);
        if (receipt !== undefined) {
          await tx.execute('UPDATE spent SET receipt = $3 WHERE kind = $1 AND id = $2', [
            SPEND_KINDS.token,
            spend.id,
            receipt(result),
          ]);
        }
        return { result };
      });
    } catch (error) {
      if (!(error instanceof AlreadySpent)) throw error;
    }
    const [row] = await this.#open().read((session) =>
      session.query('SELECT binding, receipt FROM spent WHERE kind = $1 AND id = $2', [
        SPEND_KINDS.token,
        spend.id,
      ]),
    );
    const recorded = bytesOrNull(row, 'binding');
    if (recorded === null || !constantTimeEqual(recorded, spend.binding)) return 'spent';
    return { receipt: bytesOrNull(row, 'receipt') };
  }

  /**
   * Records the winning commit, releases the Welcomes held for it (numbered right after it, in the order
   * they arrived) and drops those held for any other commit, which can now never win. Returns the last
   * sequence number used, and the number and blob bytes of the Welcomes dropped.
   */
  async #closeLog(
    tx: SqlTransaction,
    routingId: Uint8Array,
    commitId: Uint8Array,
    commitSeq: number,
    now: number,
  ): Promise<{ lastSeq: number; dropped: number; freed: number }> {
    await tx.execute(
      'UPDATE streams SET winning_seq = $3, winning_message_id = $4 WHERE space = $1 AND stream_id = $2',
      [LOG_SPACE, routingId, commitSeq, commitId],
    );
    const welcomes = await tx.query(
      `SELECT message_id FROM items
       WHERE space = $1 AND stream_id = $2 AND seq IS NULL AND commit_message_id = $3 AND expires_at > $4
       ORDER BY posted_at, message_id`,
      [LOG_SPACE, routingId, commitId, now],
    );
    let lastSeq = commitSeq;
    for (const welcome of welcomes) {
      lastSeq += 1;
      await tx.execute('UPDATE items SET seq = $4 WHERE space = $1 AND stream_id = $2 AND message_id = $3', [
        LOG_SPACE,
        routingId,
        bytes(welcome, 'message_id'),
        lastSeq,
      ]);
      this.#emitPosted(tx, routingId, lastSeq, 'welcome');
    }
    const dropped = await tx.query(
      `DELETE FROM items WHERE space = $1 AND stream_id = $2 AND seq IS NULL AND expires_at > $3
       RETURNING LENGTH(blob) AS size`,
      [LOG_SPACE, routingId, now],
    );
    return { lastSeq, dropped: dropped.length, freed: freedBytes(dropped) };
  }

  /** Mailbox items are the ones without a kind. */
  #emitPosted(tx: SqlTransaction, streamId: Uint8Array, seq: number, kind: MessageKind | null): void {
    if (kind === null) tx.emit({ type: 'mailbox', mailboxId: streamId, seq });
    else tx.emit({ type: 'log', routingId: streamId, seq, kind });
  }
}
