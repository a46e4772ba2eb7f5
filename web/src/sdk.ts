/**
 * The web app's account: the client SDK (src/client) opened in this page over the IndexedDB vault and the
 * carriers `/config.json` allows, presented to the screens as a `Session`. The vault is the SDK's own
 * (Argon2id-wrapped key, XChaCha20-Poly1305 records), kept in the IndexedDB database `VAULT_DATABASE`
 * through the SDK's `indexedDbStorage`.
 */

import type { Observation } from '@medplum/fhirtypes';
import {
  ArgumentError,
  type Carriers,
  Client,
  ClientError,
  type ClientVault,
  type Conversation,
  deploymentEndpoints,
  indexedDbStorage,
  isText,
  type Message,
  maySchedule,
  OBSERVATION_CODES,
  openCarriers,
  RECORD,
  type WebConfig,
  type Wellness,
} from 'umbra';
import type {
  ChangeOutcome,
  ConversationView,
  DeliveryState,
  InsightLine,
  MessageView,
  OpeningStep,
  PrivacyState,
  SafetyNumberView,
  Session,
  SessionEvent,
  SharedView,
  TrafficSample,
  WellnessSession,
} from './session.ts';

/** The IndexedDB database of this origin's vault. */
export const VAULT_DATABASE = 'umbra-vault';

/**
 * How often the client polls the mailbox and the conversations (the SDK's default is 2 s). A poll does not wait
 * for the last one's answers (a mixnet round trip, about 0.8 s at 100 ms rounds: the SDK keeps up to two reads
 * of a conversation in flight), so a conversation is read every 500 ms and a message is read on average a
 * quarter of a second after it is stored, plus the answer's way back. The polls cost nothing an observer sees:
 * over the mixnet they take the place of cover packets in the constant-rate stream.
 */
const POLL_INTERVAL_MS = 500;
/**
 * How long signing up (or finishing a sign-up) keeps trying before it reports the network unreachable: a slow
 * phone on a busy network takes tens of seconds to open its first mixnet connection, and the connection may
 * blink meanwhile. Registration is idempotent (the same keys), so trying again is safe.
 */
const NETWORK_WAIT_MS = 120_000;

/** Resolves once the client's policy has a carrier up, or after `timeoutMs` (then the request says why). */
function networkReady(client: Client, timeoutMs: number): Promise<void> {
  if (client.privacy.level !== 'none') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      detach();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    const detach = client.on('privacy', (state) => {
      if (state.level !== 'none') done();
    });
  });
}

/** Messages and membership changes the SDK keeps when it cannot send now: for the user they are taken, not lost. */
const KEPT_REASONS: ReadonlySet<string> = new Set(['privacy_unavailable', 'unreachable', 'closed']);

function conversationView(conversation: Conversation): ConversationView {
  return {
    id: conversation.id,
    members: conversation.members,
    policy: conversation.policy,
    status: conversation.status,
    removedBy: conversation.removedBy,
  };
}

/** A text message as the chat shows it; wellness items are shown by the wellness screens, not as bubbles. */
function viewOf(message: Message): MessageView | undefined {
  if (!isText(message.content)) return undefined;
  const state: DeliveryState = message.state === 'received' ? 'delivered' : message.state;
  return {
    id: message.id,
    conversationId: message.conversationId,
    sender: message.sender,
    outgoing: message.own,
    text: message.content.text,
    time: message.receivedAt ?? message.sentAt,
    state,
  };
}

/** The user's local calendar day, YYYY-MM-DD: what wellness entries and insights are dated by. */
function localDate(time = Date.now()): string {
  const date = new Date(time);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** A shared Observation as a line to read: its code's name and window, its value (and a trend's direction). */
