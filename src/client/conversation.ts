/**
 * A conversation: one MLS group (RFC 9420, src/mls) and its log at the delivery service (design brief §3).
 *
 * Each epoch has its own routing ID (an MLS exporter value), so the service cannot link a group's epochs.
 * The conversation reads its current routing ID's log from a cursor, in the service's order: application
 * messages are decrypted and emitted once each, in that order; the first commit of the routing ID is the one
 * the service accepted, so it is merged and reading moves to the next epoch's routing ID from sequence 0.
 *
 * Commits (add, remove, key update, committing a member's leave proposal) race at the service: the first
 * commit posted to a routing ID wins, later ones get `stale_epoch`. The loser catches up (merges the winner)
 * and commits again in the new epoch, with its request re-checked against the new membership. A change the
 * user asked for is kept in the record until a commit carrying it wins, so a carrier failure only delays it:
 * every poll takes it up again. An own commit whose post went unanswered may still reach the service (a slow
 * mixnet delivers it after the carrier gave up), so it is never replaced before its fate is known: the same
 * bytes are posted again under the same message ID, which the service answers as a duplicate if it has them
 * and as `stale_epoch` if another commit won. Welcomes go to the invitees' mailboxes only after their commit
 * was merged. Messages posted after a commit closed their routing ID are re-encrypted in the new epoch and
 * posted again, under the same message ID.
 *
 * Durability: before anything leaves the client, the state that produced it is in the vault (the group
 * first, then this record); events are emitted only after the state that reflects them is saved, so a crash
 * can repeat work (re-posting the same blob, which the service de-duplicates) but never emit a message twice
 * or re-use an MLS key. Operations on one conversation run one at a time; only reads wait for the network
 * outside that turn (their pages are processed in it), so a send does not wait behind a read's round trip.
 */
import { backend as platformBackend } from '#default-backend';
import { fromBase64Url, fromUtf8, toBase64Url, toHex } from '../bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { ArgumentError, CarrierError, ClientError, CodecError, DeliveryError } from '../errors.ts';
import type { Group, Member, CommitRequest as MlsCommitRequest, StagedCommit } from '../mls/index.ts';
import {
  type ClaimedKeyPackage,
  type DeliveryApi,
  type LogEntry,
  type LogPage,
  type LogPostResult,
  MAX_PAGE_ITEMS,
} from '../protocol/api.ts';
import type { PrivacyPolicy } from '../protocol/carrier.ts';
import { decodeContactKeyPackage } from '../protocol/contact.ts';
import {
  type Content,
  checkContent,
  decodeEnvelope,
  encodeEnvelope,
  isText,
  MESSAGE_ID_LENGTH,
} from './content.ts';
import { Emitter } from './events.ts';
import { encodeInvitation } from './invitation.ts';
import type { PrivacyState } from './privacy.ts';
import { type ClientVault, getJson, putJson, RECORD } from './storage.ts';
import type { WellnessItem } from './wellness/items.ts';

/** An own message: waiting for a carrier, handed to one, stored by the service; or refused for good. */
export type DeliveryState = 'queued' | 'sent' | 'acknowledged' | 'failed';

export interface Message {
  /** The sender's message ID (base64url), the same on every member's device. */
  readonly id: string;
  readonly conversationId: string;
  readonly sender: string;
  readonly own: boolean;
  readonly content: Content;
  /** The sender's clock (display only). */
  readonly sentAt: number;
  /** This device's clock when it read the message; undefined for own messages. */
  readonly receivedAt: number | undefined;
  /** Own messages: their delivery state. Received ones: 'received'. */
  readonly state: DeliveryState | 'received';
}

export interface MembershipChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** The member whose commit made the change (undefined when unknown). */
  readonly by: string | undefined;
}

export type ConversationStatus = 'active' | 'removed' | 'left';

export interface ConversationEvents {
  /** A message from another member: in the service's order, exactly once. */
  message: Message;
  /** An own message changed delivery state. */
  status: Message;
  members: MembershipChange;
  /** This client was removed from the group: nothing sent afterwards can be read. */
  removed: { readonly by: string | undefined };
  /** The group moved to a new epoch: keys from `exportKey` change (derive them again). */
  epoch: { readonly epoch: bigint };
  error: unknown;
}

/** A key `Conversation.exportKey` derived, with the epoch it belongs to. */
export interface ExportedKey {
  readonly epoch: bigint;
  readonly key: Uint8Array;
}

/** `exportKey`'s length when none is given: a 256-bit key. */
export const EXPORTED_KEY_LENGTH = 32;

/** What a conversation needs from its client. */
export interface ConversationContext {
  readonly vault: ClientVault;
  readonly handle: string;
  readonly clientPolicy: () => PrivacyPolicy;
  readonly privacy: (policy: PrivacyPolicy) => PrivacyState;
  /** The delivery API over the carrier `policy` allows now; throws `ClientError('privacy_unavailable')`. */
  readonly api: (policy: PrivacyPolicy) => DeliveryApi;
  /** One KeyPackage per device of each handle, authenticated against the handle's identity. */
  readonly claim: (handles: readonly string[], policy: PrivacyPolicy) => Promise<readonly Claimed[]>;
  /** The routing IDs to watch changed (a new epoch, a conversation ended). */
  readonly routingChanged: () => void;
  readonly clock: () => number;
}

/** A KeyPackage claimed for `handle`. */
export interface Claimed {
  readonly handle: string;
  readonly keyPackage: ClaimedKeyPackage;
}

