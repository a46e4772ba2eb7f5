/**
 * `DeliveryClient`: the delivery API (api.ts) over any carrier (carrier.ts). Each call becomes one request of
 * the binary protocol (messages.ts); the response is decoded and checked to answer that request. The client
 * trusts the service for ordering and storage only: registrations it returns (lookup, claim) are verified
 * here against the handle asked for, so a lying service can withhold an identity but never substitute one.
 *
 * Failures: `DeliveryError(code)` when the service refused the request (api.ts lists the codes),
 * `CarrierError` when the exchange failed (including 'protocol' for a response that does not decode or
 * answers another request), `ArgumentError` for invalid arguments (caught before anything is sent).
 */
import { constantTimeEqual } from '../bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { ArgumentError, CarrierError, CodecError, DeliveryError } from '../errors.ts';
import {
  type ClaimResult,
  type DeliveryApi,
  type DeliveryPush,
  type IdentityInfo,
  type IdentitySigner,
  type IssueResult,
  type IssuerKeys,
  type KeyPackageCount,
  type LogPage,
  type LogPost,
  type LogPostResult,
  type LookupResult,
  MAX_PAGE_ITEMS,
  type MailboxCursor,
  type MailboxItem,
  type MailboxPost,
  type MailboxPostResult,
  type PublishKeyPackagesRequest,
  type PublishResult,
  type RegisterResult,
  type Subscriptions,
  type TokenSource,
} from './api.ts';
import type { Carrier, CarrierRequestOptions } from './carrier.ts';
import {
  createRegistration,
  encodeIdentityKey,
  IDENTITY_KEY_LENGTH,
  REGISTRATION_LENGTH,
  signWith,
  verifyRegistration,
} from './identity.ts';
import {
  type DeliveryRequest,
  decodePush,
  decodeResponse,
  encodeRequest,
  type RequestKind,
  type RequestOf,
  type ResponseOf,
  SIGNED_REQUEST_NONCE_LENGTH,
  signedRequestMessage,
} from './messages.ts';

/**
 * Responses known to be large before any came: those that hand out an identity (its hybrid key and its
 * registration, about 7 KiB with ML-DSA-65) are at least this long, and a claim adds a KeyPackage (about
 * 0.4 KiB in the default suite: an allowance, not a bound). See `#expectedResponseBytes`.
 */
const IDENTITY_RESPONSE_BYTES = IDENTITY_KEY_LENGTH + REGISTRATION_LENGTH;
const KEY_PACKAGE_ALLOWANCE = 1024;
const LEAST_RESPONSE_BYTES: Partial<Record<RequestKind, number>> = {
  lookup: IDENTITY_RESPONSE_BYTES,
  claimKeyPackages: IDENTITY_RESPONSE_BYTES + KEY_PACKAGE_ALLOWANCE,
};

export interface DeliveryClientOptions {
  readonly carrier: Carrier;
  /** Signs registrations and KeyPackage uploads and counts; needed only for those calls. */
  readonly identity?: IdentitySigner;
  /** Per-request timeout handed to the carrier unless a call gives its own. Default: the carrier's. */
  readonly timeoutMs?: number;
  /** The clock signed requests carry (ms since the Unix epoch). Default `Date.now`. */
  readonly clock?: () => number;
  /**
   * Gives the token each claim and mailbox post spends (the SDK's wallet). Without one they go without a
   * token, which a service requiring tokens refuses with `token_required`.
   */
  readonly tokens?: TokenSource;
}

export class DeliveryClient implements DeliveryApi {
  readonly carrier: Carrier;
  readonly #identity: IdentitySigner | undefined;
  readonly #timeoutMs: number | undefined;
  readonly #clock: () => number;
  readonly #tokens: TokenSource | undefined;
  readonly #pushListeners = new Set<(push: DeliveryPush) => void>();
  readonly #detach: (() => void)[] = [];
  /** The length of the last response of each kind (see `#expectedResponseBytes`). */
  readonly #responseBytes = new Map<RequestKind, number>();
  #subscriptions: Subscriptions = { routingIds: [], mailboxSecrets: [] };
  #wasUp: boolean;