function insightLine(observation: Observation): InsightLine {
  const coding = observation.code.coding?.[0];
  const known = Object.values(OBSERVATION_CODES).find(
    (code) => code.system === coding?.system && code.code === coding?.code,
  );
  const period = observation.effectivePeriod;
  const window = period === undefined ? '' : ` (${period.start} to ${period.end})`;
  const quantity = observation.valueQuantity;
  const value =
    quantity === undefined
      ? (observation.valueCodeableConcept?.coding?.[0]?.code ?? '')
      : `${quantity.value} ${quantity.unit ?? ''}`.trim();
  const direction = observation.component?.find((c) => c.code.coding?.[0]?.code === 'direction')
    ?.valueCodeableConcept?.coding?.[0]?.code;
  return {
    label: `${known?.display ?? 'Insight'}${window}`,
    value: direction === undefined ? value : `${value}, ${direction}`,
  };
}

/** Care-team changes: kept when the network does not answer (the SDK commits them when it returns). */
async function outcomeOf(change: Promise<void>): Promise<ChangeOutcome> {
  try {
    await change;
    return 'done';
  } catch (error) {
    if (error instanceof ClientError && KEPT_REASONS.has(error.reason)) return 'kept';
    throw error;
  }
}

function wellnessSession(wellness: Wellness): WellnessSession {
  return {
    log: async (entry) => {
      await wellness.log(entry);
    },
    entries: async () => {
      const today = localDate();
      const from = localDate(Date.now() - 29 * 86_400_000);
      return (await wellness.entries({ from, to: today })).reverse();
    },
    insights: () => wellness.insights(localDate()),
    team: () => wellness.team().map(({ handle, role, status }) => ({ handle, role, status })),
    invite: (handle, role) => outcomeOf(wellness.invite(handle, role)),
    changeRole: (handle, role) => outcomeOf(wellness.changeRole(handle, role)),
    revoke: (handle) => outcomeOf(wellness.revoke(handle)),
    share: async () => {
      const results = await wellness.share(localDate());
      if (results.length === 0) return 'Nobody to share with yet: invite someone to your care team.';
      return results
        .map((r) =>
          r.sent ? `${r.tier}: ${r.observations} insights sent` : `${r.tier}: not sent (${r.reason})`,
        )
        .join('; ');
    },
    sharedWithMe: () =>
      wellness.sharedWithMe().map(
        (shared): SharedView => ({
          owner: shared.owner,
          role: shared.role,
          tier: shared.tier,
          active: shared.active,
          asOf: shared.asOf,
          lines: shared.observations.map(insightLine),
          maySchedule: maySchedule(shared.tier),
        }),
      ),
    schedule: async (owner, kind, at, text) => {
      await wellness.schedule(owner, { kind, at, text });
    },
    reminders: () => wellness.reminders().map(({ from, at, text }) => ({ from, at, text })),
    checkIns: () =>
      wellness.checkIns().map(({ id, from, due, question, answer }) => ({ id, from, due, question, answer })),
    answer: (checkInId, text) => wellness.answer(checkInId, text),
    answers: () =>
      wellness.answers().map(({ owner, answer, task }) => ({
        owner,
        answer,
        question: task.description ?? '',
      })),
  };
}

class ClientSession implements Session {
  readonly handle: string;
  readonly wellness: WellnessSession;
  readonly #client: Client;
  readonly #carriers: Carriers;
  readonly #listeners = new Set<(event: SessionEvent) => void>();
  readonly #attached = new Set<string>();

