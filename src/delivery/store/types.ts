/**
 * The delivery service's storage contract (design brief §3): identities, the key-package directory, group
 * logs keyed by routing IDs, mailboxes, their limits, and change events for live push. Every identifier and
 * payload is opaque bytes: the service hashes handles with its own key and the clients seal every blob, so
 * nothing here knows about MLS, handles or contents. Two implementations (SQLite via `node:sqlite`,
 * PostgreSQL via `pg`) pass one compliance suite, so the service is written once against this interface.
 *
 * Expected refusals (a lost commit race, a full quota, a taken handle) are tagged results whose `error` is a
 * `DeliveryErrorReason`, ready to become the protocol's error code; only a closed store or a database from a
 * newer umbra throws `DeliveryError`. Malformed arguments (wrong identifier lengths) throw `ArgumentError`:
 * the service validates wire input before calling. The items and results a client sees unchanged (posts,
 * entries, KeyPackages, the results of posting) are the protocol's: src/protocol/records.ts.
 */
import type {
  ClaimedKeyPackage,
  KeyPackageCount,
  KeyPackageUpload,
  LogPage,
  LogPost,
  LogPostResult,
  MailboxItem,
  MailboxPost,
  MailboxPostResult,
  MessageKind,
  RegisterOutcome,
} from '../../protocol/records.ts';

/** Milliseconds since the Unix epoch. Injected so that tests can move time; defaults to `Date.now`. */
export type Clock = () => number;

/** Routing IDs, mailbox IDs and handle hashes are exactly this long (a 256-bit hash or exporter output). */
export const KEY_LENGTH = 32;
/** Message IDs, device IDs and key-package IDs are 1 to this many bytes. */
export const MAX_TAG_LENGTH = 64;
/** Identity keys (hybrid signature public keys) are 1 to this many bytes. */
export const MAX_IDENTITY_KEY_LENGTH = 8192;
/** Signed registrations are 1 to this many bytes. */
export const MAX_REGISTRATION_LENGTH = 65536;

export interface DeliveryLimits {
  /** How long a posted item lives (log entries, mailbox items, held Welcomes). */
  readonly ttlMs: number;
  /** Items held at once by one routing ID or one mailbox, held Welcomes included. */
  readonly maxItemsPerStream: number;
  /** Blob bytes held at once by one routing ID or one mailbox. A single larger blob is `too_large`. */
  readonly maxBytesPerStream: number;
  /** Unclaimed one-time KeyPackages kept per device. */
  readonly maxKeyPackagesPerDevice: number;
  /** Size of one KeyPackage, one-time or last resort. */
  readonly maxKeyPackageBytes: number;
  /** KeyPackage bytes held at once for one handle, unclaimed one-time and last resort, over all its devices. */
  readonly maxKeyPackageBytesPerIdentity: number;
  /**
   * Blob bytes held at once by the whole store (every log and mailbox): past it a post is
   * `quota_exceeded { limit: 'storage' }`. Kept exact by a running total updated in each post's transaction.
   */
  readonly maxTotalBytes: number;
  /**
   * How long an emptied routing ID or mailbox keeps its sequence counter and its winning commit. Until then a
   * closed routing ID stays closed and sequence numbers never restart under a client's cursor.
   */
  readonly stateRetentionMs: number;
}

export const DEFAULT_LIMITS: DeliveryLimits = {
  ttlMs: 72 * 60 * 60 * 1000,
  maxItemsPerStream: 100,
  maxBytesPerStream: 1024 * 1024,
  maxKeyPackagesPerDevice: 100,
  maxKeyPackageBytes: 64 * 1024,
  maxKeyPackageBytesPerIdentity: 1024 * 1024,
  maxTotalBytes: 2 * 1024 * 1024 * 1024,
  stateRetentionMs: 30 * 24 * 60 * 60 * 1000,
};

/** Where the data lives: one SQLite file (created with its directory), or a PostgreSQL database. */
export type StoreLocation =
  | { readonly sqlitePath: string }
  | {
      readonly postgresUrl: string;
      /** The schema holding the tables, created if missing. Default `umbra_delivery`. */
      readonly schema?: string;
      /** Connections in the pool (one more is opened for LISTEN while anyone subscribes). Default 10. */
      readonly poolSize?: number;
    };