  constructor(options: DeliveryClientOptions) {
    this.carrier = options.carrier;
    this.#identity = options.identity;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.clock ?? Date.now;
    this.#tokens = options.tokens;
    this.#wasUp = this.carrier.status().state === 'up';
    if (this.carrier.onPush !== undefined) {
      this.#detach.push(this.carrier.onPush((bytes) => this.#receivePush(bytes)));
    }
    this.#detach.push(this.carrier.onStatus((status) => this.#statusChanged(status.state === 'up')));
  }

  async register(
    handle: string,
    keyPackages?: PublishKeyPackagesRequest,
    options?: CarrierRequestOptions,
  ): Promise<RegisterResult> {
    const registration = await createRegistration(this.#signer(), handle, this.#clock());
    const signed = keyPackages === undefined ? undefined : await this.#signedUpload(keyPackages);
    return this.#call({ kind: 'register', value: { handle, registration, keyPackages: signed } }, options);
  }

  async lookup(handle: string, options?: CarrierRequestOptions): Promise<LookupResult> {
    const result = await this.#call({ kind: 'lookup', value: { handle } }, options);
    if (result.ok) checkIdentity(handle, result);
    return result;
  }

  async publishKeyPackages(
    request: PublishKeyPackagesRequest,
    options?: CarrierRequestOptions,
  ): Promise<PublishResult> {
    return this.#call({ kind: 'publishKeyPackages', value: await this.#signedUpload(request) }, options);
  }

  /** A KeyPackage upload signed by the identity, as publishKeyPackages sends it and register carries it. */
  async #signedUpload(request: PublishKeyPackagesRequest): Promise<RequestOf<'publishKeyPackages'>> {
    const body = {
      handle: request.handle,
      deviceId: request.deviceId,
      nonce: randomBytes(SIGNED_REQUEST_NONCE_LENGTH),
      signedAt: this.#clock(),
      oneTime: request.oneTime,
      lastResort: request.lastResort,
    };
    const signature = await signWith(this.#signer(), signedRequestMessage('publishKeyPackages', body));
    return { body, signature };
  }

  async claimKeyPackages(handle: string, options?: CarrierRequestOptions): Promise<ClaimResult> {
    const result = await this.#spending((token) =>
      this.#call({ kind: 'claimKeyPackages', value: { handle, token } }, options),
    );
    if (result.ok) checkIdentity(handle, result);
    return result;
  }

  async countKeyPackages(
    handle: string,
    deviceId: Uint8Array,
    options?: CarrierRequestOptions,
  ): Promise<KeyPackageCount> {
    const body = {
      handle,
      deviceId,
      nonce: randomBytes(SIGNED_REQUEST_NONCE_LENGTH),
      signedAt: this.#clock(),
    };
    const signature = await signWith(this.#signer(), signedRequestMessage('countKeyPackages', body));
    return this.#call({ kind: 'countKeyPackages', value: { body, signature } }, options);
  }

  postToLog(routingId: Uint8Array, post: LogPost, options?: CarrierRequestOptions): Promise<LogPostResult> {
    return this.#call({ kind: 'postToLog', value: { routingId, post } }, options);
  }

  async fetchLog(
    routingId: Uint8Array,
    afterSeq: number,
    limit = MAX_PAGE_ITEMS,
    options?: CarrierRequestOptions,
  ): Promise<LogPage> {
    return this.#call({ kind: 'fetchLog', value: { routingId, afterSeq, limit: pageLimit(limit) } }, options);
  }

  postToMailbox(
    mailboxId: Uint8Array,
    post: MailboxPost,
    options?: CarrierRequestOptions,
  ): Promise<MailboxPostResult> {
    return this.#spending((token) =>
      this.#call({ kind: 'postToMailbox', value: { mailboxId, post, token } }, options),
    );
  }