  constructor(client: Client, carriers: Carriers, handle: string) {
    this.#client = client;
    this.#carriers = carriers;
    this.handle = handle;
    this.wellness = wellnessSession(client.wellness);
    // A care-team conversation leaves the chat list once known as one; its items update the wellness screens.
    const changed = () => this.#emit({ type: 'wellness' });
    for (const event of ['shared', 'reminder', 'check-in', 'answer'] as const)
      client.wellness.on(event, changed);
    client.on('privacy', () => this.#emit({ type: 'privacy', privacy: this.privacy() }));
    client.on('conversation', (conversation) => {
      this.#attach(conversation);
      this.#emit({ type: 'conversations' });
    });
    client.on('keychange', () => this.#emit({ type: 'conversations' }));
    for (const conversation of client.conversations()) this.#attach(conversation);
  }

  #attach(conversation: Conversation): void {
    if (this.#attached.has(conversation.id)) return;
    this.#attached.add(conversation.id);
    const changed = (message: Message) => {
      const view = viewOf(message);
      if (view !== undefined) this.#emit({ type: 'message', message: view });
    };
    conversation.on('message', changed);
    conversation.on('status', changed);
    conversation.on('members', () => this.#emit({ type: 'conversations' }));
    conversation.on('removed', () => this.#emit({ type: 'conversations' }));
  }

  #emit(event: SessionEvent): void {
    for (const listener of [...this.#listeners]) listener(event);
  }

  #conversation(id: string): Conversation {
    const conversation = this.#client.conversation(id);
    if (conversation === undefined) throw new ClientError('unknown_conversation', 'no such conversation');
    return conversation;
  }

  privacy(conversationId?: string): PrivacyState {
    const state =
      conversationId === undefined
        ? this.#client.privacy
        : (this.#client.conversation(conversationId)?.privacy ?? this.#client.privacy);
    return { level: state.level, reason: state.reason };
  }

  conversations(): readonly ConversationView[] {
    // Ended conversations stay listed: their history is still the user's to read.
    const wellness = this.#client.wellness;
    return this.#client
      .conversations()
      .filter((conversation) => !wellness.isCareConversation(conversation.id))
      .map(conversationView);
  }

  messages(conversationId: string): readonly MessageView[] {
    const history = this.#client.conversation(conversationId)?.history() ?? [];
    return history.flatMap((message) => viewOf(message) ?? []);
  }

  async createConversation(handles: readonly string[]): Promise<ConversationView> {
    const conversation = await this.#client.createConversation(handles);
    this.#attach(conversation);
    this.#emit({ type: 'conversations' });
    return conversationView(conversation);
  }

  addMember(conversationId: string, handle: string): Promise<ChangeOutcome> {
    return this.#change(this.#conversation(conversationId).add([handle]));
  }

  removeMember(conversationId: string, handle: string): Promise<ChangeOutcome> {
    return this.#change(this.#conversation(conversationId).remove([handle]));
  }

  async #change(change: Promise<void>): Promise<ChangeOutcome> {
    try {
      return await outcomeOf(change);
    } finally {
      this.#emit({ type: 'conversations' });
    }
  }

  async send(conversationId: string, text: string): Promise<void> {
    const conversation = this.#conversation(conversationId);
    try {
      await conversation.send({ text });
    } catch (error) {
      if (error instanceof ClientError && KEPT_REASONS.has(error.reason)) return;
      throw error;
    } finally {
      this.#emit({ type: 'conversations' });
    }
  }

  async safetyNumber(handle: string): Promise<SafetyNumberView> {
    const number = await this.#client.safetyNumber(handle);
    const contact = this.#client.contact(handle);
    return {
      handle,
      digits: number.display,
      verified: contact?.verified ?? false,
      keyChanged: contact?.keyChanged ?? false,
    };
  }

  async markVerified(handle: string): Promise<void> {
    await this.#client.markVerified(handle);
  }

  keyChanged(handle: string): boolean {
    return this.#client.contact(handle)?.keyChanged ?? false;
  }

  traffic(): readonly TrafficSample[] {
    return this.#carriers.mixnet?.traffic() ?? [];
  }

  expectedRate(): number | undefined {
    return this.#carriers.mixnet?.stats().ratePerSecond;
  }

  on(listener: (event: SessionEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async wipe(): Promise<void> {
    this.#listeners.clear();
    await this.#client.wipe();
    await this.#carriers.close();
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#client.close();
    await this.#carriers.close();
  }
}

/** `vault` reporting the name of every record written, once the write is done. */
function reportingWrites(vault: ClientVault, written: (name: string) => void): ClientVault {
  return {
    get: (name) => vault.get(name),
    put: async (name, value) => {
      await vault.put(name, value);
      written(name);
    },
    delete: (name) => vault.delete(name),
    list: () => vault.list(),
    wipe: () => vault.wipe(),
    close: () => vault.close(),
  };
}

/**
 * Opens this device's account with `passphrase`; with `create`, first makes the vault and registers that
 * handle. The keys are in the vault before the first request, and a sign-up that fails on the way (the
 * service unreachable, a timeout on a slow network) keeps them: the registration stays pending, and signing
 * up again with the same handle and passphrase, or unlocking, finishes it — the service may already have
 * bound the handle to those keys. Only a refused handle (held by another identity) wipes the new vault, so
 * the user can pick another handle and passphrase.
 *
 * The slow parts overlap and are reported as they go (`progress`): Argon2id derives the vault's key (in a
 * worker) while the page connects to the network; then the conversations load (unlock) or the keys are made
 * and stored ("creating") and published to the delivery service ("publishing", from the moment the identity
 * record is in the vault until the service confirmed the handle and the KeyPackages).
 */
export async function openAccount(
  config: WebConfig,
  passphrase: string,
  options: { readonly create?: string; readonly progress?: (step: OpeningStep) => void },
): Promise<Session> {
  if (passphrase === '') throw new ArgumentError('passphrase', 'enter your passphrase');
  let step: OpeningStep = 'deriving';
  const report = (next: OpeningStep) => {
    step = next;
    options.progress?.(next);
  };
  report('deriving');
  let connected = false;
  const [opened, connection] = await Promise.allSettled([
    indexedDbStorage(VAULT_DATABASE)
      .open(passphrase)
      .then((vault) => {
        if (!connected) report('connecting');
        return vault;
      }),
    openCarriers(config.privacy, deploymentEndpoints(config, window.location.origin)).finally(() => {
      connected = true;
    }),
  ]);
  const carriers = connection.status === 'fulfilled' ? connection.value : undefined;
  if (opened.status === 'rejected') {
    await carriers?.close();
    throw opened.reason;
  }
  report('loading');
  const vault = reportingWrites(opened.value, (name) => {
    if (name === RECORD.identity && step === 'creating') report('publishing');
  });
  let client: Client;
  try {
    // Without carriers (the network could not be reached) the client still opens, so that the failure is
    // handled below like any other: a new vault without keys is wiped, keys are kept.
    client = await Client.open({
      storage: { open: async () => vault },
      passphrase,
      carriers: carriers?.all ?? [],
      privacy: config.privacy,
      pollIntervalMs: POLL_INTERVAL_MS,
    });
  } catch (error) {
    await carriers?.close();
    throw error;
  }
  try {
    const handle = options.create ?? client.handle;
    if (handle === undefined)
      throw new ClientError('not_registered', 'this account never finished signing up');
    if (connection.status === 'rejected') throw connection.reason;
    if (options.create !== undefined || client.registration === 'pending') {
      const deadline = Date.now() + NETWORK_WAIT_MS;
      for (;;) {
        if (client.privacy.level === 'none') {
          report('connecting');
          await networkReady(client, deadline - Date.now());
        }
        report(client.handle === undefined ? 'creating' : 'publishing');
        try {
          await client.register(handle);
          break;
        } catch (error) {
          const transient = error instanceof ClientError && KEPT_REASONS.has(error.reason);
          if (!transient || Date.now() >= deadline) throw error;
        }
      }
    }
    return new ClientSession(client, connection.value, handle);
  } catch (error) {
    if (options.create !== undefined && client.registration === 'none') await client.wipe();
    else await client.close();
    await carriers?.close();
    throw error;
  }
}