interface StoredMessage {
  readonly id: string;
  readonly sender: string;
  readonly own: boolean;
  /** A chat message's text; '' for a wellness item. */
  readonly text: string;
  /** A wellness item (absent from chat messages and from records written before the wellness layer). */
  readonly wellness?: WellnessItem;
  readonly sentAt: number;
  readonly receivedAt: number | null;
  state: DeliveryState | 'received';
}

/** An own message not yet acknowledged; once encrypted, the exact blob and where it goes. */
interface Outgoing {
  readonly id: string;
  routingId: string | null;
  blob: string | null;
}

/** One Welcome and the invitees still to receive it (one per claimed KeyPackage). */
interface PendingWelcome {
  /** The commit it belongs to: delivered only once that commit is merged. */
  readonly commitId: string;
  readonly welcome: string;
  invitees: { readonly mailboxId: string; readonly keyPackageId: string }[];
  ready: boolean;
}

/** A KeyPackage claimed for an invitee, kept with its change so that a retry does not claim another. */
interface StoredClaim {
  readonly handle: string;
  readonly deviceId: string;
  readonly id: string;
  readonly data: string;
  readonly lastResort: boolean;
}

/** A membership or key change the user asked for, kept until a commit carrying it wins an epoch. */
interface PendingChange {
  readonly id: string;
  readonly kind: 'add' | 'remove' | 'update';
  readonly handles: readonly string[];
  /** For 'add': the KeyPackages claimed, once claimed. */
  claimed: StoredClaim[] | null;
}

interface ConversationRecord {
  readonly id: string;
  policy: PrivacyPolicy | null;
  status: ConversationStatus;
  routingId: string | null;
  cursor: number;
  history: StoredMessage[];
  outgoing: Outgoing[];
  welcomes: PendingWelcome[];
  /** Oldest first. */
  changes: PendingChange[];
  /** Once removed or left: who removed this client (null if unknown or it left), and the members then. */
  ended: { readonly by: string | null; readonly members: readonly string[] } | null;
}

/** Messages kept in the history of a conversation, newest last. */
export const HISTORY_LIMIT = 1000;
/** A member commits a key update before its routing ID holds this many posts (the service keeps 100). */
export const ROTATE_AFTER_POSTS = 64;
/** Welcome posts in flight at once when inviting many members. */
const WELCOMES_IN_FLIGHT = 8;
/** Races a commit may lose in a row before the change is given up with a reason. */
const COMMIT_ATTEMPTS = 10;

type Outcome = 'read' | 'moved' | 'stalled';

type CommitRequest =
  | { readonly kind: 'add'; readonly claimed: readonly Claimed[] }
  | { readonly kind: 'remove'; readonly handles: readonly string[] }
  | { readonly kind: 'update' }
  | { readonly kind: 'proposals' };

function storeClaim({ handle, keyPackage }: Claimed): StoredClaim {
  return {
    handle,
    deviceId: toBase64Url(keyPackage.deviceId),
    id: toBase64Url(keyPackage.id),
    data: toBase64Url(keyPackage.data),
    lastResort: keyPackage.lastResort,
  };
}

function loadClaim(stored: StoredClaim): Claimed {
  return {
    handle: stored.handle,
    keyPackage: {
      deviceId: fromBase64Url(stored.deviceId),
      id: fromBase64Url(stored.id),
      data: fromBase64Url(stored.data),
      lastResort: stored.lastResort,
    },
  };
}

function handleOf(member: Member | undefined): string | undefined {
  if (member === undefined || member.credential.kind !== 'basic') return undefined;
  try {
    return fromUtf8(member.credential.identity);
  } catch {
    return undefined;
  }
}

function shortHash(bytes: Uint8Array): Uint8Array {
  return platformBackend.sha256(bytes).slice(0, MESSAGE_ID_LENGTH);
}

/** How a message's content is kept in the record: text, or a wellness item beside an empty text. */
function storedContent(content: Content): Pick<StoredMessage, 'text' | 'wellness'> {
  return isText(content) ? { text: content.text } : { text: '', wellness: content.wellness };
}

function contentOf(stored: StoredMessage): Content {
  return stored.wellness === undefined ? { text: stored.text } : { wellness: stored.wellness };
}

export function isTransient(error: unknown): boolean {
  return (
    error instanceof CarrierError ||
    (error instanceof DeliveryError && error.reason === 'internal') ||
    (error instanceof ClientError &&
      (error.reason === 'privacy_unavailable' || error.reason === 'unreachable'))
  );
}

/**
 * A refusal that retrying cannot change: the service rejected the request itself (not its database), or the
 * carrier cannot carry something that large. The message is dropped from the queue instead of blocking it.
 */
function refusesThisMessage(error: unknown): error is DeliveryError | CarrierError {
  return (
    (error instanceof DeliveryError && error.reason !== 'internal') ||
    (error instanceof CarrierError && error.reason === 'too_large')
  );
}

/** A carrier failure as the SDK reports it; anything else unchanged. */
function asClientError(error: unknown): unknown {
  if (error instanceof CarrierError || (error instanceof DeliveryError && error.reason === 'internal')) {
    return new ClientError('unreachable', `the delivery service could not be reached (${error.reason})`);
  }
  return error;
}

