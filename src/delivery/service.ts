/**
 * The delivery service's protocol handler (design brief §3, docs/delivery.md): one encoded request in, one
 * encoded response out, over a `DeliveryStore`. The same handler serves every carrier: the WebSocket server
 * calls it with a push session per connection, the mixnet exit gateway's HTTP call without one.
 *
 * What it enforces beyond the store: registrations and signed requests verify (identity.ts), signed
 * requests are fresh (`SIGNED_REQUEST_WINDOW_MS`), requests stay under a size limit, mailbox reads and
 * deletes present the mailbox secret, and new registrations stay within token buckets (rate-limit.ts) per
 * connection, per HTTP peer and in total: a registration that would bind a new handle past them is
 * answered `rate_limited { retryAfterMs }`; one that creates nothing (the same key again, a taken handle)
 * costs no token. What it hides: handles, routing IDs and mailbox IDs reach the store
 * only as HMAC-SHA256 under the service's identifier key, with a label per kind, so a copy of the database
 * without that key names nobody; every instance on one database must share the key. Logs and metrics carry
 * request kinds, outcomes and durations only.
 *
 * Anonymous tokens (docs/tokens.md): the service is also the token issuer (issuer.ts: `issuerKeys`, signed
 * `issueTokens` within a daily budget per identity), and claims and mailbox posts spend a token each
 * (redemption.ts) unless `tokens` is off. Signed requests carry a nonce accepted once (`spendOnce`), so a
 * captured one cannot be replayed within its freshness window; an identical copy (a retransmission) gets the
 * first answer again and changes nothing (signed-answers.ts).
 *
 * `handle` never throws: hostile bytes get an encoded `bad_request`, another version `unsupported_version`,
 * and a failing store `internal` (logged with its error class, never with request contents).
 */
import {
  type CryptoBackend,
  concatBytes,
  constantTimeEqual,
  cryptoBackend,
  toHex,
  utf8,
} from '../crypto/index.ts';
import { ArgumentError, AuthenticationError, CodecError, DeliveryError } from '../errors.ts';
import { type Logger, silentLogger } from '../ops/logger.ts';
import { type Counter, DURATION_BUCKETS, type Histogram, MetricsRegistry } from '../ops/metrics.ts';
import {
  type ClaimResult,
  type DeliveryErrorCode,
  type DeliveryPush,
  type IdentityInfo,
  type IdentityKey,
  type LookupResult,
  SIGNED_REQUEST_WINDOW_MS,
} from '../protocol/api.ts';
import type { RequestHandler } from '../protocol/carrier.ts';
import {
  decodeIdentityKey,
  encodeIdentityKey,
  mailboxIdOf,
  registrationIdentityKey,
  verifyIdentitySignature,
  verifyRegistration,
} from '../protocol/identity.ts';
import {
  DEFAULT_MAX_REQUEST_BYTES,
  type DeliveryRequest,
  type DeliveryResponse,
  decodeRequest,
  encodeErrorResponse,
  encodePush,
  encodeResponse,
  messageVersion,
  PROTOCOL_VERSION,
  type RequestOf,
  type SignedBody,
  type SignedRequestKind,
  signedRequestMessage,
} from '../protocol/messages.ts';
import type { KeyPackageUpload, MailboxItem, MailboxPostResult } from '../protocol/records.ts';
import { DEFAULT_ISSUER_NAME } from '../protocol/tokens.ts';
import { TokenIssuer } from './issuer.ts';
import {
  assertBucketRate,
  DEFAULT_REGISTRATION_LIMITS,
  KeyedBuckets,
  type RegistrationLimits,
  TokenBucket,
  takeAll,
} from './rate-limit.ts';
import { TokenVerifier } from './redemption.ts';
import { AtRestSealer } from './sealing.ts';
import { SignedAnswers } from './signed-answers.ts';
import type {
  Clock,
  DeliveryStore,
  IdentityRecord,
  ClaimResult as StoreClaimResult,
  StoreEvent,
  TokenSpend,
  TokenSpent,
} from './store/index.ts';

/** How often expired items are purged by default. */
export const DEFAULT_PURGE_INTERVAL_MS = 60_000;
/** Length of the identifier key. */
export const IDENTIFIER_KEY_LENGTH = 32;
/** Blob bytes one `fetchMailboxes` answer gathers before it stops (it always carries at least one item). */
export const MAX_FETCH_BYTES = 1024 * 1024;
/** The stored identity key is its HMAC tag under the handle's key. */
const IDENTITY_KEY_TAG_LENGTH = 32;
/** HTTP peers whose registration buckets are remembered at once (more share one bucket). */
export const MAX_TRACKED_PEERS = 4096;