export type OpenStoreOptions = StoreLocation & {
  readonly clock?: Clock;
  readonly limits?: Partial<DeliveryLimits>;
};

// ---- identities ----

export interface IdentityRecord {
  readonly identityKey: Uint8Array;
  /** The signed registration as first stored; re-registering the same key does not replace it. */
  readonly registration: Uint8Array;
  readonly registeredAt: number;
}

// ---- key packages ----

export interface KeyPackagePublication {
  readonly handleHash: Uint8Array;
  readonly deviceId: Uint8Array;
  /** Handed out once each, oldest first. May be empty when only the last resort is replaced. */
  readonly oneTime: readonly KeyPackageUpload[];
  /** Replaces the device's last-resort KeyPackage, which is handed out whenever no one-time one is left. */
  readonly lastResort?: KeyPackageUpload;
}

export type PublishResult =
  | { readonly ok: true; readonly added: number }
  | { readonly ok: false; readonly error: 'not_found' }
  | { readonly ok: false; readonly error: 'quota_exceeded'; readonly limit: 'key_packages' }
  | { readonly ok: false; readonly error: 'too_large'; readonly maxBytes: number };

/** One KeyPackage per device of the handle; `not_found` when no device has any. */
export type ClaimResult =
  | { readonly ok: true; readonly packages: readonly ClaimedKeyPackage[] }
  | { readonly ok: false; readonly error: 'not_found' };

export interface PurgeCounts {
  readonly items: number;
  readonly keyPackages: number;
  readonly streams: number;
  /** Spent-once records past their expiry, issuer keys no longer accepted and token budgets of past days. */
  readonly tokens: number;
}

// ---- anonymous tokens and replay (docs/tokens.md) ----

/**
 * The namespaces of `spendOnce`: Privacy Pass tokens redeemed, and signed requests' nonces seen.
 */
export type SpendKind = 'token' | 'nonce';

/** Spent-once IDs are 1 to this many bytes. */
export const MAX_SPEND_ID_LENGTH = 64;
/**
 * How long a token-paid claim keeps its result, so that a retransmission of it (the same token, the same
 * binding) gets the same KeyPackages instead of `token_spent` or a second claim.
 */
export const CLAIM_RECEIPT_RETENTION_MS = 60 * 60 * 1000;

/** A token spent by the store operation it pays for (a claim, a mailbox post), atomically with it. */
export interface TokenSpend {
  readonly id: Uint8Array;
  readonly expiresAt: number;
  /** What the token paid for: the same token with the same binding is a retransmission. */
  readonly binding: Uint8Array;
}

/** The token was spent already, on something else. */
export type TokenSpent = { readonly ok: false; readonly error: 'token_spent' };

/** One issuer key: public, and private sealed by the service (the store never sees it in clear). */
export interface IssuerKeyRecord {
  /** The rotation period the key issues in (time / rotation period); at most one key per slot. */
  readonly slot: number;
  /** RFC 9578 token key (SPKI, RSASSA-PSS). */
  readonly tokenKey: Uint8Array;
  readonly sealedPrivateKey: Uint8Array;
  readonly notBefore: number;
  readonly acceptUntil: number;
}

// ---- live push ----

/**
 * Something became readable. Events carry positions, not blobs: the service fetches from its client's
 * cursor. `resync` means events may have been missed (the PostgreSQL listener reconnected): re-poll every
 * subscribed cursor.
 */
export type StoreEvent =
  | { readonly type: 'log'; readonly routingId: Uint8Array; readonly seq: number; readonly kind: MessageKind }
  | { readonly type: 'mailbox'; readonly mailboxId: Uint8Array; readonly seq: number }
  | { readonly type: 'resync' };

export type StoreListener = (event: StoreEvent) => void;

export interface DeliveryStore {
  readonly backend: 'sqlite' | 'postgres';
  readonly limits: DeliveryLimits;

  /** Binds a handle hash to an identity key. The same key again is a no-op; another key is `handle_taken`. */
  registerIdentity(
    handleHash: Uint8Array,
    identityKey: Uint8Array,
    registration: Uint8Array,
  ): Promise<RegisterOutcome>;
  getIdentity(handleHash: Uint8Array): Promise<IdentityRecord | undefined>;