function refusal(result: Exclude<LogPostResult, { ok: true }>): ClientError {
  switch (result.error) {
    case 'quota_exceeded':
      return new ClientError(
        'quota_exceeded',
        `the conversation's log is full (${result.limit}); wait for older messages to expire`,
      );
    case 'too_large':
      return new ClientError('too_large', `the message exceeds the service's ${result.maxBytes} bytes`);
    case 'stale_epoch':
      return new ClientError('rejected', 'the epoch kept changing');
  }
}

export class Conversation extends Emitter<ConversationEvents> {
  readonly id: string;
  readonly #context: ConversationContext;
  #group: Group | undefined;
  readonly #record: ConversationRecord;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #waiting = new Map<string, { resolve: (m: Message) => void; reject: (e: unknown) => void }>();
  /** Callers of add/remove/updateKeys waiting for their change, by change ID. */
  readonly #changeWaiting = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();
  #autoCommitScheduled = false;

  private constructor(context: ConversationContext, group: Group | undefined, record: ConversationRecord) {
    super();
    this.#context = context;
    this.#group = group;
    this.#record = record;
    this.id = record.id;
  }

  /** The conversation ID of a group: its MLS group ID in hex. */
  static idOf(group: Group): string {
    return toHex(group.groupId);
  }

  /** A conversation for a group this client just created or joined (already saved by the caller). */
  static async start(
    context: ConversationContext,
    group: Group,
    policy: PrivacyPolicy | undefined,
  ): Promise<Conversation> {
    const record: ConversationRecord = {
      id: Conversation.idOf(group),
      policy: policy ?? null,
      status: 'active',
      routingId: toBase64Url(await group.routingId()),
      cursor: 0,
      history: [],
      outgoing: [],
      welcomes: [],
      changes: [],
      ended: null,
    };
    const conversation = new Conversation(context, group, record);
    await conversation.#save();
    return conversation;
  }

  static async load(
    context: ConversationContext,
    id: string,
    restore: (bytes: Uint8Array) => Promise<Group>,
  ): Promise<Conversation | undefined> {
    const stored = await getJson<
      Omit<ConversationRecord, 'changes' | 'ended'> & Partial<Pick<ConversationRecord, 'changes' | 'ended'>>
    >(context.vault, `${RECORD.conversationPrefix}${id}`);
    if (stored === undefined) return undefined;
    // Records written before changes and endings were kept have neither.
    const record: ConversationRecord = {
      ...stored,
      changes: stored.changes ?? [],
      ended: stored.ended ?? null,
    };
    const saved = await context.vault.get(`${RECORD.groupPrefix}${id}`);
    const group = saved === undefined ? undefined : await restore(saved);
    return new Conversation(context, group, record);
  }

  // ---- public API ----

  get status(): ConversationStatus {
    return this.#record.status;
  }

  /**
   * The handles of the current members, this client included, sorted. Once this client was removed or left:
   * the members at that moment (it no longer learns of changes).
   */
  get members(): readonly string[] {
    if (this.#group === undefined) return this.#record.ended?.members ?? [];
    const handles = new Set(this.#group.members.flatMap((m) => handleOf(m) ?? []));
    return [...handles].sort();
  }

  /** Who removed this client from the conversation (undefined while a member, after leaving, or unknown). */
  get removedBy(): string | undefined {
    return this.#record.ended?.by ?? undefined;
  }

  /** The MLS epoch the conversation is in. */
  get epoch(): bigint | undefined {
    return this.#group?.epoch;
  }

  /** The current epoch's routing ID at the delivery service (what the service sees; not secret from it). */
  get routingId(): Uint8Array | undefined {
    return this.#record.routingId === null ? undefined : fromBase64Url(this.#record.routingId);
  }

  /** This conversation's policy: its own if set, else the client's. */
  get policy(): PrivacyPolicy {
    return this.#record.policy ?? this.#context.clientPolicy();
  }

  get privacy(): PrivacyState {
    return this.#context.privacy(this.policy);
  }

  /** Sets this conversation's own policy (undefined: follow the client's). */
  async setPolicy(policy: PrivacyPolicy | undefined): Promise<void> {
    await this.#exclusive(async () => {
      this.#record.policy = policy ?? null;
      await this.#save();
    });
    this.#context.routingChanged(); // Pushes follow the policy too.
  }

  /** The stored messages, oldest first (at most `HISTORY_LIMIT`). */
  history(): Message[] {
    return this.#record.history.map((stored) => this.#message(stored));
  }