  issuerKeys(options?: CarrierRequestOptions): Promise<IssuerKeys> {
    return this.#call({ kind: 'issuerKeys', value: {} }, options);
  }

  async issueTokens(
    handle: string,
    tokenRequests: readonly Uint8Array[],
    options?: CarrierRequestOptions,
  ): Promise<IssueResult> {
    const body = {
      handle,
      nonce: randomBytes(SIGNED_REQUEST_NONCE_LENGTH),
      signedAt: this.#clock(),
      tokenRequests,
    };
    const signature = await signWith(this.#signer(), signedRequestMessage('issueTokens', body));
    return this.#call({ kind: 'issueTokens', value: { body, signature } }, options);
  }

  async fetchMailbox(
    mailboxSecret: Uint8Array,
    afterSeq: number,
    limit = MAX_PAGE_ITEMS,
    options?: CarrierRequestOptions,
  ): Promise<readonly MailboxItem[]> {
    return this.#call(
      { kind: 'fetchMailbox', value: { mailboxSecret, afterSeq, limit: pageLimit(limit) } },
      options,
    );
  }

  async fetchMailboxes(
    cursors: readonly MailboxCursor[],
    limit = MAX_PAGE_ITEMS,
    options?: CarrierRequestOptions,
  ): Promise<readonly (readonly MailboxItem[])[]> {
    const mailboxes = cursors.map(({ mailboxSecret, afterSeq }) => ({ mailboxSecret, afterSeq }));
    const pages = await this.#call(
      { kind: 'fetchMailboxes', value: { mailboxes, limit: pageLimit(limit) } },
      options,
    );
    if (pages.length !== cursors.length) {
      throw new CarrierError('protocol', 'the service answered for another number of mailboxes');
    }
    return pages;
  }

  async deleteFromMailbox(
    mailboxSecret: Uint8Array,
    messageIds: readonly Uint8Array[],
    options?: CarrierRequestOptions,
  ): Promise<number> {
    const { deleted } = await this.#call(
      { kind: 'deleteFromMailbox', value: { mailboxSecret, messageIds } },
      options,
    );
    return deleted;
  }

  async subscribe(subscriptions: Subscriptions, options?: CarrierRequestOptions): Promise<void> {
    if (this.carrier.onPush === undefined) {
      throw new DeliveryError(
        'push_unavailable',
        `the ${this.carrier.kind} carrier cannot push: poll instead`,
      );
    }
    const copy = {
      routingIds: subscriptions.routingIds.map((id) => Uint8Array.from(id)),
      mailboxSecrets: subscriptions.mailboxSecrets.map((secret) => Uint8Array.from(secret)),
    };
    try {
      await this.#call({ kind: 'subscribe', value: copy }, options);
    } catch (error) {
      // Unreachable now: the set is sent again when the carrier comes back up.
      if (error instanceof CarrierError) this.#subscriptions = copy;
      throw error;
    }
    this.#subscriptions = copy;
  }

  onPush(listener: (push: DeliveryPush) => void): () => void {
    this.#pushListeners.add(listener);
    return () => this.#pushListeners.delete(listener);
  }

  /** Stops listening to the carrier (which stays open: close it yourself) and drops every push listener. */
  close(): void {
    for (const detach of this.#detach.splice(0)) detach();
    this.#pushListeners.clear();
  }

  /**
   * Runs `send` with a token from the source; if the service calls that token spent or bad (a key rotated
   * since it was fetched), reports it and tries once more with another.
   */
  async #spending<T>(send: (token: Uint8Array | undefined) => Promise<T>): Promise<T> {
    const token = await this.#tokens?.take();
    try {
      return await send(token);
    } catch (error) {
      if (
        token === undefined ||
        !(error instanceof DeliveryError) ||
        (error.reason !== 'token_spent' && error.reason !== 'bad_token')
      ) {
        throw error;
      }
      this.#tokens?.refused(token, error.reason);
      return send(await this.#tokens?.take());
    }
  }

  #signer(): IdentitySigner {
    if (this.#identity === undefined) {
      throw new ArgumentError('identity', 'this call is signed: construct the client with an identity');
    }
    return this.#identity;
  }

  async #call<K extends RequestKind>(
    request: DeliveryRequest & { readonly kind: K },
    options: CarrierRequestOptions = {},
  ): Promise<ResponseOf<K>> {
    const encoded = encodeRequest(request);
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const bytes = await this.carrier.request(encoded, {
      ...options,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      expectedResponseBytes: this.#expectedResponseBytes(request.kind, options.expectedResponseBytes),
    });
    this.#responseBytes.set(request.kind, bytes.length);
    let response: ReturnType<typeof decodeResponse>;
    try {
      response = decodeResponse(bytes);
    } catch (error) {
      if (error instanceof CodecError) {
        throw new CarrierError(
          'protocol',
          `the delivery service sent a malformed response (${error.reason})`,
        );
      }
      throw error;
    }
    if (response.kind === 'error') {
      throw new DeliveryError(
        response.value.code,
        `the delivery service refused the ${request.kind} request`,
      );
    }
    if (response.kind !== request.kind) {
      throw new CarrierError('protocol', `a ${response.kind} response answered a ${request.kind} request`);
    }
    return response.value as ResponseOf<K>;
  }

  /**
   * How long a response of `kind` will probably be: at least what such responses always are, and as long as
   * the last one of its kind (a poll that returned a full page will likely return another). Over the mixnet
   * this sets how many SURBs the request carries, so a large answer comes back in one round trip instead of
   * a `too_large` answer and a retry (a round trip of seconds over slow mixing rounds).
   */
  #expectedResponseBytes(kind: RequestKind, given: number | undefined): number {
    return Math.max(given ?? 0, LEAST_RESPONSE_BYTES[kind] ?? 0, this.#responseBytes.get(kind) ?? 0);
  }

  #receivePush(bytes: Uint8Array): void {
    let push: DeliveryPush;
    try {
      push = decodePush(bytes);
    } catch {
      return; // A malformed push carries nothing to act on; the next poll catches up.
    }
    this.#emit(push);
  }

  #emit(push: DeliveryPush): void {
    for (const listener of [...this.#pushListeners]) listener(push);
  }

  /**
   * A carrier that came back up has a new connection without subscriptions, and pushes may have been missed
   * while it was down: subscribe again, then tell the listeners to re-poll. A failed re-subscription is
   * retried at the next reconnect; until then the listeners still re-poll.
   */
  #statusChanged(up: boolean): void {
    const cameBack = up && !this.#wasUp;
    this.#wasUp = up;
    if (!cameBack) return;
    const { routingIds, mailboxSecrets } = this.#subscriptions;
    if (routingIds.length + mailboxSecrets.length === 0) {
      this.#emit({ type: 'resync' });
      return;
    }
    this.#call({ kind: 'subscribe', value: this.#subscriptions })
      .catch(() => undefined)
      .finally(() => this.#emit({ type: 'resync' }));
  }
}

function pageLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_ITEMS) {
    throw new ArgumentError('limit', `must be an integer from 1 to ${MAX_PAGE_ITEMS}`);
  }
  return limit;
}

/** Refuses an identity whose registration is not a valid binding of `handle` to the key returned with it. */
function checkIdentity(handle: string, info: IdentityInfo): void {
  let bound: boolean;
  try {
    const registration = verifyRegistration(info.registration, handle);
    bound = constantTimeEqual(
      encodeIdentityKey(registration.identityKey),
      encodeIdentityKey(info.identityKey),
    );
  } catch (error) {
    if (!(error instanceof CodecError || error instanceof DeliveryError)) throw error;
    bound = false;
  }
  if (!bound) {
    throw new DeliveryError(
      'bad_signature',
      'the service returned an identity its registration does not bind',
    );
  }
}