const LABELS = {
  handle: utf8('umbra/delivery/v1 handle\0'),
  routing: utf8('umbra/delivery/v1 routing id\0'),
  mailbox: utf8('umbra/delivery/v1 mailbox id\0'),
} as const;

export interface DeliveryServiceOptions {
  readonly store: DeliveryStore;
  /** 32 secret bytes keying the hashes of identifiers at rest; the same for every instance on one database. */
  readonly identifierKey: Uint8Array;
  /** Requests longer than this are refused with `too_large`. Default `DEFAULT_MAX_REQUEST_BYTES`. */
  readonly maxRequestBytes?: number;
  /** Interval of the TTL purge; 0 turns it off. Default `DEFAULT_PURGE_INTERVAL_MS`. */
  readonly purgeIntervalMs?: number;
  /** Token buckets for new registrations. Default `DEFAULT_REGISTRATION_LIMITS`. */
  readonly registrationLimits?: Partial<RegistrationLimits>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
  readonly backend?: CryptoBackend;
  /** Claims and mailbox posts must spend a token (docs/tokens.md). Default true. */
  readonly tokens?: boolean;
  /** Tokens one identity may fetch per UTC day. Default `DEFAULT_TOKENS_PER_DAY` (100). */
  readonly tokensPerDay?: number;
  /** A new issuer key every this many ms. Default `DEFAULT_TOKEN_KEY_ROTATION_MS` (7 days). */
  readonly tokenKeyRotationMs?: number;
  /** Tokens under a key are accepted this long after it starts issuing. Default 14 days. */
  readonly tokenKeyLifetimeMs?: number;
  /** The issuer name and origin in the token challenge. Default `DEFAULT_ISSUER_NAME`. */
  readonly tokenIssuerName?: string;
}

/**
 * A connection that can receive pushes, from `DeliveryService.openSession(send)`: `send` gets encoded pushes
 * (messages.ts), must not throw, and is never waited for.
 */
export interface PushSession {
  /** Replaces the subscriptions (routing IDs, mailbox IDs as clients know them). */
  replace(routingIds: readonly Uint8Array[], mailboxIds: readonly Uint8Array[]): void;
  /** Forgets every subscription; the session receives nothing more. */
  close(): void;
}

export interface RequestContext {
  /** The requesting connection's push session; absent on carriers without push (the mixnet). */
  readonly session?: PushSession;
  /**
   * The registration bucket of where the request came from (`connectionRegistrations()` for a WebSocket,
   * `peerRegistrations(address)` for an HTTP peer); without it only the global limit applies.
   */
  readonly registrations?: TokenBucket;
}

type IdentifierKind = keyof typeof LABELS;

/** One subscribed stream of one session: where to push and the identifier the client knows. */
interface Subscriber {
  readonly session: Session;
  readonly clientId: Uint8Array;
}

/**
 * Who is subscribed to what, indexed by the keyed hashes that the store's change events carry, so an event
 * finds its subscribers without the service keeping clear identifiers of streams nobody watches.
 */
class PushHub {
  readonly sessions = new Set<Session>();
  readonly hash: (kind: IdentifierKind, id: Uint8Array) => Uint8Array;
  readonly #routing = new Map<string, Set<Subscriber>>();
  readonly #mailbox = new Map<string, Set<Subscriber>>();

  constructor(hash: (kind: IdentifierKind, id: Uint8Array) => Uint8Array) {
    this.hash = hash;
  }

  open(send: (push: Uint8Array) => void): Session {
    const session = new Session(this, send);
    this.sessions.add(session);
    return session;
  }