  /** Adds one-time KeyPackages and/or replaces the last resort, all or nothing. The handle must be registered. */
  publishKeyPackages(publication: KeyPackagePublication): Promise<PublishResult>;
  /** Hands out one KeyPackage per device; each one-time KeyPackage is handed out exactly once, ever. */
  claimKeyPackages(handleHash: Uint8Array): Promise<ClaimResult>;
  /**
   * The same, paid by `spend` in the same transaction: the first claim with a token claims and keeps its
   * result for `CLAIM_RECEIPT_RETENTION_MS`; a retransmission (same token, same binding) gets that result
   * again, and nothing more is claimed; the token on anything else is `token_spent`.
   */
  claimKeyPackages(handleHash: Uint8Array, spend: TokenSpend): Promise<ClaimResult | TokenSpent>;
  countKeyPackages(handleHash: Uint8Array, deviceId: Uint8Array): Promise<KeyPackageCount>;

  /**
   * Appends to a routing ID's log. The first commit accepted closes it: every later post is `stale_epoch`
   * with that commit's sequence number, except a retry of an accepted post (`duplicate`) and a Welcome of
   * the winning commit.
   */
  postToLog(routingId: Uint8Array, post: LogPost): Promise<LogPostResult>;
  /** Up to `limit` readable entries with `seq > afterSeq`. */
  fetchLog(routingId: Uint8Array, afterSeq: number, limit: number): Promise<LogPage>;

  postToMailbox(mailboxId: Uint8Array, post: MailboxPost): Promise<MailboxPostResult>;
  /**
   * The same, paid by `spend` in the same transaction: a retransmission (same token, same binding) is
   * answered like any retry (`duplicate`); the token on anything else is `token_spent`, and nothing is posted.
   */
  postToMailbox(
    mailboxId: Uint8Array,
    post: MailboxPost,
    spend: TokenSpend,
  ): Promise<MailboxPostResult | TokenSpent>;
  fetchMailbox(mailboxId: Uint8Array, afterSeq: number, limit: number): Promise<readonly MailboxItem[]>;
  /** Deletes acknowledged items by message ID; returns how many unexpired ones existed. Frees their quota. */
  deleteFromMailbox(mailboxId: Uint8Array, messageIds: readonly Uint8Array[]): Promise<number>;

  /**
   * Deletes expired items, claimed KeyPackages older than the TTL (kept until then so that a re-upload cannot
   * hand them out again) and empty streams past their retention. Reads already hide expired items.
   */
  purgeExpired(now?: number): Promise<PurgeCounts>;

  /**
   * Calls `listener` after every commit that makes something readable, from any store instance on the same
   * database (other processes too on PostgreSQL; the same process on SQLite). Resolves once listening.
   */
  subscribe(listener: StoreListener): Promise<() => Promise<void>>;

  /**
   * Records that `id` was spent, atomically across every instance on the database: true for the first spend,
   * false for any later one — except that a spend carrying the same `binding` as the recorded one is true again
   * (a retransmission of the very request the first spend paid for). Kept until `expiresAt`.
   */
  spendOnce(kind: SpendKind, id: Uint8Array, expiresAt: number, binding?: Uint8Array): Promise<boolean>;

  /**
   * Stores `key` unless its slot already has one, and returns the key the slot has: instances racing to
   * create the first key of a slot all end up with the same one.
   */
  addIssuerKey(key: IssuerKeyRecord): Promise<IssuerKeyRecord>;
  /** Issuer keys still accepted at `now`, newest slot first. */
  issuerKeys(now: number): Promise<readonly IssuerKeyRecord[]>;
  /**
   * Takes up to `wanted` tokens from a handle's budget of `perDay` for `day` (UTC days since the epoch), and
   * returns how many it took (0 when it is spent). Atomic: racing requests never exceed the budget together.
   */
  takeTokenBudget(handleHash: Uint8Array, day: number, wanted: number, perDay: number): Promise<number>;

  /** Resolves once the database answers a trivial query (for /ready); rejects when it does not. */
  ping(): Promise<void>;

  /** Waits for running operations, then releases the database. Later calls throw `DeliveryError('closed')`. */
  close(): Promise<void>;
}
