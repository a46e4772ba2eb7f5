/**
 * The typed delivery API (design brief §3, issue #4): what a client can ask of the delivery service, with the
 * results it gets back. The client SDK codes against `DeliveryApi`; `DeliveryClient` (client.ts) implements
 * it over any `Carrier` by encoding each call as one request of the binary protocol (messages.ts) and
 * decoding the response. Results are tagged unions, those the store returns unchanged defined in records.ts:
 * an expected refusal (a lost commit race, a full quota, a taken handle) is a result, never an exception.
 * Anything else the service refuses (a malformed or unsigned request, a bad signature, an unknown version, an
 * internal failure) rejects with `DeliveryError` whose `reason` is the stable wire code (`DeliveryErrorCode`);
 * a failed exchange rejects with the carrier's `CarrierError`. Every request is idempotent, so either may be
 * retried.
 *
 * Who proves what (the service verifies all of it; nothing else is trusted):
 * - **Identity.** An identity key is hybrid: Ed25519 and ML-DSA-65 public keys; an identity signature is
 *   both signatures, and verifies only if both do (identity.ts). A handle is bound to an identity key by a
 *   *registration*: the key and a timestamp, with a signature by that key over the handle, the key and the
 *   timestamp (the handle itself is left out of the stored bytes, so the database keeps handles only as
 *   keyed hashes). The service stores it as first received and returns it with every lookup and claim, so
 *   anyone who knows the handle can re-verify the binding without trusting the service's word (the
 *   `DeliveryClient` does); the service only decides who was first (`handle_taken`). The MLS leaves of a handle
 *   sign with the identity's Ed25519 key: the SDK's authentication service accepts a basic credential
 *   naming a handle iff the leaf's signature key equals that handle's registered `identityKey.ed25519`.
 * - **KeyPackage uploads and counts** are signed by the handle's identity key over the request body and a
 *   timestamp; the service refuses signatures older or newer than `SIGNED_REQUEST_WINDOW_MS` from its clock
 *   (`expired`), so a captured upload cannot roll a device's last resort back later. Nobody can publish for,
 *   or read the refill count of, a handle whose key they do not hold.
 * - **Group logs** need no signature: a routing ID is derived from the epoch's MLS exporter secret, so
 *   knowing it is being a member of that epoch. The service sees routing ID, kind, bucket, sequence numbers.
 * - **Mailboxes**: the mailbox ID is `mailboxIdOf(secret)`, SHA-256 of a 32-byte secret the owner keeps.
 *   Anyone who knows the ID may post; reading, subscribing and deleting present the secret itself (over the
 *   mixnet the service cannot tell who presents it). The service derives the ID from it and never stores it.
 * - **Claims and mailbox posts** cost someone else, so each spends an anonymous Privacy Pass token
 *   (tokens.ts, docs/tokens.md): proof that a registered identity with budget pays, without saying which.
 *   Signed requests carry a nonce the service accepts once, so a captured one cannot be replayed.
 *
 * At rest the service keeps handles, routing IDs and mailbox IDs only as keyed hashes (docs/delivery.md).
 */

import type { DeliveryErrorReason } from '../errors.ts';
import type { CarrierRequestOptions } from './carrier.ts';
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
} from './records.ts';

// The items and results the store returns reach the client unchanged.
export type {
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
  Posted,
  QuotaExceeded,
  StaleEpoch,
  TooLarge,
} from './records.ts';

/** Handles are 1 to this many bytes of UTF-8, in Unicode NFC, without control characters. */
export const MAX_HANDLE_BYTES = 64;
/** Routing IDs, mailbox IDs and mailbox secrets are exactly this long. */
export const ID_LENGTH = 32;
/** Message, device and KeyPackage IDs are 1 to this many bytes. */
export const MAX_TAG_LENGTH = 64;
/** Signed requests carry the signer's clock; the service accepts them this far from its own. */
export const SIGNED_REQUEST_WINDOW_MS = 10 * 60 * 1000;
/** The most entries one fetch returns (the service may return fewer). */
export const MAX_PAGE_ITEMS = 100;

// ---- identities ----

/** An identity public key: both halves are needed to verify anything it signs. */
export interface IdentityKey {
  readonly ed25519: Uint8Array;
  readonly mldsa65: Uint8Array;
}

/**
 * Signs with an identity's secret keys. The client SDK keeps the keys (in its vault) and hands the
 * `DeliveryClient` a signer; `IdentityKeyPair` (identity.ts) is the in-memory implementation.
 */