  attach(session: Session): void {
    for (const [key, subscriber] of session.routing) addTo(this.#routing, key, subscriber);
    for (const [key, subscriber] of session.mailbox) addTo(this.#mailbox, key, subscriber);
  }

  detach(session: Session): void {
    for (const [key, subscriber] of session.routing) removeFrom(this.#routing, key, subscriber);
    for (const [key, subscriber] of session.mailbox) removeFrom(this.#mailbox, key, subscriber);
  }

  dispatch(event: StoreEvent): void {
    switch (event.type) {
      case 'log':
        for (const { session, clientId } of this.#routing.get(toHex(event.routingId)) ?? []) {
          session.push({ type: 'log', routingId: clientId, seq: event.seq, kind: event.kind });
        }
        return;
      case 'mailbox':
        for (const { session, clientId } of this.#mailbox.get(toHex(event.mailboxId)) ?? []) {
          session.push({ type: 'mailbox', mailboxId: clientId, seq: event.seq });
        }
        return;
      case 'resync':
        for (const session of this.sessions) session.push({ type: 'resync' });
        return;
    }
  }
}

class Session implements PushSession {
  readonly #hub: PushHub;
  readonly #send: (push: Uint8Array) => void;
  /** Hex of the hashed identifier → the subscription, per kind. */
  routing = new Map<string, Subscriber>();
  mailbox = new Map<string, Subscriber>();

  constructor(hub: PushHub, send: (push: Uint8Array) => void) {
    this.#hub = hub;
    this.#send = send;
  }

  push(push: DeliveryPush): void {
    this.#send(encodePush(push));
  }

  replace(routingIds: readonly Uint8Array[], mailboxIds: readonly Uint8Array[]): void {
    this.#hub.detach(this);
    const index = (kind: IdentifierKind, ids: readonly Uint8Array[]) =>
      new Map(ids.map((id) => [toHex(this.#hub.hash(kind, id)), { session: this, clientId: id }]));
    this.routing = index('routing', routingIds);
    this.mailbox = index('mailbox', mailboxIds);
    this.#hub.attach(this);
  }

  close(): void {
    this.#hub.detach(this);
    this.#hub.sessions.delete(this);
    this.routing = new Map();
    this.mailbox = new Map();
  }
}

export class DeliveryService {
  readonly store: DeliveryStore;
  readonly maxRequestBytes: number;
  /** `handle` without a push session: what the mixnet exit gateway calls. */
  readonly handler: RequestHandler;
  readonly #hub = new PushHub((kind, id) => this.hash(kind, id));
  readonly #identifierKey: Uint8Array;
  readonly #sealer: AtRestSealer;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #backend: CryptoBackend;
  readonly #requests: Counter<'kind' | 'outcome'>;
  readonly #duration: Histogram<'kind'>;
  readonly #tokensRequired: boolean;
  readonly #issuer: TokenIssuer;
  readonly #verifier: TokenVerifier;
  readonly #tokensIssued: Counter;
  readonly #tokensRedeemed: Counter;
  readonly #tokensRefused: Counter<'reason'>;
  readonly #purgeTimer: ReturnType<typeof setInterval> | undefined;
  readonly #registrationLimits: RegistrationLimits;
  readonly #globalRegistrations: TokenBucket;
  readonly #peerRegistrations: KeyedBuckets;
  readonly #signedAnswers: SignedAnswers<DeliveryResponse>;
  #unsubscribeStore: (() => Promise<void>) | undefined;
  #purging = false;
  #closed = false;

  private constructor(options: DeliveryServiceOptions) {
    if (
      !(options.identifierKey instanceof Uint8Array) ||
      options.identifierKey.length !== IDENTIFIER_KEY_LENGTH
    ) {
      throw new ArgumentError('identifierKey', `must be ${IDENTIFIER_KEY_LENGTH} bytes`);
    }
    this.store = options.store;
    this.#identifierKey = Uint8Array.from(options.identifierKey);
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#backend = options.backend ?? cryptoBackend;
    this.#signedAnswers = new SignedAnswers(this.#clock);
    this.#sealer = new AtRestSealer(this.#identifierKey, this.#backend);
    this.#registrationLimits = { ...DEFAULT_REGISTRATION_LIMITS, ...options.registrationLimits };
    const limits = this.#registrationLimits;
    this.#globalRegistrations = new TokenBucket(limits.global, this.#clock, 'registrationLimits.global');
    assertBucketRate('registrationLimits.perConnection', limits.perConnection);
    this.#peerRegistrations = new KeyedBuckets(
      limits.perPeer,
      this.#clock,
      MAX_TRACKED_PEERS,
      'registrationLimits.perPeer',
    );
    const metrics = options.metrics ?? new MetricsRegistry();
    this.#requests = metrics.counter({
      name: 'umbra_delivery_requests_total',
      help: 'Delivery requests handled, by kind and outcome (ok, a refusal, or an error code).',
      labelNames: ['kind', 'outcome'],
    });
    this.#duration = metrics.histogram({
      name: 'umbra_delivery_request_duration_seconds',
      help: 'Time to handle one delivery request, by kind.',
      labelNames: ['kind'],
      buckets: DURATION_BUCKETS,
    });
    this.#tokensIssued = metrics.counter({
      name: 'umbra_delivery_tokens_issued_total',
      help: 'Anonymous tokens issued (blind signatures returned).',
    });
    this.#tokensRedeemed = metrics.counter({
      name: 'umbra_delivery_tokens_redeemed_total',
      help: 'Anonymous tokens accepted by claims and mailbox posts.',
    });
    this.#tokensRefused = metrics.counter({
      name: 'umbra_delivery_tokens_refused_total',
      help: 'Requests refused for their token: missing, bad (does not verify) or double_spend.',
      labelNames: ['reason'],
    });
    this.#tokensRequired = options.tokens ?? true;
    this.#issuer = new TokenIssuer({
      store: this.store,
      identifierKey: this.#identifierKey,
      issuerName: options.tokenIssuerName ?? DEFAULT_ISSUER_NAME,
      ...(options.tokensPerDay === undefined ? {} : { tokensPerDay: options.tokensPerDay }),
      ...(options.tokenKeyRotationMs === undefined ? {} : { rotationMs: options.tokenKeyRotationMs }),
      ...(options.tokenKeyLifetimeMs === undefined ? {} : { keyLifetimeMs: options.tokenKeyLifetimeMs }),
      clock: this.#clock,
      backend: this.#backend,
    });
    this.#verifier = new TokenVerifier(this.#issuer);
    const sessionsGauge = metrics.gauge({
      name: 'umbra_delivery_push_sessions',
      help: 'Connections that can receive pushes.',
    });
    metrics.onCollect(() => sessionsGauge.set(this.#hub.sessions.size));
    this.handler = (request) => this.handle(request);
    const purgeIntervalMs = options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
    if (purgeIntervalMs > 0) {
      this.#purgeTimer = setInterval(() => void this.purge(), purgeIntervalMs);
      this.#purgeTimer.unref();
    }
  }

  /** A service over `options.store`, listening to its change events for pushes. */
  static async start(options: DeliveryServiceOptions): Promise<DeliveryService> {
    const service = new DeliveryService(options);
    try {
      service.#unsubscribeStore = await service.store.subscribe((event) => service.#hub.dispatch(event));
    } catch (error) {
      await service.close();
      throw error;
    }
    return service;
  }

  /** The keyed hash under which the store knows an identifier. */
  hash(kind: IdentifierKind, id: Uint8Array): Uint8Array {
    return this.#backend.hmacSha256(this.#identifierKey, LABELS[kind], id);
  }

  /** A push session for a connection; `send` receives encoded pushes. Close it when the connection ends. */
  openSession(send: (push: Uint8Array) => void): PushSession {
    return this.#hub.open(send);
  }

  /** A new registration bucket for one WebSocket connection; pass it in every request's context. */
  connectionRegistrations(): TokenBucket {
    return new TokenBucket(this.#registrationLimits.perConnection, this.#clock);
  }

  /** The registration bucket of an HTTP peer (its remote address), shared by all its connections. */
  peerRegistrations(address: string): TokenBucket {
    return this.#peerRegistrations.get(address);
  }

  /** Handles one encoded request; never throws. */
  async handle(request: Uint8Array, context: RequestContext = {}): Promise<Uint8Array> {
    const started = performance.now();
    let kind = 'unknown';
    let outcome = 'ok';
    let response: Uint8Array;
    try {
      if (request.length > this.maxRequestBytes) {
        outcome = 'too_large';
        return encodeErrorResponse('too_large');
      }
      if (messageVersion(request) !== PROTOCOL_VERSION) {
        outcome = request.length === 0 ? 'bad_request' : 'unsupported_version';
        return encodeErrorResponse(outcome === 'bad_request' ? 'bad_request' : 'unsupported_version');
      }
      let decoded: DeliveryRequest;
      try {
        decoded = decodeRequest(request);
      } catch (error) {
        if (!(error instanceof CodecError)) throw error;
        outcome = 'bad_request';
        return encodeErrorResponse('bad_request');
      }
      kind = decoded.kind;
      const answer = await this.#dispatch(decoded, context);
      outcome = outcomeOf(answer);
      response = encodeResponse(answer);
    } catch (error) {
      outcome = 'internal';
      this.#logger.error('request failed', { kind, error });
      return encodeErrorResponse('internal');
    } finally {
      this.#requests.inc(1, { kind, outcome });
      this.#duration.observe((performance.now() - started) / 1000, { kind });
      this.#logger.debug('request', { kind, outcome, ms: Math.round(performance.now() - started) });
    }
    return response;
  }

  /** Deletes expired items now (the timer calls this); resolves once done, never rejects. */
  async purge(): Promise<void> {
    if (this.#purging || this.#closed) return;
    this.#purging = true;
    try {
      const counts = await this.store.purgeExpired(this.#clock());
      if (counts.items + counts.keyPackages + counts.streams + counts.tokens > 0)
        this.#logger.debug('purged', { ...counts });
    } catch (error) {
      this.#logger.warn('purge failed', { error });
    } finally {
      this.#purging = false;
    }
  }

  /** Stops the purge timer and the store listener and forgets every session. The store stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#purgeTimer !== undefined) clearInterval(this.#purgeTimer);
    for (const session of [...this.#hub.sessions]) session.close();
    const unsubscribe = this.#unsubscribeStore;
    this.#unsubscribeStore = undefined;
    await unsubscribe?.();
  }

  async #dispatch(request: DeliveryRequest, context: RequestContext): Promise<DeliveryResponse> {
    switch (request.kind) {
      case 'register':
        return this.#register(request.value, context);
      case 'lookup':
        return { kind: 'lookup', value: await this.#lookup(request.value.handle) };
      case 'publishKeyPackages':
        return this.#publish(request.value);
      case 'claimKeyPackages': {
        const answer = await this.#claim(request.value.handle, request.value.token);
        return typeof answer === 'string' ? refusal(answer) : { kind: 'claimKeyPackages', value: answer };
      }
      case 'countKeyPackages':
        return this.#count(request.value);
      case 'postToLog': {
        const { routingId, post } = request.value;
        return {
          kind: 'postToLog',
          value: await this.store.postToLog(this.hash('routing', routingId), post),
        };
      }
      case 'fetchLog': {
        const { routingId, afterSeq, limit } = request.value;
        const page = await this.store.fetchLog(this.hash('routing', routingId), afterSeq, limit);
        return { kind: 'fetchLog', value: page };
      }
      case 'postToMailbox': {
        const answer = await this.#postToMailbox(request.value);
        return typeof answer === 'string' ? refusal(answer) : { kind: 'postToMailbox', value: answer };
      }
      case 'issuerKeys':
        return { kind: 'issuerKeys', value: await this.#issuer.publicKeys() };
      case 'issueTokens':
        return this.#issueTokens(request.value);
      case 'fetchMailbox': {
        const { mailboxSecret, afterSeq, limit } = request.value;
        const items = await this.store.fetchMailbox(this.#mailboxKey(mailboxSecret), afterSeq, limit);
        return { kind: 'fetchMailbox', value: items };
      }
      case 'deleteFromMailbox': {
        const { mailboxSecret, messageIds } = request.value;
        const deleted = await this.store.deleteFromMailbox(this.#mailboxKey(mailboxSecret), messageIds);
        return { kind: 'deleteFromMailbox', value: { deleted } };
      }
      case 'fetchMailboxes':
        return { kind: 'fetchMailboxes', value: await this.#fetchMailboxes(request.value) };
      case 'subscribe': {
        if (context.session === undefined) return refusal('push_unavailable');
        const { routingIds, mailboxSecrets } = request.value;
        context.session.replace(
          routingIds,
          mailboxSecrets.map((secret) => mailboxIdOf(secret, this.#backend)),
        );
        return { kind: 'subscribe', value: {} };
      }
    }
  }

  /**
   * Reads each mailbox in turn until `limit` items or `MAX_FETCH_BYTES` of blobs are gathered (at least one
   * item, so a full-size blob is never stuck); the client reads on from its new cursors.
   */
  async #fetchMailboxes({
    mailboxes,
    limit,
  }: RequestOf<'fetchMailboxes'>): Promise<(readonly MailboxItem[])[]> {
    const pages: (readonly MailboxItem[])[] = [];
    let items = 0;
    let bytes = 0;
    for (const { mailboxSecret, afterSeq } of mailboxes) {
      const room = limit - items;
      if (room <= 0 || bytes >= MAX_FETCH_BYTES) {
        pages.push([]);
        continue;
      }
      const page: MailboxItem[] = [];
      for (const item of await this.store.fetchMailbox(this.#mailboxKey(mailboxSecret), afterSeq, room)) {
        if (items > 0 && bytes + item.blob.length > MAX_FETCH_BYTES) break;
        page.push(item);
        items += 1;
        bytes += item.blob.length;
      }
      pages.push(page);
    }
    return pages;
  }

  #mailboxKey(secret: Uint8Array): Uint8Array {
    return this.hash('mailbox', mailboxIdOf(secret, this.#backend));
  }

  /** Binds the handle (`#bind`), then publishes the KeyPackages sent along, as `publishKeyPackages` would. */
  async #register(request: RequestOf<'register'>, context: RequestContext): Promise<DeliveryResponse> {
    const bound = await this.#bind(request, context);
    const { keyPackages } = request;
    if (bound.kind !== 'register' || !bound.value.ok || keyPackages?.body.handle !== request.handle) {
      return bound;
    }
    const answer = await this.#publish(keyPackages);
    if (answer.kind !== 'publishKeyPackages') return bound;
    return { kind: 'register', value: { ...bound.value, published: answer.value } };
  }

  async #bind(
    { handle, registration }: RequestOf<'register'>,
    context: RequestContext,
  ): Promise<DeliveryResponse> {
    const handleHash = this.hash('handle', utf8(handle));
    const buckets =
      context.registrations === undefined
        ? [this.#globalRegistrations]
        : [context.registrations, this.#globalRegistrations];
    // The limits come before the signatures, so that a flood past them costs no ML-DSA verification. Over
    // the limits, a handle already bound is still answered (existing or taken: nothing is created), so a
    // client finishing its own registration is not kept waiting.
    const taken = takeAll(buckets);
    if (!taken.ok && (await this.store.getIdentity(handleHash)) === undefined) {
      return {
        kind: 'register',
        value: { ok: false, error: 'rate_limited', retryAfterMs: taken.retryAfterMs },
      };
    }
    // Whatever binds nothing gives its tokens back.
    const refund = () => {
      if (taken.ok) for (const bucket of buckets) bucket.refund();
    };
    let identityKey: IdentityKey;
    try {
      ({ identityKey } = verifyRegistration(registration, handle, this.#backend));
    } catch (error) {
      refund();
      if (error instanceof CodecError) return refusal('bad_request');
      if (error instanceof DeliveryError) return refusal('bad_signature');
      throw error;
    }
    const handleKey = this.#sealer.handleKey(handle);
    const encodedKey = encodeIdentityKey(identityKey);
    const result = await this.store.registerIdentity(
      handleHash,
      this.#sealer.tag(handleKey, 'identityKey', encodedKey),
      this.#sealer.seal(handleKey, 'registration', registration),
    );
    if (!(result.ok && result.created)) refund();
    if (!result.ok) {
      // A handle registered before identities were sealed keeps its key in clear: the same key again is
      // still the same identity.
      const record = await this.store.getIdentity(handleHash);
      if (record !== undefined && isUnsealed(record) && constantTimeEqual(record.identityKey, encodedKey)) {
        return { kind: 'register', value: { ok: true, created: false } };
      }
    }
    return { kind: 'register', value: result };
  }

  async #identity(handle: string): Promise<IdentityInfo | undefined> {
    const record = await this.store.getIdentity(this.hash('handle', utf8(handle)));
    if (record === undefined) return undefined;
    if (isUnsealed(record)) {
      return {
        identityKey: decodeIdentityKey(record.identityKey),
        registration: record.registration,
        registeredAt: record.registeredAt,
      };
    }
    const registration = this.#sealer.open(
      this.#sealer.handleKey(handle),
      'registration',
      record.registration,
    );
    return {
      identityKey: registrationIdentityKey(registration),
      registration,
      registeredAt: record.registeredAt,
    };
  }

  async #lookup(handle: string): Promise<LookupResult> {
    const identity = await this.#identity(handle);
    return identity === undefined ? { ok: false, error: 'not_found' } : { ok: true, ...identity };
  }

  /**
   * A claim, paid by `token` when tokens are required: spent by the store in the claim's own transaction and
   * bound to the handle, so a retransmitted claim gets the same KeyPackages again.
   */
  async #claim(handle: string, token: Uint8Array | undefined): Promise<ClaimResult | DeliveryErrorCode> {
    const handleHash = this.hash('handle', utf8(handle));
    const spend = await this.#tokenSpend(token, () => this.#backend.sha256(handleHash));
    if (typeof spend === 'string') return spend;
    const identity = await this.#identity(handle);
    let claimed: StoreClaimResult | TokenSpent;
    if (spend === undefined) claimed = await this.store.claimKeyPackages(handleHash);
    else {
      claimed = await this.store.claimKeyPackages(handleHash, spend);
      this.#countSpend(claimed);
    }
    if (isTokenSpent(claimed)) return 'token_spent';
    if (identity === undefined || !claimed.ok) return { ok: false, error: 'not_found' };
    const handleKey = this.#sealer.handleKey(handle);
    const packages = claimed.packages.flatMap((item) => {
      try {
        const context = keyPackageContext(item.deviceId, item.id);
        return [{ ...item, data: this.#sealer.open(handleKey, 'keyPackage', item.data, context) }];
      } catch (error) {
        if (!(error instanceof AuthenticationError)) throw error;
        // Uploaded before KeyPackages were sealed: without a contact mailbox no claimer could use it.
        this.#logger.info('unsealed key package dropped');
        return [];
      }
    });
    return packages.length > 0 ? { ok: true, ...identity, packages } : { ok: false, error: 'not_found' };
  }

  /**
   * A mailbox post, paid by `token` when tokens are required, bound to the mailbox and message ID: a
   * retransmitted post spends the same token again and is a duplicate.
   */
  async #postToMailbox({
    mailboxId,
    post,
    token,
  }: RequestOf<'postToMailbox'>): Promise<MailboxPostResult | DeliveryErrorCode> {
    const mailboxHash = this.hash('mailbox', mailboxId);
    const spend = await this.#tokenSpend(token, () =>
      this.#backend.sha256(concatBytes(mailboxHash, post.messageId)),
    );
    if (typeof spend === 'string') return spend;
    if (spend === undefined) return this.store.postToMailbox(mailboxHash, post);
    const result = await this.store.postToMailbox(mailboxHash, post, spend);
    this.#countSpend(result);
    return isTokenSpent(result) ? 'token_spent' : result;
  }

  /**
   * What the store spends for a request carrying `token`: undefined when tokens are off, the error code
   * when it is missing or does not verify. Counted in the token metrics.
   */
  async #tokenSpend(
    token: Uint8Array | undefined,
    binding: () => Uint8Array,
  ): Promise<TokenSpend | DeliveryErrorCode | undefined> {
    if (!this.#tokensRequired) return undefined;
    if (token === undefined) {
      this.#tokensRefused.inc(1, { reason: 'missing' });
      return 'token_required';
    }
    const verified = await this.#verifier.verify(token);
    if (verified === 'bad_token') {
      this.#tokensRefused.inc(1, { reason: 'bad' });
      return verified;
    }
    return { ...verified, binding: binding() };
  }

  /** Counts a paid request's token as redeemed, or refused as a double spend. */
  #countSpend(result: { readonly ok: boolean }): void {
    if (isTokenSpent(result)) this.#tokensRefused.inc(1, { reason: 'double_spend' });
    else this.#tokensRedeemed.inc();
  }

  /**
   * Answers a signed request: `act` runs when it is fresh, registered, signed by the handle's key, and its
   * nonce never seen — a replay within the window is `bad_request` — except that an identical copy of a
   * request answered within the window (a carrier's retransmission) gets the first answer again, and `act`
   * does not run twice (signed-answers.ts).
   */
  #answerSigned<K extends SignedRequestKind>(
    kind: K,
    body: SignedBody<K>,
    signature: Uint8Array,
    act: () => Promise<DeliveryResponse>,
  ): Promise<DeliveryResponse> {
    const message = signedRequestMessage(kind, body);
    // Remembered until the request could no longer be fresh.
    const expiresAt = body.signedAt + SIGNED_REQUEST_WINDOW_MS + 1;
    const digest = this.#backend.sha256(concatBytes(message, signature));
    return this.#signedAnswers.answer(body.nonce, digest, expiresAt, async () => {
      const problem = await this.#checkSigned(kind, body, message, signature, expiresAt);
      return problem === undefined ? act() : refusal(problem);
    });
  }

  /** Undefined when the signed request may proceed (see `#answerSigned`), else the error code to answer. */
  async #checkSigned<K extends SignedRequestKind>(
    kind: K,
    body: SignedBody<K>,
    message: Uint8Array,
    signature: Uint8Array,
    expiresAt: number,
  ): Promise<DeliveryErrorCode | undefined> {
    if (Math.abs(this.#clock() - body.signedAt) > SIGNED_REQUEST_WINDOW_MS) return 'expired';
    const identity = await this.#identity(body.handle);
    if (identity === undefined) return 'not_registered';
    if (!verifyIdentitySignature(identity.identityKey, message, signature, this.#backend)) {
      this.#logger.info('signature refused', { kind });
      return 'bad_signature';
    }
    if (!(await this.store.spendOnce('nonce', body.nonce, expiresAt))) {
      this.#logger.info('signed request replayed', { kind });
      return 'bad_request';
    }
    return undefined;
  }

  #issueTokens({ body, signature }: RequestOf<'issueTokens'>): Promise<DeliveryResponse> {
    return this.#answerSigned('issueTokens', body, signature, () => this.#issue(body));
  }

  async #issue(body: SignedBody<'issueTokens'>): Promise<DeliveryResponse> {
    let result: Awaited<ReturnType<TokenIssuer['issue']>>;
    try {
      result = await this.#issuer.issue(this.hash('handle', utf8(body.handle)), body.tokenRequests);
    } catch (error) {
      if (error instanceof CodecError) return refusal('bad_request');
      throw error;
    }
    if (result === 'bad_request' || result === 'bad_token') return refusal(result);
    if (result.ok) this.#tokensIssued.inc(result.responses.length);
    return { kind: 'issueTokens', value: result };
  }

  #publish({ body, signature }: RequestOf<'publishKeyPackages'>): Promise<DeliveryResponse> {
    return this.#answerSigned('publishKeyPackages', body, signature, () => this.#storePackages(body));
  }

  async #storePackages(body: SignedBody<'publishKeyPackages'>): Promise<DeliveryResponse> {
    const handleKey = this.#sealer.handleKey(body.handle);
    const seal = (upload: KeyPackageUpload): KeyPackageUpload => ({
      id: upload.id,
      data: this.#sealer.seal(
        handleKey,
        'keyPackage',
        upload.data,
        keyPackageContext(body.deviceId, upload.id),
      ),
    });
    const result = await this.store.publishKeyPackages({
      handleHash: this.hash('handle', utf8(body.handle)),
      deviceId: body.deviceId,
      oneTime: body.oneTime.map(seal),
      ...(body.lastResort === undefined ? {} : { lastResort: seal(body.lastResort) }),
    });
    // The handle was registered a moment ago and registrations are never removed.
    if (!result.ok && result.error === 'not_found') return refusal('not_registered');
    return { kind: 'publishKeyPackages', value: result };
  }

  #count({ body, signature }: RequestOf<'countKeyPackages'>): Promise<DeliveryResponse> {
    return this.#answerSigned('countKeyPackages', body, signature, async () => ({
      kind: 'countKeyPackages',
      value: await this.store.countKeyPackages(this.hash('handle', utf8(body.handle)), body.deviceId),
    }));
  }
}

