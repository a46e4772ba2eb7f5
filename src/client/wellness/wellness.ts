/**
 * The wellness layer's API (issue 16), reached as `client.wellness`. docs/wellness.md is its guide.
 *
 * - On the device: raw entries in the vault (entries.ts) and the insights computed from them (insights.ts).
 *   Neither is ever put in a message.
 * - The owner's care team: supporters invited by handle with a role (roles.ts). Each tier is one MLS
 *   conversation of the owner's, created on the first invitation to it; changing a role across tiers removes
 *   the supporter from one and adds them to the other, revoking removes them (an MLS remove: nothing posted
 *   afterwards can be read by them). `share()` posts one message per tier holding only the Observations
 *   (fhir.ts) that tier may see, so the filtering happens here, before encryption.
 * - Coaches, trainers and clinicians schedule reminders and check-ins in their tier's conversation; the
 *   owner answers check-ins there, and the answers feed adherence.
 * - Transport: every wellness item travels only over the mixnet. The tier conversations' policy is pinned to
 *   'mixnet' (their commits and reads too), and sending an item first checks that the mixnet carrier is up:
 *   if not, nothing is sent or queued and the call fails with `ClientError('privacy_unavailable')` and the
 *   carrier's reason, whatever the client's own policy allows.
 * - Received items are checked against the care team before anything is kept: see `#accept`. Items that do
 *   not fit are dropped, counted by reason (`dropped`) and never shown.
 *
 *     wellness/care     the team, the tier conversations, reminders and check-ins received, what supporters
 *                       see of the owners they support (JSON)
 */
import type { CommunicationRequest, Observation, Task } from '@medplum/fhirtypes';
import { toHex } from '../../bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { ArgumentError, ClientError, WellnessError, type WellnessErrorReason } from '../../errors.ts';
import type { PrivacyPolicy } from '../../protocol/carrier.ts';
import { handleProblem } from '../../protocol/primitives.ts';
import { isText } from '../content.ts';
import { type Conversation, isTransient, type Message } from '../conversation.ts';
import { Emitter } from '../events.ts';
import { type ClientVault, getJson, putJson } from '../storage.ts';
import {
  checkDate,
  checkEntry,
  dateOf,
  dayNumber,
  type EntryRange,
  EntryStore,
  type NewEntry,
  type RawEntry,
  utcDate,
} from './entries.ts';
import { answeredTask, checkInTask, insightObservations, kindOf, reminderRequest } from './fhir.ts';
import { computeInsights, type Insights } from './insights.ts';
import { MAX_ITEM_TEXT, type Roster, type WellnessItem } from './items.ts';
import {
  isSupporterRole,
  maySchedule,
  type SupporterRole,
  TIERS,
  type Tier,
  tierOf,
  VISIBLE_TO,
} from './roles.ts';

const CARE_RECORD = 'wellness/care';
/** The insights' longest window: entries older than this are not read to compute them. */
const WINDOW_DAYS = 30;

/** What the wellness layer needs from its client (client.ts provides it). */
export interface WellnessHost {
  readonly vault: ClientVault;
  /** This client's handle, once it has one. */
  handle(): string | undefined;
  conversation(id: string): Conversation | undefined;
  conversations(): Conversation[];
  createConversation(handles: readonly string[], privacy: PrivacyPolicy): Promise<Conversation>;
  /** Calls `listener` with each conversation someone else adds this client to, before it is read. */
  onConversation(listener: (conversation: Conversation) => void): () => void;
  clock(): number;
}

export interface Supporter {
  readonly handle: string;
  readonly role: SupporterRole;
  readonly tier: Tier;
  readonly status: 'active' | 'revoked';
  /** When the current role was given (this device's clock). */
  readonly since: number;
}

/** What `share()` did for one tier that has active supporters. */
export interface ShareResult {
  readonly tier: Tier;
  readonly sent: boolean;
  readonly observations: number;
  /** Why it was not sent. */
  readonly reason?: string;
}