export interface IdentitySigner {
  readonly publicKey: IdentityKey;
  /** The hybrid signature (Ed25519 ‖ ML-DSA-65) of `message`, which already carries its context label. */
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** What a registration says, once its signatures verified (`verifyRegistration` in identity.ts). */
export interface Registration {
  readonly handle: string;
  readonly identityKey: IdentityKey;
  /** The registrant's clock when signing, ms since the Unix epoch. */
  readonly signedAt: number;
}

/** A registered handle: the signed registration (verify it yourself) and what it binds. */
export interface IdentityInfo {
  readonly identityKey: IdentityKey;
  /** The registration as the service first stored it; `verifyRegistration(registration, handle)` re-checks it. */
  readonly registration: Uint8Array;
  /** When the service stored it. */
  readonly registeredAt: number;
}

/**
 * The service refuses new registrations for now (its registration limits: per connection, per gateway, in
 * total); the same request may succeed after `retryAfterMs`. Nothing was stored.
 */
export type RateLimited = {
  readonly ok: false;
  readonly error: 'rate_limited';
  readonly retryAfterMs: number;
};

/**
 * `created`, `existing` (the same key again), `handle_taken` (another key holds it), or `rate_limited`. With
 * KeyPackages sent along, `published` says how their upload went once the handle was bound; it is absent when
 * none were sent or the service refused the upload (publish them on their own to learn why).
 */
export type RegisterResult =
  | { readonly ok: true; readonly created: boolean; readonly published?: PublishResult }
  | Exclude<RegisterOutcome, { readonly ok: true }>
  | RateLimited;

export type LookupResult =
  | ({ readonly ok: true } & IdentityInfo)
  | { readonly ok: false; readonly error: 'not_found' };

// ---- key packages ----

export interface PublishKeyPackagesRequest {
  readonly handle: string;
  readonly deviceId: Uint8Array;
  /** Handed out once each, oldest first. */
  readonly oneTime: readonly KeyPackageUpload[];
  /** Replaces the device's last resort, handed out whenever it has no one-time KeyPackage left. */
  readonly lastResort?: KeyPackageUpload;
}

export type PublishResult =
  | { readonly ok: true; readonly added: number }
  | { readonly ok: false; readonly error: 'quota_exceeded'; readonly limit: 'key_packages' }
  | { readonly ok: false; readonly error: 'too_large'; readonly maxBytes: number };

/** One KeyPackage per device, with the identity it must be authenticated against. */
export type ClaimResult =
  | ({ readonly ok: true; readonly packages: readonly ClaimedKeyPackage[] } & IdentityInfo)
  | { readonly ok: false; readonly error: 'not_found' };

// ---- anonymous tokens (tokens.ts, docs/tokens.md) ----

/** One issuer key: a token key (RFC 9578 §6.5 SPKI) and when tokens under it are issued and accepted. */
export interface IssuerKey {
  readonly tokenKey: Uint8Array;
  /** Tokens are issued under this key from this time (ms since the Unix epoch)… */
  readonly notBefore: number;
  /** …and redeemed until this time. */
  readonly acceptUntil: number;
}

/** What `issuerKeys` answers: the challenge's issuer name and the keys, the one issuing now first. */
export interface IssuerKeys {
  readonly issuerName: string;
  readonly keys: readonly IssuerKey[];
}

/** Blind signatures (TokenResponses) for the first `responses.length` requests, or none left today. */
export type IssueResult =
  | { readonly ok: true; readonly responses: readonly Uint8Array[] }
  | { readonly ok: false; readonly error: 'budget_exhausted'; readonly retryAfterMs: number };

/**
 * Where `DeliveryClient` gets the token a claim or mailbox post spends (the SDK's wallet, src/client/tokens.ts).
 * `take` resolves undefined when it has none to give (the request then goes without and the service decides);
 * `refused` reports a token the service called spent or bad (`reason`), which is then never offered again.
 */
export interface TokenSource {
  take(): Promise<Uint8Array | undefined>;
  refused(token: Uint8Array, reason: 'token_spent' | 'bad_token'): void;
}

// ---- group logs and mailboxes ----

/** Where to read a mailbox from: its secret (only the owner has it) and the last sequence number read. */
export interface MailboxCursor {
  readonly mailboxSecret: Uint8Array;
  readonly afterSeq: number;
}

// ---- subscriptions and pushes ----

export interface Subscriptions {
  readonly routingIds: readonly Uint8Array[];
  /** Mailbox secrets (not IDs): only the owner may watch a mailbox. */
  readonly mailboxSecrets: readonly Uint8Array[];
}

/** At most this many routing IDs plus mailboxes per connection. */
export const MAX_SUBSCRIPTIONS = 1024;

/**
 * Something became readable. Pushes carry positions, never blobs: fetch from your cursor. `resync` means
 * pushes may have been missed (a reconnect, a service-side listener restart): re-poll every cursor.
 */
export type DeliveryPush =
  | { readonly type: 'log'; readonly routingId: Uint8Array; readonly seq: number; readonly kind: MessageKind }
  | { readonly type: 'mailbox'; readonly mailboxId: Uint8Array; readonly seq: number }
  | { readonly type: 'resync' };

// ---- errors ----

/**
 * The stable error codes of the wire protocol, raised as `DeliveryError(code)` by the client:
 * - `bad_request`: the request did not decode, or broke a rule (handle form, ID lengths, limits of a list);
 * - `bad_signature`: a registration or signed request did not verify, or names another identity;
 * - `expired`: a signed request's timestamp is outside `SIGNED_REQUEST_WINDOW_MS` of the service's clock;
 * - `not_registered`: a signed request for a handle nobody registered;
 * - `too_large`: the request exceeds the service's request size limit;
 * - `unsupported_version`: a protocol version this service does not speak;
 * - `push_unavailable`: `subscribe` over a carrier without push (the mixnet): poll instead;
 * - `internal`: the service failed (its database is down); retry later;
 * - `token_required`: the request is one that spends an anonymous token (claims, mailbox posts) and carried
 *   none, while the service requires them (tokens.ts);
 * - `bad_token`: the token does not verify: another challenge, a key the service no longer accepts, a forged
 *   signature, or malformed bytes;
 * - `token_spent`: the token was already spent on another request.
 */
export type DeliveryErrorCode = Extract<
  DeliveryErrorReason,
  | 'bad_request'
  | 'bad_signature'
  | 'expired'
  | 'not_registered'
  | 'too_large'
  | 'unsupported_version'
  | 'push_unavailable'
  | 'internal'
  | 'token_required'
  | 'bad_token'
  | 'token_spent'
>;

/** The delivery service, as a client sees it. */
export interface DeliveryApi {
  /**
   * Binds `handle` to the signer's identity key with a registration signed by it (built by the client).
   * The same key again is `created: false`; another key is `handle_taken`; a service over its registration
   * limits answers `rate_limited` with when to retry (a handle already bound is answered even then).
   * `keyPackages`, the device's first ones, are published once the handle is bound (one round trip for a
   * sign-up instead of two).
   */
  register(handle: string, keyPackages?: PublishKeyPackagesRequest): Promise<RegisterResult>;
  /** The identity bound to `handle`. Verify `registration` before trusting it (identity.ts). */
  lookup(handle: string): Promise<LookupResult>;

