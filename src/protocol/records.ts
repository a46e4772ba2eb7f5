/**
 * The items and results of the delivery API that travel unchanged between the delivery service's store and
 * the client (design brief §3): uploaded and claimed KeyPackages, posts to group logs and mailboxes, the
 * entries read back, and the tagged results of posting. They are part of the protocol, so both ends import
 * them from here: the typed API (api.ts) and its codecs (messages.ts) on one side, the store's contract
 * (src/delivery/store/types.ts) on the other. Expected refusals are results whose `error` is a
 * `DeliveryErrorReason`, ready to become the protocol's error code.
 */

// ---- identities ----

/** What registering a handle did, as the store decides it (the API adds `rate_limited`: api.ts). */
export type RegisterOutcome =
  | { readonly ok: true; readonly created: boolean }
  | { readonly ok: false; readonly error: 'handle_taken' };

// ---- key packages ----

export interface KeyPackageUpload {
  /** Unique per handle (a KeyPackageRef fits). Re-uploading a known id, even a claimed one, changes nothing. */
  readonly id: Uint8Array;
  /** The MLSMessage-framed KeyPackage (RFC 9420), opaque to the service. */
  readonly data: Uint8Array;
}

export interface ClaimedKeyPackage {
  readonly deviceId: Uint8Array;
  readonly id: Uint8Array;
  readonly data: Uint8Array;
  /** True when the device had no one-time KeyPackage left: this one stays and may be handed out again. */
  readonly lastResort: boolean;
}

export interface KeyPackageCount {
  /** Unclaimed one-time KeyPackages: the client refills when this runs low. */
  readonly oneTime: number;
  readonly lastResort: boolean;
}

// ---- group logs and mailboxes ----

export type MessageKind = 'commit' | 'application' | 'welcome';

interface PostBase {
  /** The poster's idempotency key (1–64 bytes): a retry with the same id returns the first post's seq. */
  readonly messageId: Uint8Array;
  /** The sealed, padded message. */
  readonly blob: Uint8Array;
  /** The padding bucket the client chose; stored and returned, never interpreted. */
  readonly bucket: number;
}

/**
 * A post to a group log. A Welcome names the commit it belongs to: it is held (unreadable, without a
 * sequence number) until that commit is accepted, released right after it, and dropped if another commit
 * wins.
 */
export type LogPost =
  | (PostBase & { readonly kind: 'commit' | 'application' })
  | (PostBase & { readonly kind: 'welcome'; readonly commitMessageId: Uint8Array });

export type MailboxPost = PostBase;

export interface MailboxItem {
  readonly seq: number;
  readonly messageId: Uint8Array;
  readonly blob: Uint8Array;
  readonly bucket: number;
  readonly postedAt: number;
  readonly expiresAt: number;
}

export interface LogEntry extends MailboxItem {
  readonly kind: MessageKind;
  /** For a Welcome, the commit it belongs to (always the routing ID's winning commit); otherwise null. */
  readonly commitMessageId: Uint8Array | null;
}

export interface LogPage {
  /** Readable entries after the cursor, in sequence order. */
  readonly entries: readonly LogEntry[];
  /** The sequence number of the accepted commit once the routing ID is closed, else null. */
  readonly winningSeq: number | null;
}

export type Posted = { readonly ok: true; readonly status: 'stored' | 'duplicate'; readonly seq: number };
/** A Welcome whose commit is not accepted yet. */
export type Held = { readonly ok: true; readonly status: 'held' };
/** The routing ID already accepted a commit (at `winningSeq`): catch up and retry in the new epoch. */
export type StaleEpoch = { readonly ok: false; readonly error: 'stale_epoch'; readonly winningSeq: number };
export type QuotaExceeded = {
  readonly ok: false;
  readonly error: 'quota_exceeded';
  /** `storage`: the whole store holds `maxTotalBytes` of blobs (nothing this stream did). */
  readonly limit: 'messages' | 'bytes' | 'storage';
};
export type TooLarge = { readonly ok: false; readonly error: 'too_large'; readonly maxBytes: number };

export type LogPostResult = Posted | Held | StaleEpoch | QuotaExceeded | TooLarge;
export type MailboxPostResult = Posted | QuotaExceeded | TooLarge;
