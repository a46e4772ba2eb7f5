/**
 * The umbra client SDK (design brief §5, issue #4): a user's identity, contacts and conversations, kept in an
 * encrypted vault and carried to the delivery service by the carriers the privacy policy allows.
 *
 *     const client = await Client.open({ storage, passphrase, carriers: [mixnet, direct], privacy: 'mixnet' });
 *     await client.register('alice');
 *     const chat = await client.createConversation(['bob']);
 *     chat.on('message', (m) => …);
 *     await chat.send({ text: 'hello' });
 *
 * Every conversation is an MLS group (conversation.ts). The authentication service is real: a member's
 * credential must name a handle whose registration at the delivery service binds the leaf's signature key
 * (contacts.ts). Invitations arrive in the contact mailbox of the KeyPackage they use (identity.ts), which the
 * client reads all together (and watches through pushes on carriers that have them and that the policy
 * allows). The mixnet has no push, so the client also polls every
 * conversation's log on an interval.
 *
 * The SDK imports nothing from Node: storage and carriers are injected, so it bundles for browsers.
 */
import { constantTimeEqual } from '../bytes.ts';
import type { SafetyNumber } from '../crypto/safety-number.ts';
import { ArgumentError, ClientError, DeliveryError } from '../errors.ts';
import { type Group, Mls, type MlsCiphersuiteName } from '../mls/index.ts';
import {
  type DeliveryApi,
  type DeliveryPush,
  type IdentityInfo,
  MAX_SUBSCRIPTIONS,
  type MailboxItem,
  type PublishKeyPackagesRequest,
} from '../protocol/api.ts';
import type { Carrier, CarrierKind, PrivacyPolicy } from '../protocol/carrier.ts';
import { DeliveryClient } from '../protocol/client.ts';
import { decodeContactKeyPackage } from '../protocol/contact.ts';
import { MAX_FETCH_MAILBOXES } from '../protocol/messages.ts';
import { handleProblem } from '../protocol/primitives.ts';
import { type Contact, Contacts, type KeyChange, safetyNumberOf } from './contacts.ts';
import { type Claimed, Conversation, type ConversationContext, isTransient } from './conversation.ts';
import { Emitter } from './events.ts';
import {
  type ContactMailbox,
  contactMailboxes,
  dropKeyPackage,
  forgetKeyPackage,
  IdentitySlot,
  loadKeyPackage,
  newKeyPackage,
  noteKeyPackage,
  OwnIdentity,
  publishedKeyPackage,
  type StoredKeyPackage,
} from './identity.ts';
import { decodeInvitation } from './invitation.ts';
import { allowedCarriers, isPrivacyPolicy, type PrivacyState, privacyState, samePrivacy } from './privacy.ts';
import { type ClientStorage, type ClientVault, type Passphrase, RECORD } from './storage.ts';
import { type TokenIssuerApi, TokenWallet } from './tokens.ts';
import { Wellness } from './wellness/wellness.ts';

export interface ClientOptions {
  /** Where the vault lives: `directoryStorage(dataDir)` in Node, an IndexedDB storage in browsers. */
  readonly storage: ClientStorage;
  readonly passphrase: Passphrase;
  /** At most one per kind ('mixnet', 'direct'). The app owns them: `close()` does not close them. */
  readonly carriers: readonly Carrier[];
  /** The client's policy, and that of conversations without their own. Default 'mixnet' (fail closed). */
  readonly privacy?: PrivacyPolicy;
  /** How often logs and the mailbox are polled. Default 2000 ms. Pushes trigger reads at once. */
  readonly pollIntervalMs?: number;
  /** One-time KeyPackages kept published (refilled below half). Default 10. */
  readonly keyPackages?: number;
  /** The MLS ciphersuite of new groups and KeyPackages. Default MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519. */
  readonly ciphersuite?: MlsCiphersuiteName;
  /** Timeout of each delivery request. Default: the carrier's. */
  readonly requestTimeoutMs?: number;
}

/**
 * Where the client's registration stands: no identity yet; keys made and kept in the vault but the service
 * has not confirmed the handle and KeyPackages yet (a retry, reopening or the next poll finishes it); done.
 */
export type RegistrationState = 'none' | 'pending' | 'registered';

export interface ClientEvents {
  /** A pending registration finished (the handle): the client can start and join conversations. */
  registered: string;
  /** The privacy the client's policy gets from its carriers changed. */
  privacy: PrivacyState;
  /**
   * This client was added to a conversation by someone else; emitted before anything of it is read, so a
   * `message` listener attached here sees its first message.
   */
  conversation: Conversation;
  /** A contact's identity key changed at the delivery service: compare safety numbers again. */
  keychange: KeyChange;
  /** A background poll failed for a reason other than an unreachable carrier. */
  error: unknown;
}

export const DEFAULT_POLL_INTERVAL_MS = 2000;
export const DEFAULT_KEY_PACKAGES = 10;
/**
 * Reads of one conversation's log in flight at once. A read starts every poll interval even when the last
 * one has not come back (a mixnet round trip, ~0.8 s at 100 ms rounds, is longer than the web app's 500 ms
 * interval), so a conversation is read about every interval rather than every round trip or two.
 */