  /** Adds one-time KeyPackages and/or replaces the last resort, signed by the handle's identity key. */
  publishKeyPackages(request: PublishKeyPackagesRequest): Promise<PublishResult>;
  /**
   * One KeyPackage per device of `handle`, each one-time KeyPackage handed out exactly once. Spends a token
   * from the client's `TokenSource` (retried once with another if the service refuses it).
   */
  claimKeyPackages(handle: string): Promise<ClaimResult>;
  /** The device's unclaimed KeyPackages (refill hint); signed, so only the owner learns it. */
  countKeyPackages(handle: string, deviceId: Uint8Array): Promise<KeyPackageCount>;

  /**
   * Appends to a routing ID's log. The first commit closes it: later posts are `stale_epoch`. `options`
   * go to the carrier (its `onSent` tells when the post has left this client).
   */
  postToLog(routingId: Uint8Array, post: LogPost, options?: CarrierRequestOptions): Promise<LogPostResult>;
  /** Up to `limit` (default and max `MAX_PAGE_ITEMS`) entries with `seq > afterSeq`. */
  fetchLog(routingId: Uint8Array, afterSeq: number, limit?: number): Promise<LogPage>;

  /** Posts to the mailbox `mailboxId` (= `mailboxIdOf(secret)` of its owner). Spends a token, as claims do. */
  postToMailbox(mailboxId: Uint8Array, post: MailboxPost): Promise<MailboxPostResult>;
  /** The owner's items with `seq > afterSeq`; proves ownership by presenting the secret. */
  fetchMailbox(mailboxSecret: Uint8Array, afterSeq: number, limit?: number): Promise<readonly MailboxItem[]>;
  /**
   * Several of the owner's mailboxes in one request (a device's contact mailboxes): the items of each, in
   * the order asked, at most `limit` items and about one blob's worth of bytes in all; read again from the
   * new cursors for the rest.
   */
  fetchMailboxes(
    cursors: readonly MailboxCursor[],
    limit?: number,
  ): Promise<readonly (readonly MailboxItem[])[]>;
  /** Deletes acknowledged items; resolves with how many unexpired ones existed. Frees their quota. */
  deleteFromMailbox(mailboxSecret: Uint8Array, messageIds: readonly Uint8Array[]): Promise<number>;

  /** The issuer's name and keys; anonymous, so that every client is shown the same keys. */
  issuerKeys(): Promise<IssuerKeys>;
  /** Blind signatures for `tokenRequests` (RFC 9578 TokenRequests), signed by `handle`'s identity key. */
  issueTokens(handle: string, tokenRequests: readonly Uint8Array[]): Promise<IssueResult>;

  /**
   * Replaces this connection's subscriptions (an empty set cancels them). Pushes arrive through
   * `onPush`; after a reconnect the client re-subscribes by itself and emits `{ type: 'resync' }`.
   * Rejects with `DeliveryError('push_unavailable')` when the carrier cannot push.
   */
  subscribe(subscriptions: Subscriptions): Promise<void>;
  /** Calls `listener` on every push; returns the unsubscribe function. */
  onPush(listener: (push: DeliveryPush) => void): () => void;
}