/** A record stored before identities were sealed holds the encoded identity key, not its 32-byte tag. */
function isUnsealed(record: IdentityRecord): boolean {
  return record.identityKey.length !== IDENTITY_KEY_TAG_LENGTH;
}

/** What a sealed KeyPackage is bound to: its device and upload ID (length-prefixed, so never ambiguous). */
function keyPackageContext(deviceId: Uint8Array, id: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(deviceId.length), deviceId, id);
}

function isTokenSpent(result: { readonly ok: boolean }): result is TokenSpent {
  return !result.ok && 'error' in result && result.error === 'token_spent';
}

function refusal(code: DeliveryErrorCode): DeliveryResponse {
  return { kind: 'error', value: { code } };
}

/** The metric label of a response: 'ok', the refusal of a tagged result, or the error code. */
function outcomeOf(response: DeliveryResponse): string {
  if (response.kind === 'error') return response.value.code;
  const value: unknown = response.value;
  if (
    typeof value === 'object' &&
    value !== null &&
    'ok' in value &&
    value.ok === false &&
    'error' in value
  ) {
    return String(value.error);
  }
  return 'ok';
}

function addTo(index: Map<string, Set<Subscriber>>, key: string, subscriber: Subscriber): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(subscriber);
}

function removeFrom(index: Map<string, Set<Subscriber>>, key: string, subscriber: Subscriber): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(subscriber);
  if (set.size === 0) index.delete(key);
}