const LOG_READS_IN_FLIGHT = 2;
/**
 * Reads in flight at once over the mailbox and every conversation. Each takes places in the carrier's
 * constant-rate stream (a mixnet request is two packets or more), so with many conversations they leave
 * room for sends; the reads that waited longest start first.
 */
const READS_IN_FLIGHT = 4;
/** The mailbox's key among the reads (conversation IDs are hex). */
const MAILBOX = 'mailbox';
/**
 * How long a KeyPackage seen claimed keeps its keys and contact mailbox: the service's item lifetime (72 h,
 * docs/delivery.md), after which a Welcome posted for it would have expired unread anyway.
 */
const CLAIMED_KEY_PACKAGE_LIFETIME_MS = 72 * 60 * 60 * 1000;

interface Route {
  readonly carrier: Carrier;
  readonly api: DeliveryClient;
}

type State = 'open' | 'closed' | 'wiped';

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen <= 0)
    throw new ArgumentError(name, 'expected a positive integer');
  return chosen;
}

export class Client extends Emitter<ClientEvents> {
  readonly #vault: ClientVault;
  readonly #routes = new Map<CarrierKind, Route>();
  readonly #identity = new IdentitySlot();
  readonly #conversations = new Map<string, Conversation>();
  readonly #keyPackages: number;
  readonly #pollIntervalMs: number;
  readonly #detach: (() => void)[] = [];
  #contacts: Contacts | undefined;
  #mls: Mls | undefined;
  #wallet: TokenWallet | undefined;
  #wellness: Wellness | undefined;
  #policy: PrivacyPolicy;
  #privacy: PrivacyState;
  #state: State = 'open';
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Background work (polls, reads) in flight: close waits for it before the vault closes. */
  readonly #running = new Set<Promise<unknown>>();
  /** Reads per target (MAILBOX or a conversation ID): how many are in flight, and when the last started. */
  readonly #reads = new Map<string, { inFlight: number; started: number }>();
  #readsStarted = 0;
  #mailbox: Promise<unknown> = Promise.resolve();
  #registering: Promise<void> | undefined;
  /** The identity the service confirmed holds its handle, this session (its KeyPackages may still be on the way). */
  #bound: OwnIdentity | undefined;
  /** After a `rate_limited` sign-up: polls do not try it again before this time (`Date.now()`). */
  #registrationRetryAt = 0;
  #resubscribing = false;
  readonly #ciphersuite: MlsCiphersuiteName | undefined;

