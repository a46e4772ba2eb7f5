/**
 * What the web app's screens need from an open account, in the app's own terms. `sdk.ts` implements it over
 * the client SDK (`src/client/`); the screens depend only on this, so they stay plain DOM code that never
 * touches keys, carriers or the wire. Every value here is local to the page: plaintext is shown, never sent.
 */

import type { Insights, NewEntry, PrivacyPolicy, RawEntry, SupporterRole, Tier } from 'umbra';

export type { Insights, NewEntry, RawEntry, SupporterRole };

/** The privacy indicator's three states (design brief §1), with the reason shown on hover or tap. */
export type PrivacyLevel = 'full' | 'partial' | 'none';

export interface PrivacyState {
  readonly level: PrivacyLevel;
  readonly reason: string;
}

/**
 * The steps of opening an account, in the order they happen: Argon2id derives the vault's key ('deriving',
 * while the page also connects), the connection finishes ('connecting', only if it is the slower), the vault's
 * records load ('loading'); a sign-up then makes and stores the keys ('creating') and publishes them
 * ('publishing'; also an unlock that finishes an interrupted sign-up).
 */
export type OpeningStep = 'deriving' | 'connecting' | 'loading' | 'creating' | 'publishing';

/** Where an outgoing message is on its way; incoming messages are always 'delivered'. */
export type DeliveryState = 'queued' | 'sent' | 'acknowledged' | 'delivered' | 'failed';

export interface MessageView {
  readonly id: string;
  readonly conversationId: string;
  readonly sender: string;
  readonly outgoing: boolean;
  readonly text: string;
  /** Milliseconds since the Unix epoch, on this device's clock. */
  readonly time: number;
  readonly state: DeliveryState;
}

export interface ConversationView {
  readonly id: string;
  /** Every member's handle, this user included. */
  readonly members: readonly string[];
  /** What this conversation's privacy policy allows: the mixnet only (fail-closed) or a direct fallback. */
  readonly policy: PrivacyPolicy;
  /** 'removed' or 'left': the history stays readable, nothing can be sent; `members` are those of then. */
  readonly status: 'active' | 'removed' | 'left';
  /** Who removed this user, when known. */
  readonly removedBy: string | undefined;
}

/**
 * A membership change asked for: 'done' once committed; 'kept' when the network did not answer, in which
 * case the SDK keeps it and commits it when the network returns (the members list shows when).
 */
export type ChangeOutcome = 'done' | 'kept';

export interface SafetyNumberView {
  readonly handle: string;
  /** Sixty digits in twelve groups of five, to read aloud or compare. */
  readonly digits: string;
  readonly verified: boolean;
  /** The contact's identity key differs from the one this device saw first (or verified). */
  readonly keyChanged: boolean;
}

/** Packets per second this client put on the wire in one second, by kind; an observer sees only the total. */
export interface TrafficSample {
  readonly time: number;
  readonly real: number;
  readonly loop: number;
  readonly drop: number;
}

export type SessionEvent =
  | { readonly type: 'privacy'; readonly privacy: PrivacyState }
  | { readonly type: 'conversations' }
  | { readonly type: 'message'; readonly message: MessageView }
  | { readonly type: 'wellness' };

export interface SupporterView {
  readonly handle: string;
  readonly role: SupporterRole;
  readonly status: 'active' | 'revoked';
}

/** One shared insight as a line to read: "FWI, last 7 days" — "72". */
export interface InsightLine {
  readonly label: string;
  readonly value: string;
}

/** Someone this user supports, the role they gave this user, and what they last shared (already by role). */
export interface SharedView {
  readonly owner: string;
  readonly role: SupporterRole | undefined;
  readonly tier: Tier;
  /** False once the owner revoked this user or gave them a role of another tier. */
  readonly active: boolean;
  readonly asOf: string | undefined;
  readonly lines: readonly InsightLine[];
  /** Coaches, trainers and clinicians may send reminders and check-ins. */
  readonly maySchedule: boolean;
}

export interface ReminderView {
  readonly from: string;
  readonly at: number;
  readonly text: string;
}

export interface CheckInView {
  readonly id: string;
  readonly from: string;
  readonly due: number;
  readonly question: string;
  readonly answer: string | undefined;
}

export interface AnswerView {
  readonly owner: string;
  readonly question: string;
  readonly answer: string;
}

/**
 * The wellness layer (docs/wellness.md) as the screens use it. Entries and insights never leave this page;
 * insights are shared by role over the mixnet only, and nothing wellness is sent while it is down.
 */
export interface WellnessSession {
  /** Keeps an entry on this device. */
  log(entry: NewEntry): Promise<void>;
  /** The last 30 days' entries, newest first. */
  entries(): Promise<readonly RawEntry[]>;
  /** Computed here, as of the user's local today. */
  insights(): Promise<Insights>;
  team(): readonly SupporterView[];
  invite(handle: string, role: SupporterRole): Promise<ChangeOutcome>;
  changeRole(handle: string, role: SupporterRole): Promise<ChangeOutcome>;
  revoke(handle: string): Promise<ChangeOutcome>;
  /** Shares today's insights, each tier what it may see; resolves with what was sent, in words. */
  share(): Promise<string>;
  sharedWithMe(): readonly SharedView[];
  schedule(owner: string, kind: 'reminder' | 'check-in', at: number, text: string): Promise<void>;
  reminders(): readonly ReminderView[];
  checkIns(): readonly CheckInView[];
  answer(checkInId: string, text: string): Promise<void>;
  /** Answers to the check-ins this user sent. */
  answers(): readonly AnswerView[];
}

export interface Session {
  readonly handle: string;
  readonly wellness: WellnessSession;
  /**
   * The privacy a message sent now would get: the client's, or a conversation's under its policy (a
   * conversation that requires the mixnet is 'none' while only the direct carrier is up: it fails closed).
   */
  privacy(conversationId?: string): PrivacyState;
  /** The chat's conversations: care-team conversations (wellness items, not text) are not among them. */
  conversations(): readonly ConversationView[];
  /** The conversation's messages, oldest first. */
  messages(conversationId: string): readonly MessageView[];
  createConversation(handles: readonly string[]): Promise<ConversationView>;
  addMember(conversationId: string, handle: string): Promise<ChangeOutcome>;
  removeMember(conversationId: string, handle: string): Promise<ChangeOutcome>;
  /** Resolves once the message is handed to the carrier ('sent'); later states arrive as events. */
  send(conversationId: string, text: string): Promise<void>;
  safetyNumber(handle: string): Promise<SafetyNumberView>;
  markVerified(handle: string): Promise<void>;
  /** Whether the contact's identity key changed since this device first saw (or verified) it. */
  keyChanged(handle: string): boolean;
  /** The last minute of this client's wire traffic, one sample per second, oldest first. */
  traffic(): readonly TrafficSample[];
  /** The constant rate λ (packets per second) the network document sets, once known. */
  expectedRate(): number | undefined;
  on(listener: (event: SessionEvent) => void): () => void;
  /** The panic button: destroys this device's keys and history, irrevocably. */
  wipe(): Promise<void>;
  close(): Promise<void>;
}

export function privacyLabel(level: PrivacyLevel): string {
  switch (level) {
    case 'full':
      return 'Full privacy';
    case 'partial':
      return 'Partial privacy';
    case 'none':
      return 'No privacy';
  }
}