/** An owner as one of their supporters sees them: the role they gave, and the last insights shared. */
export interface SharedWithMe {
  readonly conversationId: string;
  readonly owner: string;
  readonly tier: Tier;
  readonly role: SupporterRole | undefined;
  /** False once the owner revoked this supporter or moved them to another tier's conversation. */
  readonly active: boolean;
  readonly asOf: string | undefined;
  readonly observations: readonly Observation[];
  readonly receivedAt: number | undefined;
}

export interface ReceivedReminder {
  readonly from: string;
  /** When to show it (ms since the Unix epoch). */
  readonly at: number;
  readonly text: string;
  readonly request: CommunicationRequest;
}

export interface ReceivedCheckIn {
  readonly id: string;
  readonly from: string;
  /** When it is due (ms since the Unix epoch): shown from then on, counted by adherence on its UTC day. */
  readonly due: number;
  readonly question: string;
  readonly answer: string | undefined;
  readonly answeredAt: number | undefined;
  readonly task: Task;
}

/** A check-in answer as the supporter who asked sees it. */
export interface CheckInAnswer {
  readonly owner: string;
  readonly answer: string;
  readonly task: Task;
}

export interface DroppedItem {
  readonly reason: WellnessErrorReason;
  readonly conversationId: string;
}

export interface WellnessEvents {
  /** An owner shared insights, or named this client's role (supporter side). */
  shared: SharedWithMe;
  /** A reminder arrived (owner side). */
  reminder: ReceivedReminder;
  /** A check-in request arrived (owner side). */
  'check-in': ReceivedCheckIn;
  /** An owner answered one of this client's check-ins (supporter side). */
  answer: CheckInAnswer;
  /** A received item was refused (see WellnessError): nothing of it is kept or shown. */
  dropped: DroppedItem;
  error: unknown;
}

interface SharedRecord {
  readonly owner: string;
  readonly tier: Tier;
  role: SupporterRole | null;
  asOf: string | null;
  observations: Observation[];
  receivedAt: number | null;
}

interface CareRecord {
  team: Supporter[];
  tiers: Partial<Record<Tier, string>>;
  reminders: { readonly from: string; readonly request: CommunicationRequest }[];
  checkIns: { readonly from: string; readonly tier: Tier; task: Task; answeredAt: number | null }[];
  shared: Record<string, SharedRecord>;
  scheduled: { readonly id: string; readonly conversationId: string }[];
  answers: CheckInAnswer[];
}

function emptyRecord(): CareRecord {
  return { team: [], tiers: {}, reminders: [], checkIns: [], shared: {}, scheduled: [], answers: [] };
}

/** A FHIR resource ID: 24 hex digits. */
function newId(): string {
  return toHex(randomBytes(12));
}

function checkText(argument: string, value: unknown): string {
  if (typeof value !== 'string' || !value.isWellFormed() || value.length > MAX_ITEM_TEXT) {
    throw new ArgumentError(argument, `expected a well-formed string of at most ${MAX_ITEM_TEXT} characters`);
  }
  return value;
}

function checkRole(role: unknown): SupporterRole {
  if (!isSupporterRole(role)) {
    throw new ArgumentError('role', 'expected friend, family, colleague, coach, trainer or clinician');
  }
  return role;
}

export class Wellness extends Emitter<WellnessEvents> {
  readonly #host: WellnessHost;
  readonly #entries: EntryStore;
  readonly #record: CareRecord;
  readonly #attached = new WeakSet<Conversation>();
  readonly #dropped = new Map<WellnessErrorReason, number>();
  /**
   * Work that must not overlap, by queue: entry writes ('entries': a month is one record); team operations
   * and sends one at a time per tier conversation (two invitations to a tier must not create two
   * conversations), so different tiers' round trips overlap — inviting a coach does not wait for a friend's
   * invitation; changing a role, revoking, sharing and answering hold every tier; scheduling, as a
   * supporter, has its own ('supporting').
   */
  readonly #queues = new Map<Tier | 'entries' | 'supporting', Promise<unknown>>();
  /** Handles whose invitation is under way: a second invitation of one is refused at once. */
  readonly #inviting = new Set<string>();
  /** Writes of the care record, in order, each of the state at that moment. */
  #saving: Promise<unknown> = Promise.resolve();

  private constructor(host: WellnessHost, record: CareRecord) {
    super();
    this.#host = host;
    this.#entries = new EntryStore(host.vault);
    this.#record = record;
  }