  private constructor(vault: ClientVault, options: ClientOptions) {
    super();
    this.#vault = vault;
    this.#policy = options.privacy ?? 'mixnet';
    this.#keyPackages = positiveInteger('keyPackages', options.keyPackages, DEFAULT_KEY_PACKAGES);
    this.#pollIntervalMs = positiveInteger(
      'pollIntervalMs',
      options.pollIntervalMs,
      DEFAULT_POLL_INTERVAL_MS,
    );
    this.#ciphersuite = options.ciphersuite;
    for (const carrier of options.carriers) {
      const api = new DeliveryClient({
        carrier,
        identity: this.#identity,
        tokens: {
          take: async () => this.#wallet?.take(),
          refused: (token, reason) => this.#wallet?.refused(token, reason),
        },
        ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
      });
      this.#routes.set(carrier.kind, { carrier, api });
    }
    this.#privacy = privacyState(this.#policy, this.#carriers());
  }

  /** Opens the vault (creating it the first time) and resumes every conversation in it. */
  static async open(options: ClientOptions): Promise<Client> {
    if (typeof options !== 'object' || options === null)
      throw new ArgumentError('options', 'expected an object');
    if (typeof options.storage?.open !== 'function') {
      throw new ArgumentError('storage', 'expected a ClientStorage (directoryStorage(dataDir) in Node)');
    }
    if (options.privacy !== undefined && !isPrivacyPolicy(options.privacy)) {
      throw new ArgumentError('privacy', "expected 'mixnet', 'mixnet-or-direct' or 'direct'");
    }
    if (!Array.isArray(options.carriers))
      throw new ArgumentError('carriers', 'expected an array of carriers');
    const kinds = new Set(options.carriers.map((carrier) => carrier.kind));
    if (kinds.size !== options.carriers.length) throw new ArgumentError('carriers', 'at most one per kind');
    const vault = await options.storage.open(options.passphrase);
    const client = new Client(vault, options);
    try {
      await client.#load();
    } catch (error) {
      await client.close();
      throw error;
    }
    client.#start();
    return client;
  }

  // ---- public API ----

  /** The handle this client registered or is registering (see `registration`), or undefined before `register`. */
  get handle(): string | undefined {
    return this.#identity.current?.handle;
  }

  get registration(): RegistrationState {
    const identity = this.#identity.current;
    if (identity === undefined) return 'none';
    return identity.registered ? 'registered' : 'pending';
  }

  get policy(): PrivacyPolicy {
    return this.#policy;
  }

  /** The privacy the client's policy gets now. */
  get privacy(): PrivacyState {
    return this.#privacy;
  }

  /** Changes the client's policy (conversations with their own keep theirs). */
  setPolicy(policy: PrivacyPolicy): void {
    if (!isPrivacyPolicy(policy)) throw new ArgumentError('policy', 'unknown privacy policy');
    this.#policy = policy;
    this.#statusChanged();
    this.#resubscribe();
  }

  /**
   * Creates this client's identity (hybrid Ed25519 + ML-DSA-65 key), keeps it in the vault, then binds
   * `handle` to it at the delivery service and publishes KeyPackages. `handle_taken` when another identity
   * holds the handle (the new keys are then dropped, so another handle can be chosen). `rate_limited` (its
   * `retryAfterMs` says when to try again) and any other failure leave the registration `pending` with the
   * keys kept: calling it again with the same handle, reopening the client or its next poll finishes it (the
   * service accepts the same key for a handle again). Another handle is `already_registered`.
   */
  async register(handle: string): Promise<void> {
    this.#assertOpen();
    const problem = handleProblem(handle);
    if (problem !== undefined) throw new ArgumentError('handle', problem);
    let identity = this.#identity.current;
    if (identity !== undefined && identity.handle !== handle) {
      throw new ClientError(
        'already_registered',
        identity.registered
          ? 'this client already has a handle'
          : 'this client is registering another handle: register it again to finish',
      );
    }
    const fresh = identity === undefined;
    if (identity === undefined) {
      identity = OwnIdentity.create(handle);
      // Kept before anything is sent: a request that fails may still have bound the handle to these keys.
      await identity.save(this.#vault);
      this.#identity.set(identity);
    }
    try {
      await this.#completeRegistration(identity, fresh);
    } catch (error) {
      if (error instanceof ClientError && error.reason === 'unreachable') {
        throw new ClientError(
          'unreachable',
          'the delivery service could not be reached; the keys are kept and trying again finishes the registration',
        );
      }
      throw error;
    }
  }

  /**
   * A new conversation with `handles` (others than this client), each added with one of its KeyPackages.
   * Resolves once the group exists and its adding commit won, or, when the network failed on the way, once
   * the group exists with the add kept (`pendingChanges`): it is made when the network returns.
   */
  async createConversation(
    handles: readonly string[],
    options: { readonly privacy?: PrivacyPolicy } = {},
  ): Promise<Conversation> {
    this.#assertOpen();
    if (!Array.isArray(handles) || handles.some((h) => typeof h !== 'string')) {
      throw new ArgumentError('handles', 'expected an array of handles');
    }
    if (options.privacy !== undefined && !isPrivacyPolicy(options.privacy)) {
      throw new ArgumentError('privacy', 'unknown privacy policy');
    }
    const identity = this.#requireIdentity();
    const mls = this.#requireMls();
    const others = [...new Set(handles)].filter((h) => h !== identity.handle);
    // No allowed carrier, or an unknown handle: fail before anything is created. The invitees' KeyPackages
    // are claimed first, over the carrier the conversation's policy allows: a claim answers each handle's
    // identity too, so no lookup round trip comes before it (over slow mixing rounds, seconds). A creation
    // that fails on one handle leaves the others' claimed KeyPackages spent.
    const policy = options.privacy ?? this.#policy;
    const claimed =
      others.length === 0
        ? []
        : await this.#claim(others, policy).catch((error: unknown) => {
            throw wrap(error);
          });
    const own = await mls.generateKeyPackage({
      identity: new TextEncoder().encode(identity.handle),
      signatureKeyPair: identity.keys.ed25519,
    });
    const group = await mls.createGroup({ keyPackage: own });
    own.secrets.wipe();
    // The add below takes the KeyPackages just claimed; any later claim of this conversation is its own.
    let preclaimed: readonly Claimed[] | undefined = claimed;
    const context: ConversationContext = {
      ...this.#context(),
      claim: (wanted, wantedPolicy) => {
        const ready = preclaimed;
        preclaimed = undefined;
        return ready === undefined
          ? this.#claim(wanted, wantedPolicy)
          : Promise.resolve(ready.filter((claim) => wanted.includes(claim.handle)));
      },
    };
    const conversation = await Conversation.start(context, group, options.privacy);
    this.#conversations.set(conversation.id, conversation);
    this.#resubscribe();
    if (others.length > 0) {
      await conversation.add(others).catch((error: unknown) => {
        // The add is kept (see Conversation.add); the conversation exists either way.
        const kept =
          error instanceof ClientError &&
          (error.reason === 'unreachable' || error.reason === 'privacy_unavailable');
        if (!kept) throw error;
      });
    }
    return conversation;
  }

  conversations(): Conversation[] {
    return [...this.#conversations.values()];
  }

  /**
   * The wellness layer (docs/wellness.md): raw entries and insights on this device, the care team, reminders
   * and check-ins. Its entries and insights work before registration; its messages need a registered handle.
   */
  get wellness(): Wellness {
    this.#assertOpen();
    if (this.#wellness === undefined) throw new ClientError('closed', 'the client is not open');
    return this.#wellness;
  }

  conversation(id: string): Conversation | undefined {
    return this.#conversations.get(id);
  }

  contacts(): Contact[] {
    return this.#requireContacts().list();
  }

  contact(handle: string): Contact | undefined {
    return this.#requireContacts().get(handle);
  }

  /**
   * The 60-digit safety number of this client and `handle`: the same on both devices when each has the
   * other's real identity key. Compare it out of band, then `markVerified`.
   */
  async safetyNumber(handle: string): Promise<SafetyNumber> {
    this.#assertOpen();
    const identity = this.#requireIdentity();
    const key = await this.#requireContacts()
      .resolve(handle)
      .catch((error: unknown) => {
        throw wrap(error);
      });
    if (key === undefined)
      throw new ClientError('unknown_contact', 'no identity is registered for this handle');
    return safetyNumberOf(
      { handle: identity.handle, identityKey: identity.publicKey },
      { handle, identityKey: key },
    );
  }

  /** Remembers that the user verified `handle`'s current key; a later key change clears it and warns. */
  async markVerified(handle: string, verified = true): Promise<void> {
    this.#assertOpen();
    const contacts = this.#requireContacts();
    if (contacts.get(handle) === undefined) await this.safetyNumber(handle);
    await contacts.markVerified(handle, verified);
  }

  /** Reads the mailbox and every conversation now, then sends what is queued. */
  async sync(): Promise<void> {
    this.#assertOpen();
    let failure: unknown;
    const failed = (error: unknown): void => {
      failure ??= error;
      this.#background(error);
    };
    if (await this.#ready(failed)) {
      // The mailbox first: the conversations it joins are read too.
      await this.#read(MAILBOX, () => this.#pollMailbox()).catch(failed);
      await Promise.all(
        this.#active().map((conversation) =>
          this.#read(conversation.id, () => conversation.poll()).catch(failed),
        ),
      );
    }
    if (failure !== undefined) throw wrap(failure);
  }

  /** Stops polling and closes the vault; queued messages stay in it. The carriers stay open (the app's). */
  async close(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    await this.#stop();
    await this.#vault.close();
  }

  /**
   * The panic button: destroys the vault (identity keys, group states, contacts, history, queue) beyond
   * recovery by any passphrase, and closes the client.
   */
  async wipe(): Promise<void> {
    if (this.#state === 'wiped') return;
    if (this.#state === 'closed') throw new ClientError('closed', 'the client is closed');
    this.#state = 'wiped';
    await this.#stop();
    await this.#vault.wipe();
  }

  // ---- internals ----

  #assertOpen(): void {
    if (this.#state !== 'open') throw new ClientError(this.#state, `the client is ${this.#state}`);
  }

  #requireIdentity(): OwnIdentity {
    const identity = this.#identity.current;
    if (identity === undefined) throw new ClientError('not_registered', 'register a handle first');
    if (!identity.registered) {
      throw new ClientError(
        'not_registered',
        'the registration has not finished: the service has not confirmed it',
      );
    }
    return identity;
  }

  #requireContacts(): Contacts {
    if (this.#contacts === undefined) throw new ClientError('closed', 'the client is not open');
    return this.#contacts;
  }

  #requireMls(): Mls {
    if (this.#mls === undefined) throw new ClientError('closed', 'the client is not open');
    return this.#mls;
  }

  #carriers(): Map<CarrierKind, Carrier> {
    return new Map([...this.#routes].map(([kind, route]) => [kind, route.carrier]));
  }

  /**
   * The token issuer as the wallet reaches it: over the carrier the client's policy allows now, issuance
   * signed by this identity. Undefined before the service bound the handle or while no carrier is allowed.
   */
  #tokenIssuer(): TokenIssuerApi | undefined {
    const identity = this.#identity.current;
    if (identity === undefined || this.#state !== 'open') return undefined;
    if (!identity.registered && this.#bound !== identity) return undefined;
    let api: DeliveryApi;
    try {
      api = this.#api(this.#policy);
    } catch {
      return undefined;
    }
    return {
      issuerKeys: () => api.issuerKeys(),
      issueTokens: (requests) => api.issueTokens(identity.handle, requests),
    };
  }

  /**
   * The delivery API over the carrier `policy` allows now. With none of them up, the most preferred one that
   * is connecting takes the request and holds it until it is up (within the request's deadline), as carriers
   * promise: a blip of the liveness checks, such as loops late on a starved phone, must not fail what the user
   * asked for. `privacy_unavailable` only when every allowed carrier is down or absent.
   */
  #api(policy: PrivacyPolicy): DeliveryApi {
    const carriers = this.#carriers();
    const state = privacyState(policy, carriers);
    const kind =
      state.carrier ??
      allowedCarriers(policy).find((allowed) => carriers.get(allowed)?.status().state === 'connecting');
    const route = kind === undefined ? undefined : this.#routes.get(kind);
    if (route === undefined) {
      throw new ClientError(
        'privacy_unavailable',
        `no carrier the ${policy} policy allows is up (${state.reason})`,
      );
    }
    return route.api;
  }

  async #lookup(handle: string): Promise<IdentityInfo | undefined> {
    const result = await this.#api(this.#policy).lookup(handle);
    return result.ok ? result : undefined;
  }

  async #claim(handles: readonly string[], policy: PrivacyPolicy): Promise<readonly Claimed[]> {
    const api = this.#api(policy);
    const contacts = this.#requireContacts();
    // Claimed together, as the lookups were; a refusal for one handle still fails the whole add.
    const results = await Promise.all(handles.map((handle) => api.claimKeyPackages(handle)));
    const claimed: Claimed[] = [];
    for (const [index, result] of results.entries()) {
      const handle = handles[index] as string;
      if (!result.ok) throw new ClientError('unknown_contact', 'a handle has no registered identity');
      await contacts.observe(handle, result.identityKey);
      // A package without a contact mailbox (or not well formed) could never receive its Welcome.
      const usable = result.packages.filter((keyPackage) => isContactKeyPackage(keyPackage.data));
      if (usable.length === 0) throw new ClientError('unknown_contact', 'a handle has no usable KeyPackage');
      for (const keyPackage of usable) claimed.push({ handle, keyPackage });
    }
    return claimed;
  }

  #context(): ConversationContext {
    const identity = this.#requireIdentity();
    return {
      vault: this.#vault,
      handle: identity.handle,
      clientPolicy: () => this.#policy,
      privacy: (policy) => privacyState(policy, this.#carriers()),
      api: (policy) => this.#api(policy),
      claim: (handles, policy) => this.#claim(handles, policy),
      routingChanged: () => this.#resubscribe(),
      clock: Date.now,
    };
  }

  async #load(): Promise<void> {
    const identity = await OwnIdentity.load(this.#vault);
    this.#identity.set(identity);
    this.#wallet = await TokenWallet.load(this.#vault, { issuer: () => this.#tokenIssuer() });
    this.#contacts = await Contacts.load(
      this.#vault,
      (handle) => this.#lookup(handle),
      (change) => this.emit('keychange', change),
    );
    this.#mls = new Mls({
      authenticationService: this.#contacts.authenticationService(),
      ...(this.#ciphersuite === undefined ? {} : { defaultCiphersuite: this.#ciphersuite }),
    });
    // A registration still pending has no conversations yet; the first poll finishes it.
    if (identity?.registered) await this.#loadConversations();
    // After the conversations, before the first poll: it watches them all from their first message.
    this.#wellness = await Wellness.load({
      vault: this.#vault,
      handle: () => this.handle,
      conversation: (id) => this.conversation(id),
      conversations: () => this.conversations(),
      createConversation: (handles, privacy) => this.createConversation(handles, { privacy }),
      onConversation: (listener) => this.on('conversation', listener),
      clock: Date.now,
    });
  }

  async #loadConversations(): Promise<void> {
    const mls = this.#requireMls();
    const restore = (bytes: Uint8Array): Promise<Group> => mls.restoreGroup(bytes);
    const context = this.#context();
    for (const name of await this.#vault.list()) {
      if (!name.startsWith(RECORD.conversationPrefix)) continue;
      const conversation = await Conversation.load(
        context,
        name.slice(RECORD.conversationPrefix.length),
        restore,
      );
      if (conversation !== undefined) this.#conversations.set(conversation.id, conversation);
    }
  }

  #start(): void {
    for (const { carrier, api } of this.#routes.values()) {
      this.#detach.push(carrier.onStatus(() => this.#statusChanged()));
      this.#detach.push(api.onPush((push) => this.#pushed(push)));
    }
    this.#timer = setInterval(() => this.#tick(), this.#pollIntervalMs);
    // In Node, polling alone must not keep a process alive; browsers return a number here.
    if (typeof this.#timer === 'object' && 'unref' in this.#timer) this.#timer.unref();
    this.#resubscribe();
    this.#tick();
  }

  async #stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const detach of this.#detach.splice(0)) detach();
    // Work in flight may start more (a joined conversation's first read) before it ends.
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
    await this.#wallet?.settled();
    await this.#wellness?.settled();
    await this.#contacts?.flush().catch(() => undefined);
    for (const conversation of this.#conversations.values()) conversation.detach();
    for (const { api } of this.#routes.values()) api.close();
    this.removeAllListeners();
  }

  #statusChanged(): void {
    if (this.#state !== 'open') return;
    const next = privacyState(this.#policy, this.#carriers());
    const changed = !samePrivacy(next, this.#privacy);
    const cameUp = next.level !== 'none' && this.#privacy.level === 'none';
    this.#privacy = next;
    if (changed) this.emit('privacy', next);
    // Any carrier coming up may unblock a conversation (with its own policy): read and send now.
    if (changed || cameUp) this.#tick();
  }

  #pushed(push: DeliveryPush): void {
    if (this.#state !== 'open') return;
    if (push.type === 'log') {
      const conversation = this.conversations().find((c) => {
        const routingId = c.routingId;
        return (
          routingId !== undefined &&
          routingId.length === push.routingId.length &&
          constantTimeEqual(routingId, push.routingId)
        );
      });
      if (conversation === undefined) return;
      this.#read(conversation.id, () => conversation.poll()).catch((error: unknown) =>
        this.#background(error),
      );
    } else if (push.type === 'mailbox') {
      this.#read(MAILBOX, () => this.#pollMailbox()).catch((error: unknown) => this.#background(error));
    } else {
      this.#tick();
    }
  }

  #background(error: unknown): void {
    if (this.#state === 'open' && !isTransient(error)) this.emit('error', error);
  }

  /** A poll: starts the reads that are due (see #startReads). */
  #tick(): void {
    this.#track(this.#startReads()).catch((error: unknown) => this.#background(error));
  }

  /**
   * Starts a read of the mailbox and of each active conversation, unless that target has its reads in
   * flight already (LOG_READS_IN_FLIGHT a conversation, one the mailbox) or READS_IN_FLIGHT are out in all;
   * targets whose last read started longest ago go first. Reads also post what is queued (Conversation.poll).
   */
  async #startReads(): Promise<void> {
    if (!(await this.#ready((error) => this.#background(error)))) return;
    if (this.#wallet !== undefined) void this.#track(this.#wallet.maintain());
    const targets = [
      { key: MAILBOX, limit: 1, read: () => this.#pollMailbox() },
      ...this.#active().map((c) => ({ key: c.id, limit: LOG_READS_IN_FLIGHT, read: () => c.poll() })),
    ];
    const started = (key: string) => this.#reads.get(key)?.started ?? 0;
    targets.sort((a, b) => started(a.key) - started(b.key));
    let inFlight = 0;
    for (const reads of this.#reads.values()) inFlight += reads.inFlight;
    for (const { key, limit, read } of targets) {
      if (inFlight >= READS_IN_FLIGHT) return;
      if ((this.#reads.get(key)?.inFlight ?? 0) >= limit) continue;
      inFlight++;
      this.#read(key, read).catch((error: unknown) => this.#background(error));
    }
  }

  /**
   * Whether the client is open and registered; a pending registration is finished first (`failed` if not),
   * unless the service asked to wait (`rate_limited`) and that time has not come.
   */
  async #ready(failed: (error: unknown) => void): Promise<boolean> {
    const identity = this.#identity.current;
    if (this.#state !== 'open' || identity === undefined) return false;
    if (!identity.registered && Date.now() >= this.#registrationRetryAt) {
      await this.#completeRegistration(identity, false).catch(failed);
    }
    return this.#state === 'open' && identity.registered;
  }

  #active(): Conversation[] {
    return this.conversations().filter((conversation) => conversation.status === 'active');
  }

  /** One read of `key` (MAILBOX or a conversation ID), counted while it is in flight. */
  #read(key: string, operation: () => Promise<void>): Promise<void> {
    const reads = this.#reads.get(key) ?? { inFlight: 0, started: 0 };
    this.#reads.set(key, reads);
    reads.inFlight++;
    reads.started = ++this.#readsStarted;
    return this.#track(
      operation().finally(() => {
        reads.inFlight--;
      }),
    );
  }

  /** Keeps `work` among what close waits for until it settles. */
  #track<T>(work: Promise<T>): Promise<T> {
    this.#running.add(work);
    const forget = (): void => {
      this.#running.delete(work);
    };
    work.then(forget, forget);
    return work;
  }

  /** Joins the conversations this client was invited to; one reader at a time. */
  #pollMailbox(): Promise<void> {
    const run = this.#mailbox.then(() => this.#readMailbox());
    this.#mailbox = run.catch(() => undefined);
    return run;
  }

  async #readMailbox(): Promise<void> {
    const identity = this.#identity.current;
    if (identity === undefined || this.#state !== 'open') return;
    const api = this.#api(this.#policy);
    const mailboxes = await contactMailboxes(this.#vault, identity);
    const joined: Conversation[] = [];
    let usedOneTime = false;
    let failure: unknown;
    for (let start = 0; start < mailboxes.length && failure === undefined; start += MAX_FETCH_MAILBOXES) {
      const batch = mailboxes.slice(start, start + MAX_FETCH_MAILBOXES);
      const pages = await api.fetchMailboxes(
        batch.map((mailbox) => ({ mailboxSecret: mailbox.secret, afterSeq: mailbox.cursor })),
      );
      for (const [index, items] of pages.entries()) {
        if (items.length === 0) continue;
        const outcome = await this.#readContact(batch[index] as ContactMailbox, items);
        joined.push(...outcome.joined);
        usedOneTime ||= outcome.usedOneTime;
        if (outcome.failure !== undefined) {
          failure = outcome.failure;
          break;
        }
      }
    }
    if (joined.length > 0) this.#resubscribe();
    for (const conversation of joined) {
      this.#read(conversation.id, () => conversation.poll()).catch((error: unknown) =>
        this.#background(error),
      );
    }
    if (failure !== undefined) throw failure;
    if (usedOneTime) await this.#refill(identity, this.#keyPackages / 2);
  }

  /**
   * Accepts the invitations read from one KeyPackage's contact mailbox, moving its cursor past each, then
   * deletes them there. Only an invitation for that very KeyPackage is opened: anything else is junk.
   */
  async #readContact(
    mailbox: ContactMailbox,
    items: readonly MailboxItem[],
  ): Promise<{ joined: Conversation[]; usedOneTime: boolean; failure: unknown }> {
    const joined: Conversation[] = [];
    const read: MailboxItem[] = [];
    let usedOneTime = false;
    let failure: unknown;
    for (const item of items) {
      try {
        const accepted = await this.#accept(item.blob, mailbox.uploadId);
        if (accepted !== undefined) {
          joined.push(accepted.conversation);
          usedOneTime ||= !accepted.lastResort;
        }
      } catch (error) {
        if (isTransient(error)) {
          failure = error; // Keep the cursor here: try this invitation again later.
          break;
        }
      }
      read.push(item);
      await noteKeyPackage(this.#vault, mailbox.uploadId, { cursor: item.seq });
    }
    if (read.length > 0) {
      await this.#api(this.#policy).deleteFromMailbox(
        mailbox.secret,
        read.map((item) => item.messageId),
      );
    }
    return { joined, usedOneTime, failure };
  }

  async #accept(
    blob: Uint8Array,
    uploadId: Uint8Array,
  ): Promise<{ conversation: Conversation; lastResort: boolean } | undefined> {
    let invitation: ReturnType<typeof decodeInvitation>;
    try {
      invitation = decodeInvitation(blob);
    } catch {
      return undefined;
    }
    if (!constantTimeEqual(invitation.keyPackageId, uploadId)) return undefined;
    const stored: StoredKeyPackage | undefined = await loadKeyPackage(this.#vault, invitation.keyPackageId);
    if (stored === undefined) return undefined;
    const result = await this.#requireMls().joinGroup({ welcome: invitation.welcome, keyPackage: stored });
    if (result.kind !== 'joined') {
      if (result.reason === 'credential_unverifiable') {
        throw new ClientError('unreachable', 'could not check the members of an invitation; will retry');
      }
      return undefined;
    }
    const previous = this.#conversations.get(Conversation.idOf(result.group));
    if (previous?.status === 'active') return undefined; // A Welcome delivered twice.
    previous?.detach();
    const conversation = await Conversation.start(this.#context(), result.group, undefined);
    this.#conversations.set(conversation.id, conversation);
    // Announced in the same turn as it becomes readable: a poll may read it before this invitation's
    // cleanup (deleting it from the mailbox, a round trip) is done, and a listener attached on this event
    // must not miss the messages that read brings.
    this.emit('conversation', conversation);
    if (!stored.lastResort) await dropKeyPackage(this.#vault, stored);
    return { conversation, lastResort: stored.lastResort };
  }

  /**
   * Binds the identity's handle at the delivery service (again: the same key is accepted) and tops up its
   * KeyPackages, then marks the registration finished. One run at a time: register() and the poll share it.
   * `fresh` keys have published nothing yet, so their KeyPackages go out without counting first.
   */
  #completeRegistration(identity: OwnIdentity, fresh: boolean): Promise<void> {
    this.#registering ??= this.#bind(identity, fresh).finally(() => {
      this.#registering = undefined;
    });
    return this.#registering;
  }

  async #bind(identity: OwnIdentity, fresh: boolean): Promise<void> {
    // A new identity's first KeyPackages go with the registration: a sign-up is one round trip. The token
    // issuer's keys are fetched beside it (anonymously), so that tokens take one round trip once it is done.
    const first = fresh ? await this.#newKeyPackages(identity, this.#keyPackages, true) : undefined;
    const api = this.#api(this.#policy);
    this.#wallet?.prepareKeys(() => api.issuerKeys());
    const result = await api.register(identity.handle, first).catch((error: unknown) => {
      throw wrap(error);
    });
    if (!result.ok && result.error === 'rate_limited') {
      // Nothing was stored now, but an earlier attempt may have bound the handle to these keys: they are
      // kept and the registration stays pending, finished by a later call, open or poll (polls wait the delay).
      this.#registrationRetryAt = Date.now() + result.retryAfterMs;
      throw new ClientError(
        'rate_limited',
        `the delivery service is refusing sign-ups for now; the keys are kept: try again in ${Math.ceil(result.retryAfterMs / 1000)} s to finish the registration`,
        result.retryAfterMs,
      );
    }
    if (!result.ok) {
      // Another identity holds the handle: keys that never held it are of no use, so the client forgets
      // them and may register another handle.
      if (!identity.registered && this.#identity.current === identity) {
        this.#identity.set(undefined);
        await this.#vault.delete(RECORD.identity);
        for (const upload of [...(first?.oneTime ?? []), ...(first?.lastResort ? [first.lastResort] : [])]) {
          await forgetKeyPackage(this.#vault, upload.id);
        }
      }
      throw new ClientError('handle_taken', 'another identity holds this handle');
    }
    await this.#requireContacts().observe(identity.handle, identity.publicKey);
    // Published with the registration, or to publish now (on their own, a refusal says why).
    const publishing =
      first === undefined
        ? this.#refill(identity, this.#keyPackages)
        : result.published?.ok
          ? Promise.resolve()
          : this.#upload(first);
    this.#bound = identity;
    await publishing;
    if (!identity.registered) {
      // State and event change together; should the write fail, the next open repeats these idempotent steps.
      identity.registered = true;
      this.emit('registered', identity.handle);
      await identity.save(this.#vault);
    }
    this.#resubscribe();
    // The token wallet's first fill starts now, not beside the registration's answer: blinding a batch of
    // token requests holds the thread for about 0.3 s in a browser, which would come before the sign-up is
    // done. A new user's first conversation claims KeyPackages with these tokens; the issuer's keys were
    // fetched beside the registration, so the fill is one round trip from here.
    if (this.#wallet !== undefined) void this.#track(this.#wallet.maintain());
  }

  /** Generates and stores `count` one-time KeyPackages (and a new last resort if asked), ready to upload. */
  async #newKeyPackages(
    identity: OwnIdentity,
    count: number,
    lastResort: boolean,
  ): Promise<PublishKeyPackagesRequest> {
    const mls = this.#requireMls();
    const oneTime: StoredKeyPackage[] = [];
    for (let i = 0; i < count; i++) oneTime.push(await newKeyPackage(mls, identity, this.#vault, false));
    const resort = lastResort ? await newKeyPackage(mls, identity, this.#vault, true) : undefined;
    const upload = (stored: StoredKeyPackage) => ({
      id: stored.uploadId,
      data: publishedKeyPackage(identity, stored),
    });
    return {
      handle: identity.handle,
      deviceId: identity.deviceId,
      oneTime: oneTime.map(upload),
      ...(resort === undefined ? {} : { lastResort: upload(resort) }),
    };
  }

  async #upload(request: PublishKeyPackagesRequest): Promise<void> {
    const result = await this.#api(this.#policy)
      .publishKeyPackages(request)
      .catch((error: unknown) => {
        throw wrap(error);
      });
    if (!result.ok) {
      throw new ClientError(result.error, `the delivery service refused the KeyPackages (${result.error})`);
    }
  }

  /** Tops the one-time KeyPackages back up to `keyPackages` once fewer than `below` are left. */
  async #refill(identity: OwnIdentity, below: number): Promise<void> {
    const count = await this.#api(this.#policy)
      .countKeyPackages(identity.handle, identity.deviceId)
      .catch((error: unknown) => {
        throw wrap(error);
      });
    await this.#forgetClaimed(identity, count.oneTime);
    if (count.oneTime < below || !count.lastResort) {
      await this.#upload(
        await this.#newKeyPackages(identity, this.#keyPackages - count.oneTime, !count.lastResort),
      );
    }
  }

  /**
   * The service hands one-time KeyPackages out oldest first, so all but the newest `unclaimed` ones were
   * claimed. A claimed one whose Welcome has not come within the mailbox lifetime never will (the item would
   * have expired): its keys and contact mailbox are dropped, so the mailboxes read stay few.
   */
  async #forgetClaimed(identity: OwnIdentity, unclaimed: number): Promise<void> {
    const oneTime = (await contactMailboxes(this.#vault, identity)).filter((m) => !m.lastResort);
    const claimed = oneTime.slice(0, Math.max(0, oneTime.length - unclaimed));
    const now = Date.now();
    for (const mailbox of claimed) {
      if (mailbox.claimedSeenAt === undefined) {
        await noteKeyPackage(this.#vault, mailbox.uploadId, { claimedSeenAt: now });
      } else if (now - mailbox.claimedSeenAt > CLAIMED_KEY_PACKAGE_LIFETIME_MS) {
        await forgetKeyPackage(this.#vault, mailbox.uploadId);
      }
    }
  }

  /**
   * Pushes go where the policy lets requests go: each push-capable carrier watches the mailbox if the
   * client's policy allows that carrier, and each conversation's routing ID if the conversation's does.
   */
  #resubscribe(): void {
    if (this.#resubscribing || this.#state !== 'open') return;
    this.#resubscribing = true;
    queueMicrotask(() => {
      this.#resubscribing = false;
      const identity = this.#identity.current;
      if (identity === undefined || this.#state !== 'open') return;
      for (const [kind, { carrier, api }] of this.#routes) {
        if (carrier.onPush === undefined || carrier.status().state !== 'up') continue;
        const routingIds = this.conversations().flatMap((c) =>
          c.status === 'active' && c.routingId !== undefined && allowedCarriers(c.policy).includes(kind)
            ? [c.routingId]
            : [],
        );
        const watched = allowedCarriers(this.#policy).includes(kind);
        void (watched ? contactMailboxes(this.#vault, identity) : Promise.resolve([]))
          .then((mailboxes) =>
            api.subscribe({
              routingIds: routingIds.slice(0, MAX_SUBSCRIPTIONS),
              mailboxSecrets: mailboxes.slice(-MAX_SUBSCRIPTIONS).map((mailbox) => mailbox.secret),
            }),
          )
          .catch(() => undefined);
      }
    });
  }
}

function isContactKeyPackage(data: Uint8Array): boolean {
  try {
    decodeContactKeyPackage(data);
    return true;
  } catch {
    return false;
  }
}

/** Failures of the delivery exchange as the SDK reports them. */
function wrap(error: unknown): unknown {
  if (error instanceof ClientError) return error;
  if (isTransient(error)) {
    return new ClientError('unreachable', 'the delivery service could not be reached');
  }
  if (error instanceof DeliveryError) {
    return new ClientError('rejected', `the delivery service refused the request (${error.reason})`);
  }
  return error;
}