  /**
   * Sends `content`: { text }, or { wellness } (client.wellness sends those, with its checks). Resolves once
   * the delivery service stored it ('acknowledged'). When no carrier the policy allows is up it rejects with `ClientError('privacy_unavailable')` and keeps the
   * message queued: it is sent, once, when a carrier returns (watch the `status` event). A carrier failing
   * mid-way rejects with `ClientError('unreachable')`, the message likewise kept. `quota_exceeded` and
   * `too_large` are final: the message is marked 'failed'.
   */
  async send(content: Content): Promise<Message> {
    const checked = checkContent(content);
    this.#assertActive();
    const id = toBase64Url(randomBytes(MESSAGE_ID_LENGTH));
    const stored: StoredMessage = {
      id,
      sender: this.#context.handle,
      own: true,
      ...storedContent(checked),
      sentAt: this.#context.clock(),
      receivedAt: null,
      state: 'queued',
    };
    const acknowledged = new Promise<Message>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
    });
    // Handled here so that a rejection nobody awaits (the caller got privacy_unavailable) is not unhandled.
    acknowledged.catch(() => undefined);
    await this.#exclusive(async () => {
      this.#pushHistory(stored);
      this.#record.outgoing.push({ id, routingId: null, blob: null });
      await this.#save();
    });
    if (this.privacy.level === 'none') {
      this.#waiting.delete(id);
      throw new ClientError(
        'privacy_unavailable',
        `no carrier the ${this.policy} policy allows is up (${this.privacy.reason}); the message is queued`,
      );
    }
    await this.flush().catch((error: unknown) => this.#failWaiting(asClientError(error)));
    return acknowledged;
  }

  /**
   * Adds members by handle (one commit); resolves once the commit won its epoch and Welcomes were sent.
   * Like `send`, a carrier failure rejects with `ClientError('unreachable')` and keeps the change: it is
   * committed when a carrier returns (watch the `members` event). Final refusals reject and drop it.
   */
  add(handles: readonly string[]): Promise<void> {
    return this.#change('add', handles);
  }

  /** Removes members by handle (one commit), kept like `add`'s. They cannot read anything sent afterwards. */
  remove(handles: readonly string[]): Promise<void> {
    return this.#change('remove', handles);
  }

  /** A key update (an empty commit with a full UpdatePath): post-compromise security for this member. */
  updateKeys(): Promise<void> {
    return this.#change('update', []);
  }

  /** Membership and key changes asked for and not yet committed, oldest first. */
  get pendingChanges(): readonly {
    readonly kind: 'add' | 'remove' | 'update';
    readonly handles: readonly string[];
  }[] {
    return this.#record.changes.map(({ kind, handles }) => ({ kind, handles }));
  }

  /**
   * Leaves: posts a proposal to remove this member (RFC 9420 §12.1.3: a member cannot commit its own
   * removal), which the other members commit, then forgets the group's keys here.
   */
  async leave(): Promise<void> {
    await this.#exclusive(async () => {
      this.#assertActive();
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
        await this.#catchUp();
        await this.#settlePending();
        const group = this.#activeGroup();
        const proposal = await group.proposeLeave();
        await this.#saveGroup();
        const result = await this.#post('application', proposal, shortHash(proposal));
        if (result.ok) {
          await this.#end('left', null);
          return;
        }
        if (result.error !== 'stale_epoch') throw refusal(result);
      }
      throw new ClientError('rejected', 'the epoch kept changing');
    }).catch((error: unknown) => {
      throw asClientError(error);
    });
  }

  /** Reads the log now (the client also does it on pushes and on its polling interval). */
  sync(): Promise<void> {
    return this.#readLog((process) => this.#exclusive(process));
  }

  // ---- driven by the client ----

  /** Posts queued messages, oldest first. Stops (keeping them) when no allowed carrier is reachable. */
  flush(): Promise<void> {
    return this.#exclusive(() => this.#flush());
  }

  /**
   * Reads the log, settles an own commit left in flight, commits the changes still asked for, then posts
   * what is queued and commits proposals left by members who leave. Polls may overlap: each fetch of the
   * log waits for the network outside the conversation's lock (a round trip over the mixnet), so a send
   * never waits for one, and the client can keep a read in flight while the previous one comes back.
   */
  async poll(): Promise<void> {
    await this.#readLog((process) => this.#exclusive(process));
    await this.#exclusive(async () => {
      await this.#settlePending();
      await this.#applyChanges();
      await this.#deliverWelcomes();
      await this.#flush();
    });
    this.#scheduleAutoCommit();
  }

  /** Rejects waiting `send`s and changes (the client is closing); both stay queued in the vault. */
  detach(): void {
    this.#failWaiting(new ClientError('closed', 'the client was closed; the message stays queued'));
    const closed = new ClientError('closed', 'the client was closed; the change stays queued');
    for (const waiting of this.#changeWaiting.values()) waiting.reject(closed);
    this.#changeWaiting.clear();
    this.removeAllListeners();
  }

  // ---- internals ----

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation, operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * A key for the application bound to this conversation's current epoch: every member in this epoch derives
   * the same key for the same label (and context), nobody else can, and it changes with every epoch (the
   * `epoch` event says when) — e.g. a trading app's per-trade key, labelled with the trade. The MLS exporter
   * (RFC 9420 §8.5) under an application label apart from umbra's own (`Group.exportSecret`: limits on the
   * label, context and length there, `ArgumentError` past them). `ClientError('not_a_member')` once this
   * client was removed or left. The key is the caller's to keep or wipe; umbra keeps no copy.
   */
  async exportKey(
    label: string,
    options: { readonly context?: Uint8Array; readonly length?: number } = {},
  ): Promise<ExportedKey> {
    const group = this.#activeGroup();
    const epoch = group.epoch;
    const key = await group.exportSecret(
      label,
      options.context ?? new Uint8Array(0),
      options.length ?? EXPORTED_KEY_LENGTH,
    );
    return { epoch, key };
  }

  #assertActive(): void {
    if (this.#record.status !== 'active' || this.#group === undefined) {
      throw new ClientError('not_a_member', `this conversation is ${this.#record.status}`);
    }
  }

  #activeGroup(): Group {
    this.#assertActive();
    if (this.#group === undefined) throw new ClientError('not_a_member', 'no group state');
    return this.#group;
  }

  #api(): DeliveryApi {
    return this.#context.api(this.policy);
  }

  #message(stored: StoredMessage): Message {
    return {
      id: stored.id,
      conversationId: this.id,
      sender: stored.sender,
      own: stored.own,
      content: contentOf(stored),
      sentAt: stored.sentAt,
      receivedAt: stored.receivedAt ?? undefined,
      state: stored.state,
    };
  }

  #pushHistory(stored: StoredMessage): void {
    this.#record.history.push(stored);
    const excess = this.#record.history.length - HISTORY_LIMIT;
    if (excess > 0) this.#record.history.splice(0, excess);
  }

  #failWaiting(error: unknown): void {
    for (const [id, waiting] of this.#waiting) {
      this.#waiting.delete(id);
      waiting.reject(error);
    }
  }

  async #saveGroup(): Promise<void> {
    if (this.#group !== undefined) {
      await this.#context.vault.put(`${RECORD.groupPrefix}${this.id}`, this.#group.save());
    }
  }

  async #save(): Promise<void> {
    await this.#saveGroup();
    await putJson(this.#context.vault, `${RECORD.conversationPrefix}${this.id}`, this.#record);
  }

  async #post(kind: 'commit' | 'application', message: Uint8Array, messageId: Uint8Array) {
    const group = this.#activeGroup();
    const routingId = await group.routingId();
    const outerKey = await group.outerKey();
    const blob = outerKey.seal(message, { routingId, kind });
    outerKey.wipe();
    return this.#api().postToLog(routingId, { kind, messageId, blob, bucket: blob.length });
  }

  /** Reads the log until nothing is left, following every merged commit, by one holding the lock. */
  #catchUp(): Promise<void> {
    return this.#readLog((process) => process());
  }

  /**
   * Reads the current routing ID's log until nothing is left, following every merged commit. Each page is
   * fetched without the lock and processed through `guard` (which takes the lock, or runs it directly when
   * the caller holds it already).
   */
  async #readLog(guard: (process: () => Promise<boolean>) => Promise<boolean>): Promise<void> {
    for (;;) {
      const { status, routingId, cursor } = this.#record;
      if (status !== 'active' || routingId === null) return;
      const page = await this.#api().fetchLog(fromBase64Url(routingId), cursor);
      if (!(await guard(() => this.#readPage(routingId, page)))) return;
    }
  }

  /**
   * Processes a page fetched from `routingId` after an earlier cursor. Reads overlap, so what another read
   * processed meanwhile is skipped (entries up to the cursor), and a page of a routing ID the conversation
   * has left since is not read at all. Whether there may be more to read: a commit moved reading to the next
   * routing ID (or the page was of a routing ID left since), or the page was full.
   */
  async #readPage(routingId: string, page: LogPage): Promise<boolean> {
    if (this.#record.status !== 'active') return false;
    if (this.#record.routingId !== routingId) return true;
    const entries = page.entries.filter((entry) => entry.seq > this.#record.cursor);
    const full = page.entries.length >= MAX_PAGE_ITEMS;
    if (entries.length === 0) return full;
    const events: (() => void)[] = [];
    let outcome: Outcome = 'read';
    for (const entry of entries) {
      outcome = await this.#process(entry, events);
      if (outcome !== 'read') break;
    }
    await this.#afterRead(events, outcome);
    if (outcome === 'stalled') {
      throw new ClientError('unreachable', 'could not check a credential in a commit; will retry');
    }
    return outcome === 'moved' || full;
  }

  /** Saves what a read changed, then tells the app and, after a merged commit, the client. */
  async #afterRead(events: readonly (() => void)[], outcome: Outcome): Promise<void> {
    await this.#save();
    for (const emit of events) emit();
    if (outcome === 'moved') this.#context.routingChanged();
  }

  /**
   * One log entry: read (or skipped), `moved` to another routing ID (a commit merged, or the conversation
   * ended), or `stalled` before a commit that cannot be checked yet (the cursor stays before it).
   */
  async #process(entry: LogEntry, events: (() => void)[]): Promise<Outcome> {
    const group = this.#activeGroup();
    this.#record.cursor = entry.seq;
    if (entry.kind === 'welcome') return 'read';
    const messageId = toBase64Url(entry.messageId);
    const own = this.#record.history.find((m) => m.own && m.id === messageId);
    if (own !== undefined) {
      this.#acknowledge(own, events);
      return 'read';
    }
    const routingId = await group.routingId();
    const outerKey = await group.outerKey();
    let inner: Uint8Array;
    try {
      inner = outerKey.open(entry.blob, { routingId, kind: entry.kind });
    } catch {
      return 'read'; // Altered or misfiled: the service (or someone with the routing ID) posted garbage.
    } finally {
      outerKey.wipe();
    }
    let verified: Awaited<ReturnType<Group['verify']>>;
    try {
      verified = await group.verify(inner);
    } catch (error) {
      if (error instanceof CodecError) return 'read';
      throw error;
    }
    switch (verified.kind) {
      case 'application':
        this.#receive(verified.sender, verified.data, events);
        return 'read';
      case 'proposal':
        return 'read'; // Kept by the group for the next commit (see #scheduleAutoCommit).
      case 'commit':
        await this.#merge(verified.staged, events);
        return 'moved';
      case 'rejected':
        if (verified.reason === 'credential_unverifiable' && entry.kind === 'commit') {
          // The winning commit must be merged: stop before it and try again at the next poll.
          this.#record.cursor = entry.seq - 1;
          return 'stalled';
        }
        return 'read'; // Replays, other epochs' messages, forgeries: nothing to read.
    }
  }

  #receive(sender: Member, data: Uint8Array, events: (() => void)[]): void {
    let envelope: ReturnType<typeof decodeEnvelope>;
    try {
      envelope = decodeEnvelope(data);
    } catch {
      return;
    }
    const id = toBase64Url(envelope.id);
    const handle = handleOf(sender) ?? '';
    if (this.#record.history.some((m) => m.id === id && m.sender === handle)) return;
    const stored: StoredMessage = {
      id,
      sender: handle,
      own: false,
      ...storedContent(envelope.content),
      sentAt: envelope.sentAt,
      receivedAt: this.#context.clock(),
      state: 'received',
    };
    this.#pushHistory(stored);
    const message = this.#message(stored);
    events.push(() => this.emit('message', message));
  }

  #acknowledge(stored: StoredMessage, events: (() => void)[]): void {
    this.#record.outgoing = this.#record.outgoing.filter((o) => o.id !== stored.id);
    if (stored.state === 'acknowledged') return;
    stored.state = 'acknowledged';
    const message = this.#message(stored);
    events.push(() => {
      this.emit('status', message);
      const waiting = this.#waiting.get(stored.id);
      this.#waiting.delete(stored.id);
      waiting?.resolve(message);
    });
  }

  /** Merges the epoch's accepted commit: the conversation moves to the next routing ID, or ends here. */
  async #merge(staged: StagedCommit, events: (() => void)[]): Promise<void> {
    const group = this.#activeGroup();
    const commitId = toBase64Url(shortHash(staged.commit));
    const result = await group.merge(staged);
    // Welcomes are delivered only for the commit that won; those of a losing own commit are dropped.
    this.#record.welcomes = this.#record.welcomes.filter((w) => w.commitId === commitId || w.ready);
    for (const welcome of this.#record.welcomes) welcome.ready = true;
    const change: MembershipChange = {
      added: staged.added.flatMap((m) => handleOf(m) ?? []),
      removed: staged.removed.flatMap((m) => handleOf(m) ?? []),
      by: handleOf(staged.committer),
    };
    if (change.added.length + change.removed.length > 0) events.push(() => this.emit('members', change));
    if (result.kind === 'removed') {
      await this.#end('removed', change.by ?? null);
      events.push(() => this.emit('removed', { by: change.by }));
      return;
    }
    // Own messages posted in the old epoch and refused there are re-encrypted in the new one.
    for (const outgoing of this.#record.outgoing) {
      outgoing.routingId = null;
      outgoing.blob = null;
    }
    this.#record.routingId = toBase64Url(await group.routingId());
    this.#record.cursor = 0;
    const epoch = group.epoch;
    events.push(() => this.emit('epoch', { epoch }));
  }

  /** The group is over for this client: its keys are deleted; the history stays. */
  async #end(status: 'removed' | 'left', by: string | null): Promise<void> {
    this.#record.ended = { by, members: this.members };
    this.#record.status = status;
    this.#record.routingId = null;
    this.#record.welcomes = [];
    for (const outgoing of this.#record.outgoing) {
      const stored = this.#record.history.find((m) => m.id === outgoing.id);
      if (stored !== undefined) stored.state = 'failed';
    }
    this.#record.outgoing = [];
    const ended = new ClientError('not_a_member', `this conversation is ${status}`);
    for (const change of this.#record.changes) this.#settleChange(change.id, ended);
    this.#record.changes = [];
    this.#group = undefined;
    await this.#context.vault.delete(`${RECORD.groupPrefix}${this.id}`);
    await putJson(this.#context.vault, `${RECORD.conversationPrefix}${this.id}`, this.#record);
    this.#failWaiting(new ClientError('not_a_member', `this conversation is ${status}`));
    this.#context.routingChanged();
  }

  async #flush(): Promise<void> {
    while (this.#record.status === 'active') {
      const outgoing = this.#record.outgoing[0];
      if (outgoing === undefined) return;
      const stored = this.#record.history.find((m) => m.id === outgoing.id);
      if (stored === undefined) {
        this.#record.outgoing.shift();
        continue;
      }
      if (outgoing.blob === null || outgoing.routingId === null) {
        if (this.#record.cursor >= ROTATE_AFTER_POSTS) await this.#commit({ kind: 'update' });
        await this.#encrypt(outgoing, stored);
      }
      const { routingId, blob } = outgoing;
      if (routingId === null || blob === null) continue;
      const api = this.#api();
      // 'sent' once the carrier says the post left this client (the gateway read its packets), not before.
      const onSent = (): void => {
        if (stored.state !== 'queued') return;
        stored.state = 'sent';
        this.emit('status', this.#message(stored));
      };
      const bytes = fromBase64Url(blob);
      let result: LogPostResult;
      try {
        result = await api.postToLog(
          fromBase64Url(routingId),
          {
            kind: 'application',
            messageId: fromBase64Url(outgoing.id),
            blob: bytes,
            bucket: bytes.length,
          },
          { onSent },
        );
      } catch (error) {
        if (!refusesThisMessage(error)) throw error;
        const reason = error.reason === 'too_large' ? 'too_large' : 'rejected';
        await this.#fail(
          stored,
          new ClientError(reason, `the delivery service refused the message (${error.reason})`),
        );
        continue;
      }
      if (result.ok) {
        const events: (() => void)[] = [];
        this.#acknowledge(stored, events);
        await this.#save();
        for (const emit of events) emit();
      } else if (result.error === 'stale_epoch') {
        await this.#catchUp(); // Merging the winner clears the blob: re-encrypted in the new epoch.
      } else {
        await this.#fail(stored, refusal(result));
      }
    }
  }

  /** Gives up on the oldest queued message: it will never be accepted as it is. */
  async #fail(stored: StoredMessage, error: ClientError): Promise<void> {
    this.#record.outgoing.shift();
    stored.state = 'failed';
    await this.#save();
    this.emit('status', this.#message(stored));
    const waiting = this.#waiting.get(stored.id);
    this.#waiting.delete(stored.id);
    waiting?.reject(error);
  }

  /** Encrypts and seals an own message in the current epoch and saves the ratchet before it is posted. */
  async #encrypt(outgoing: Outgoing, stored: StoredMessage): Promise<void> {
    const group = this.#activeGroup();
    const data = encodeEnvelope({
      id: fromBase64Url(stored.id),
      sentAt: stored.sentAt,
      content: contentOf(stored),
    });
    const routingId = await group.routingId();
    const outerKey = await group.outerKey();
    const sealed = outerKey.seal(await group.encrypt(data), { routingId, kind: 'application' });
    outerKey.wipe();
    outgoing.routingId = toBase64Url(routingId);
    outgoing.blob = toBase64Url(sealed);
    await this.#save();
  }

  /** Records a change, then commits it (and any older ones) now; see `add` for what the promise means. */
  async #change(kind: PendingChange['kind'], handles: readonly string[]): Promise<void> {
    if (!Array.isArray(handles) || handles.some((h) => typeof h !== 'string')) {
      throw new ArgumentError('handles', 'expected an array of handles');
    }
    const id = toBase64Url(randomBytes(MESSAGE_ID_LENGTH));
    const done = new Promise<void>((resolve, reject) => this.#changeWaiting.set(id, { resolve, reject }));
    done.catch(() => undefined);
    try {
      await this.#exclusive(async () => {
        this.#assertActive();
        this.#record.changes.push({ id, kind, handles: [...new Set(handles)], claimed: null });
        await this.#save();
        await this.#applyChanges();
      });
    } catch (error) {
      // A carrier failure: the change stays recorded and the next poll takes it up again.
      this.#changeWaiting.delete(id);
      throw asClientError(error);
    }
    return done;
  }

  /** Resolves (or rejects with `error`) whoever waits for change `id`; unwaited final errors are emitted. */
  #settleChange(id: string, error?: unknown): void {
    const waiting = this.#changeWaiting.get(id);
    this.#changeWaiting.delete(id);
    if (error === undefined) waiting?.resolve();
    else if (waiting !== undefined) waiting.reject(error);
    else this.emit('error', error);
  }

  /**
   * Commits the recorded changes, oldest first. A carrier failure stops here, keeping them; a final refusal
   * drops that change (its caller, or the `error` event, gets the reason) and goes on with the next.
   */
  async #applyChanges(): Promise<void> {
    for (let change = this.#record.changes[0]; change !== undefined; change = this.#record.changes[0]) {
      if (this.#record.status !== 'active') return;
      let failure: unknown;
      try {
        await this.#commit(await this.#requestOf(change));
      } catch (error) {
        if (isTransient(error)) throw error;
        failure = asClientError(error);
      }
      this.#record.changes = this.#record.changes.filter((c) => c !== change);
      await this.#save();
      this.#settleChange(change.id, failure);
    }
  }

  /** The commit request of a change; an add claims its invitees' KeyPackages the first time. */
  async #requestOf(change: PendingChange): Promise<CommitRequest> {
    switch (change.kind) {
      case 'update':
        return { kind: 'update' };
      case 'remove':
        return { kind: 'remove', handles: change.handles };
      case 'add': {
        if (change.claimed === null) {
          const present = new Set(this.members);
          const absent = change.handles.filter((handle) => !present.has(handle));
          const claimed = absent.length === 0 ? [] : await this.#context.claim(absent, this.policy);
          change.claimed = claimed.map(storeClaim);
          await this.#save();
        }
        return { kind: 'add', claimed: change.claimed.map(loadClaim) };
      }
    }
  }

  /**
   * Learns the fate of an own commit staged in an earlier attempt whose post went unanswered: posts the same
   * commit again (the service answers a duplicate with its sequence number, so posting twice is harmless).
   * Stored: it is read back and merged. Another commit won: merging the winner discards it.
   */
  async #settlePending(): Promise<void> {
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
      const staged = this.#group?.pendingCommit;
      if (staged === undefined || this.#record.status !== 'active') return;
      const posted = await this.#post('commit', staged.commit, shortHash(staged.commit));
      if (!posted.ok && posted.error !== 'stale_epoch') {
        this.#activeGroup().discard(staged);
        this.#dropWelcomesOf(staged);
        await this.#save();
        throw refusal(posted);
      }
      await this.#catchUp();
      if (posted.ok) await this.#deliverWelcomes();
    }
    throw new ClientError('rejected', 'the epoch kept changing');
  }

  #dropWelcomesOf(staged: StagedCommit): void {
    const commitId = toBase64Url(shortHash(staged.commit));
    this.#record.welcomes = this.#record.welcomes.filter((w) => w.commitId !== commitId);
  }

  /** Makes one commit win an epoch, rebuilding it in each new epoch after losing a race. */
  async #commit(request: CommitRequest): Promise<void> {
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
      // The first attempt is built on the state as last read: membership changes only by commits, and one
      // that won meanwhile makes the post `stale_epoch`, after which the log is read and the commit rebuilt.
      // Over slow mixing rounds that saves a round trip (seconds) per change when nobody races.
      if (attempt > 0) await this.#catchUp();
      await this.#settlePending();
      const group = this.#activeGroup();
      const plan = this.#plan(group, request);
      if (plan === undefined) return;
      const result = await group.commit(plan.request);
      if (result.kind === 'rejected') {
        throw new ClientError('rejected', `the commit was refused: ${result.reason}`);
      }
      const { staged } = result;
      const commitId = shortHash(staged.commit);
      if (staged.welcome !== undefined) {
        this.#record.welcomes.push({
          commitId: toBase64Url(commitId),
          welcome: toBase64Url(staged.welcome),
          invitees: plan.invitees.map(({ keyPackage }) => ({
            mailboxId: toBase64Url(decodeContactKeyPackage(keyPackage.data).contactMailboxId),
            keyPackageId: toBase64Url(keyPackage.id),
          })),
          ready: false,
        });
      }
      // Saved before it leaves: if the post goes unanswered, the next attempt settles this very commit.
      await this.#save();
      const posted = await this.#post('commit', staged.commit, commitId);
      if (posted.ok) {
        await this.#mergeStored(staged, posted);
        await this.#deliverWelcomes();
        return;
      }
      if (posted.error !== 'stale_epoch') {
        group.discard(staged);
        this.#dropWelcomesOf(staged);
        await this.#save();
        throw refusal(posted);
      }
      // Lost the race: the next catch-up merges the winner, which discards this commit and its Welcome.
    }
    throw new ClientError('rejected', 'the commit lost its epoch too many times');
  }

  /**
   * Merges an own commit the service stored, which makes it the epoch's winner. When it went in right after
   * the last entry read, nothing else of the old epoch is left to read: it is merged as reading it back would,
   * a round trip sooner. Otherwise the log is read up to it (other members' messages of the old epoch first)
   * and it is merged there (recognised as our own).
   */
  async #mergeStored(staged: StagedCommit, posted: Extract<LogPostResult, { ok: true }>): Promise<void> {
    if (posted.status === 'held' || posted.seq !== this.#record.cursor + 1) {
      await this.#catchUp();
      return;
    }
    this.#record.cursor = posted.seq;
    const events: (() => void)[] = [];
    await this.#merge(staged, events);
    await this.#afterRead(events, 'moved');
  }

  /** What to commit in the current epoch for `request`, or undefined when there is nothing left to do. */
  #plan(
    group: Group,
    request: CommitRequest,
  ): { request: MlsCommitRequest; invitees: readonly Claimed[] } | undefined {
    switch (request.kind) {
      case 'update':
        return { request: {}, invitees: [] };
      case 'proposals':
        return group.pendingProposals.length > 0 ? { request: {}, invitees: [] } : undefined;
      case 'add': {
        const present = new Set(this.members);
        const invitees = request.claimed.filter((claim) => !present.has(claim.handle));
        if (invitees.length === 0) return undefined;
        const add = invitees.map((claim) => decodeContactKeyPackage(claim.keyPackage.data).keyPackage);
        return { request: { add }, invitees };
      }
      case 'remove': {
        const targets = new Set(request.handles);
        if (targets.has(this.#context.handle)) {
          throw new ClientError('rejected', 'use leave() to remove yourself');
        }
        const remove = group.members
          .filter((m) => targets.has(handleOf(m) ?? ''))
          .map((m) => ({ signaturePublicKey: m.signaturePublicKey }));
        return remove.length > 0 ? { request: { remove }, invitees: [] } : undefined;
      }
    }
  }

  /**
   * Posts each merged commit's Welcome to its invitees' mailboxes, several at a time, and saves once at the
   * end: after a crash the posts are repeated under the same message IDs, which the service de-duplicates.
   * A full mailbox or a refused post is not retried (retrying cannot help): that invitee must be invited again.
   */
  async #deliverWelcomes(): Promise<void> {
    const ready = this.#record.welcomes.filter((w) => w.ready);
    if (ready.length === 0) return;
    const api = this.#api();
    for (const pending of ready) {
      const welcome = fromBase64Url(pending.welcome);
      const queue = [...pending.invitees];
      const post = async () => {
        for (let invitee = queue.shift(); invitee !== undefined; invitee = queue.shift()) {
          const keyPackageId = fromBase64Url(invitee.keyPackageId);
          const blob = encodeInvitation({ keyPackageId, welcome });
          await api.postToMailbox(fromBase64Url(invitee.mailboxId), {
            messageId: shortHash(keyPackageId),
            blob,
            bucket: blob.length,
          });
        }
      };
      await Promise.all(Array.from({ length: WELCOMES_IN_FLIGHT }, post));
      this.#record.welcomes = this.#record.welcomes.filter((w) => w !== pending);
    }
    await this.#save();
  }

  /** Commits proposals members left (a leave) once this conversation is idle; the first committer wins. */
  #scheduleAutoCommit(): void {
    const group = this.#group;
    if (this.#autoCommitScheduled || group === undefined || group.pendingProposals.length === 0) return;
    this.#autoCommitScheduled = true;
    this.#exclusive(() => this.#commit({ kind: 'proposals' }))
      .catch((error: unknown) => {
        if (!isTransient(error)) this.emit('error', error);
      })
      .finally(() => {
        this.#autoCommitScheduled = false;
      });
  }
}