  /** Loads the care record and watches every conversation for wellness items (client.ts, before polling). */
  static async load(host: WellnessHost): Promise<Wellness> {
    const wellness = new Wellness(
      host,
      (await getJson<CareRecord>(host.vault, CARE_RECORD)) ?? emptyRecord(),
    );
    for (const conversation of host.conversations()) wellness.#attach(conversation);
    host.onConversation((conversation) => wellness.#attach(conversation));
    return wellness;
  }

  // ---- on the device ----

  /** Keeps a raw entry in the vault; it never leaves the device. */
  async log(entry: NewEntry): Promise<RawEntry> {
    const [stored] = await this.logMany([entry]);
    return stored as RawEntry;
  }

  /**
   * Keeps several raw entries (an import, a backfill), in order, writing each month's record once rather
   * than once per entry. Every entry is checked first: one bad entry rejects and nothing is kept.
   */
  async logMany(entries: readonly NewEntry[]): Promise<RawEntry[]> {
    if (!Array.isArray(entries)) throw new ArgumentError('entries', 'expected an array of entries');
    const checked = entries.map((entry) => checkEntry(entry));
    return this.#serial(['entries'], () => this.#entries.add(checked, this.#host.clock()));
  }

  entries(range: EntryRange = {}): Promise<RawEntry[]> {
    return this.#entries.list(range);
  }

  async deleteEntry(id: string): Promise<boolean> {
    return this.#serial(['entries'], () => this.#entries.remove(id));
  }

  /** Every insight as of `asOf` (default: today's UTC date; pass the user's local date), computed here. */
  async insights(asOf = utcDate(this.#host.clock())): Promise<Insights> {
    const end = dayNumber(checkDate('asOf', asOf)) as number;
    const entries = await this.#entries.list({ from: dateOf(end - WINDOW_DAYS + 1), to: asOf });
    const checkIns = this.#record.checkIns.map((checkIn) => ({
      dueDate: utcDate(Date.parse(checkIn.task.restriction?.period?.start ?? '')),
      completed: checkIn.answeredAt !== null,
    }));
    return computeInsights(entries, checkIns, asOf);
  }

  // ---- the owner's care team ----

  team(): Supporter[] {
    return this.#record.team.map((supporter) => ({ ...supporter }));
  }

  /**
   * Adds `handle` to the care team with `role`: to its tier's conversation (created on the first invitation,
   * its policy pinned to 'mixnet'), then names the tier's roles there. A carrier failure keeps the
   * membership change (it is committed when the mixnet returns) and rejects; the next share names the role.
   */
  async invite(handle: string, role: SupporterRole): Promise<void> {
    const checkedRole = checkRole(role);
    this.#checkHandle(handle);
    if (this.#supporter(handle) !== undefined || this.#inviting.has(handle)) {
      throw new WellnessError('already_in_team', 'this handle is in the care team already');
    }
    const tier = tierOf(checkedRole);
    this.#inviting.add(handle);
    const invited = this.#serial([tier], async () => {
      const supporter: Supporter = {
        handle,
        role: checkedRole,
        tier,
        status: 'active',
        since: this.#host.clock(),
      };
      await this.#addTo(tier, handle, () => {
        this.#record.team = [...this.#record.team.filter((s) => s.handle !== handle), supporter];
      });
      await this.#announce(tier);
    });
    return invited.finally(() => this.#inviting.delete(handle));
  }

  /** Gives a supporter another role; across tiers, an MLS remove from one conversation and an add to the other. */
  async changeRole(handle: string, role: SupporterRole): Promise<void> {
    const checkedRole = checkRole(role);
    return this.#serial(TIERS, async () => {
      const current = this.#requireSupporter(handle);
      const tier = tierOf(checkedRole);
      const changed: Supporter = { ...current, role: checkedRole, tier, since: this.#host.clock() };
      if (tier === current.tier) {
        this.#replace(changed);
        await this.#save();
        await this.#announce(tier);
        return;
      }
      // Recorded first: the old tier is not shared to until the removal has been committed (see share).
      this.#replace(changed);
      await this.#save();
      await this.#removeFrom(current.tier, handle);
      await this.#addTo(tier, handle, () => undefined);
      await this.#announce(tier);
    });
  }

  /** Revokes a supporter: no further insights (at once), and an MLS remove from their tier's conversation. */
  async revoke(handle: string): Promise<void> {
    return this.#serial(TIERS, async () => {
      const current = this.#requireSupporter(handle);
      this.#replace({ ...current, status: 'revoked', since: this.#host.clock() });
      await this.#save();
      await this.#removeFrom(current.tier, handle);
    });
  }

  /**
   * Computes the insights as of `asOf` and posts, in each tier's conversation that has active supporters,
   * one message with the Observations that tier may see. Fails closed before anything is sent when the
   * mixnet is not up. A tier whose conversation still holds someone no longer in it (a removal not yet
   * committed) is skipped, and says so.
   */
  async share(asOf = utcDate(this.#host.clock())): Promise<ShareResult[]> {
    checkDate('asOf', asOf);
    return this.#serial(TIERS, async () => {
      const insights = await this.insights(asOf);
      const end = dayNumber(asOf) as number;
      const made = insightObservations(insights, new Date(this.#host.clock()).toISOString(), newId, (days) =>
        dateOf(end - days + 1),
      );
      const results: ShareResult[] = [];
      const posts: { conversation: Conversation; item: WellnessItem }[] = [];
      for (const tier of TIERS) {
        const supporters = this.#active(tier);
        if (supporters.length === 0) continue;
        const observations = made.filter((m) => VISIBLE_TO[tier].includes(m.kind)).map((m) => m.observation);
        const conversation = this.#tierConversation(tier);
        const me = this.#host.handle();
        const strangers = conversation?.members.filter(
          (member) => member !== me && !supporters.some((s) => s.handle === member),
        );
        if (conversation === undefined || strangers === undefined || strangers.length > 0) {
          results.push({
            tier,
            sent: false,
            observations: 0,
            reason: 'a membership change is not committed yet',
          });
          continue;
        }
        results.push({ tier, sent: true, observations: observations.length });
        posts.push({
          conversation,
          item: { kind: 'insights', tier, roles: this.#roster(tier), asOf, observations },
        });
      }
      for (const { conversation } of posts) await this.#requireMixnet(conversation);
      await Promise.all(posts.map(({ conversation, item }) => conversation.send({ wellness: item })));
      return results;
    });
  }

  /** Reminders received from the care team, by time. The app shows each from its `at` on. */
  reminders(): ReceivedReminder[] {
    return this.#record.reminders.map((r) => this.#reminderView(r)).sort((a, b) => a.at - b.at);
  }

  /** Check-ins received from the care team, by due time, answered or not. */
  checkIns(): ReceivedCheckIn[] {
    return this.#record.checkIns.map((c) => this.#checkInView(c)).sort((a, b) => a.due - b.due);
  }

  /** Answers a check-in (over the mixnet only); adherence counts it as completed. */
  async answer(checkInId: string, answer: string): Promise<void> {
    const text = checkText('answer', answer);
    return this.#serial(TIERS, async () => {
      const checkIn = this.#record.checkIns.find((c) => c.task.id === checkInId);
      if (checkIn === undefined) throw new WellnessError('unknown_check_in', 'no check-in with this ID');
      const conversation = this.#tierConversation(checkIn.tier);
      if (conversation === undefined) throw new WellnessError('not_in_team', 'the tier has no conversation');
      await this.#requireMixnet(conversation);
      const now = this.#host.clock();
      const task = answeredTask(checkIn.task, text, new Date(now).toISOString());
      await conversation.send({ wellness: { kind: 'check-in-answer', task } });
      checkIn.task = task;
      checkIn.answeredAt = now;
      await this.#save();
    });
  }

  // ---- as a supporter ----

  /** The owners this client supports, with the role each gave and the insights they last shared. */
  sharedWithMe(): SharedWithMe[] {
    return Object.entries(this.#record.shared).map(([id, shared]) => this.#sharedView(id, shared));
  }

  /**
   * Schedules a session reminder or a check-in for `owner`, whose care team this client is in as a coach,
   * trainer or clinician; it travels over the mixnet only. Returns the FHIR resource sent.
   */
  async schedule(
    owner: string,
    request: { readonly kind: 'reminder' | 'check-in'; readonly at: number; readonly text: string },
  ): Promise<CommunicationRequest | Task> {
    if (request?.kind !== 'reminder' && request?.kind !== 'check-in') {
      throw new ArgumentError('request.kind', "expected 'reminder' or 'check-in'");
    }
    if (!Number.isSafeInteger(request.at) || request.at < 0) {
      throw new ArgumentError('request.at', 'expected ms since the Unix epoch');
    }
    const text = checkText('request.text', request.text);
    return this.#serial(['supporting'], async () => {
      const bound = Object.entries(this.#record.shared).filter(
        ([id, shared]) => shared.owner === owner && this.#host.conversation(id)?.status === 'active',
      );
      if (bound.length === 0)
        throw new WellnessError('not_in_team', "this client is not in the owner's care team");
      const found = bound.find(([, shared]) => maySchedule(shared.tier));
      const conversation = found === undefined ? undefined : this.#host.conversation(found[0]);
      if (conversation === undefined) {
        throw new WellnessError('not_allowed', 'only coaches, trainers and clinicians schedule reminders');
      }
      await this.#requireMixnet(conversation);
      const id = newId();
      const at = new Date(request.at).toISOString();
      const authoredOn = new Date(this.#host.clock()).toISOString();
      const item: WellnessItem =
        request.kind === 'reminder'
          ? { kind: 'reminder', request: reminderRequest(id, text, at, authoredOn) }
          : { kind: 'check-in', task: checkInTask(id, text, at, authoredOn) };
      this.#record.scheduled.push({ id, conversationId: conversation.id });
      await this.#save();
      await conversation.send({ wellness: item });
      return item.kind === 'reminder' ? item.request : item.task;
    });
  }

  /** Answers to this client's check-ins. */
  answers(): CheckInAnswer[] {
    return [...this.#record.answers];
  }

  /**
   * Whether `conversationId` is a care-team conversation: one of this owner's tiers, or an owner's tier this
   * client supports. Apps leave these out of their chat lists (they carry wellness items, not text).
   */
  isCareConversation(conversationId: string): boolean {
    return this.#ownTier(conversationId) !== undefined || conversationId in this.#record.shared;
  }

  /** Received items dropped so far (since open), by reason. */
  get dropped(): Readonly<Partial<Record<WellnessErrorReason, number>>> {
    return Object.fromEntries(this.#dropped);
  }

  /** Resolves once every write started so far is done (the client waits for it before closing the vault). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#queues.values());
    await this.#saving;
  }

  // ---- internals ----

  /** Runs `operation` once everything queued before it on any of `queues` has settled, holding them all. */
  #serial<T>(queues: readonly (Tier | 'entries' | 'supporting')[], operation: () => Promise<T>): Promise<T> {
    const result = Promise.allSettled(queues.map((queue) => this.#queues.get(queue))).then(operation);
    const settled = result.catch(() => undefined);
    for (const queue of queues) this.#queues.set(queue, settled);
    return result;
  }

  #save(): Promise<void> {
    const write = this.#saving.then(() => putJson(this.#host.vault, CARE_RECORD, this.#record));
    this.#saving = write.catch((error: unknown) => this.emit('error', error));
    return write;
  }

  #checkHandle(handle: string): void {
    const problem = handleProblem(handle);
    if (problem !== undefined) throw new ArgumentError('handle', problem);
    if (handle === this.#host.handle())
      throw new ArgumentError('handle', 'the owner cannot support themselves');
  }

  #supporter(handle: string): Supporter | undefined {
    return this.#record.team.find((s) => s.handle === handle && s.status === 'active');
  }

  #requireSupporter(handle: string): Supporter {
    const supporter = this.#supporter(handle);
    if (supporter === undefined)
      throw new WellnessError('not_in_team', 'this handle is not in the care team');
    return supporter;
  }

  #replace(supporter: Supporter): void {
    this.#record.team = this.#record.team.map((s) => (s.handle === supporter.handle ? supporter : s));
  }

  #active(tier: Tier): Supporter[] {
    return this.#record.team.filter((s) => s.status === 'active' && s.tier === tier);
  }

  #roster(tier: Tier): Roster {
    return Object.fromEntries(this.#active(tier).map((s) => [s.handle, s.role]));
  }

  #tierConversation(tier: Tier): Conversation | undefined {
    const id = this.#record.tiers[tier];
    const conversation = id === undefined ? undefined : this.#host.conversation(id);
    return conversation?.status === 'active' ? conversation : undefined;
  }

  #ownTier(conversationId: string): Tier | undefined {
    return TIERS.find((tier) => this.#record.tiers[tier] === conversationId);
  }

  /**
   * Adds `handle` to the tier's conversation, creating it (mixnet only) on the first invitation; `record`
   * runs once the change is made or kept, and the record is saved then, even if the carrier failed.
   */
  async #addTo(tier: Tier, handle: string, record: () => void): Promise<void> {
    const existing = this.#tierConversation(tier);
    if (existing === undefined) {
      const conversation = await this.#host.createConversation([handle], 'mixnet');
      this.#attach(conversation);
      this.#record.tiers[tier] = conversation.id;
      record();
      await this.#save();
      if (conversation.pendingChanges.length > 0) {
        throw new ClientError('unreachable', 'the invitation is kept and is made when the mixnet returns');
      }
      return;
    }
    await this.#pin(existing);
    try {
      await existing.add([handle]);
    } catch (error) {
      if (!isTransient(error)) throw error;
      // Kept by the conversation and committed at a later poll: the supporter is in the team already.
      record();
      await this.#save();
      throw error;
    }
    record();
    await this.#save();
  }

  async #removeFrom(tier: Tier, handle: string): Promise<void> {
    const conversation = this.#tierConversation(tier);
    if (conversation === undefined) return;
    await this.#pin(conversation);
    await conversation.remove([handle]); // Kept by the conversation if the mixnet is down.
  }

  /** Names the tier's roles in its conversation, so that its supporters know their role before a share. */
  async #announce(tier: Tier): Promise<void> {
    const conversation = this.#tierConversation(tier);
    if (conversation === undefined) return;
    await this.#requireMixnet(conversation);
    await conversation.send({ wellness: { kind: 'team', tier, roles: this.#roster(tier) } });
  }

  /** Wellness conversations use the mixnet only, for every request they make. */
  async #pin(conversation: Conversation): Promise<void> {
    if (conversation.policy !== 'mixnet') await conversation.setPolicy('mixnet');
  }

  /** Fails closed: a wellness item is sent only while the mixnet carrier is up; nothing is queued otherwise. */
  async #requireMixnet(conversation: Conversation): Promise<void> {
    await this.#pin(conversation); // Again: an app may have changed it.
    const privacy = conversation.privacy;
    if (privacy.carrier !== 'mixnet') {
      throw new ClientError(
        'privacy_unavailable',
        `wellness items travel only over the mixnet, which is not up (${privacy.reason}); nothing was sent`,
      );
    }
  }

  #attach(conversation: Conversation): void {
    if (this.#attached.has(conversation)) return;
    this.#attached.add(conversation);
    conversation.on('message', (message) => this.#received(conversation, message));
  }

  #received(conversation: Conversation, message: Message): void {
    if (message.own || isText(message.content)) return;
    const outcome = this.#accept(conversation, message.sender, message.content.wellness);
    if (outcome === 'accepted' || outcome === 'ignored') return;
    this.#dropped.set(outcome, (this.#dropped.get(outcome) ?? 0) + 1);
    this.emit('dropped', { reason: outcome, conversationId: conversation.id });
  }

  /**
   * Keeps a received item if it fits the care team, else says why not. Insights and rosters come only from
   * the owner of a conversation (the first to post one binds it, with its tier), name only roles of that tier
   * and hold only what the tier may see. Reminders and check-ins reach an owner only from an active supporter
   * of the tier whose conversation carries them, and only from tiers that may schedule. Answers reach only the
   * supporter who asked. Items meant for another supporter of the same tier are ignored, not counted.
   */
  #accept(
    conversation: Conversation,
    sender: string,
    item: WellnessItem,
  ): WellnessErrorReason | 'accepted' | 'ignored' {
    const id = conversation.id;
    const ownTier = this.#ownTier(id);
    const bound = this.#record.shared[id];
    switch (item.kind) {
      case 'team':
      case 'insights': {
        if (ownTier !== undefined || (bound !== undefined && bound.owner !== sender)) return 'not_owner';
        if (bound !== undefined && bound.tier !== item.tier) return 'role_mismatch';
        if (Object.values(item.roles).some((role) => tierOf(role) !== item.tier)) return 'role_mismatch';
        if (item.kind === 'insights') {
          const visible = VISIBLE_TO[item.tier];
          const hidden = item.observations.some((o) => {
            const kind = kindOf(o.code);
            return kind === undefined || !visible.includes(kind);
          });
          if (hidden) return 'not_visible';
        }
        const shared: SharedRecord = bound ?? {
          owner: sender,
          tier: item.tier,
          role: null,
          asOf: null,
          observations: [],
          receivedAt: null,
        };
        shared.role = item.roles[this.#host.handle() ?? ''] ?? shared.role;
        if (item.kind === 'insights') {
          shared.asOf = item.asOf;
          shared.observations = [...item.observations];
          shared.receivedAt = this.#host.clock();
        }
        this.#record.shared[id] = shared;
        void this.#save().catch(() => undefined);
        void this.#pin(conversation).catch((error: unknown) => this.emit('error', error));
        this.emit('shared', this.#sharedView(id, shared));
        return 'accepted';
      }
      case 'reminder':
      case 'check-in': {
        if (ownTier === undefined)
          return bound?.owner !== undefined && maySchedule(bound.tier) ? 'ignored' : 'not_in_team';
        const supporter = this.#supporter(sender);
        if (supporter === undefined || supporter.tier !== ownTier) return 'not_in_team';
        if (!maySchedule(ownTier)) return 'not_allowed';
        if (item.kind === 'reminder') {
          const reminder = { from: sender, request: item.request };
          this.#record.reminders.push(reminder);
          void this.#save().catch(() => undefined);
          this.emit('reminder', this.#reminderView(reminder));
        } else {
          const checkIn = { from: sender, tier: ownTier, task: item.task, answeredAt: null };
          this.#record.checkIns.push(checkIn);
          void this.#save().catch(() => undefined);
          this.emit('check-in', this.#checkInView(checkIn));
        }
        return 'accepted';
      }
      case 'check-in-answer': {
        if (bound === undefined || bound.owner !== sender) return 'unknown_check_in';
        const asked = this.#record.scheduled.some((s) => s.id === item.task.id && s.conversationId === id);
        if (!asked) return 'ignored'; // Another supporter's check-in, answered in the same tier.
        const answer: CheckInAnswer = {
          owner: sender,
          answer: item.task.output?.[0]?.valueString ?? '',
          task: item.task,
        };
        this.#record.answers.push(answer);
        void this.#save().catch(() => undefined);
        this.emit('answer', answer);
        return 'accepted';
      }
    }
  }

  #sharedView(id: string, shared: SharedRecord): SharedWithMe {
    return {
      conversationId: id,
      owner: shared.owner,
      tier: shared.tier,
      role: shared.role ?? undefined,
      active: this.#host.conversation(id)?.status === 'active',
      asOf: shared.asOf ?? undefined,
      observations: shared.observations,
      receivedAt: shared.receivedAt ?? undefined,
    };
  }

  #reminderView({ from, request }: CareRecord['reminders'][number]): ReceivedReminder {
    return {
      from,
      at: Date.parse(request.occurrenceDateTime ?? ''),
      text: request.payload?.[0]?.contentString ?? '',
      request,
    };
  }

  #checkInView(checkIn: CareRecord['checkIns'][number]): ReceivedCheckIn {
    return {
      id: checkIn.task.id ?? '',
      from: checkIn.from,
      due: Date.parse(checkIn.task.restriction?.period?.start ?? ''),
      question: checkIn.task.description ?? '',
      answer: checkIn.task.output?.[0]?.valueString,
      answeredAt: checkIn.answeredAt ?? undefined,
      task: checkIn.task,
    };
  }
}
