/**
 * One member's view of an MLS group (RFC 9420) over ts-mls 1.6.4, in explicit stages:
 *
 *     bytes ─decodeMessage→ ReceivedMessage ─verify→ Verified ─┬─ application / proposal: applied at once
 *                                                              └─ StagedCommit ─merge→ MergeResult (new epoch)
 *                                                                            └─discard (another commit won)
 *
 * `verify` decrypts, checks the signature against the sender's leaf (membership), runs every credential it
 * meets through the authentication service, and for a commit computes the next epoch without adopting it.
 * The delivery service decides which commit wins an epoch; the client merges that one and discards the
 * rest, its own included (`commit` stages the author's commit the same way). ts-mls states are immutable
 * values, so a staged commit is the next state held aside; merging adopts it and only then wipes the
 * secrets the transition consumed (RFC 9420 §9.2 deletion schedule), so a discarded commit costs nothing.
 *
 * Wire formats (RFC 9420 §6): commits and proposals go out as PublicMessage, application data as
 * PrivateMessage. The RFC allows handshake messages as PublicMessage, and peers that insist on reading them
 * need it (openmls with a plaintext wire-format policy refuses PrivateMessage commits); the delivery service
 * still sees none of it, as umbra's outer seal (outer.ts) encrypts the whole MLS message. `verify` accepts
 * commits and proposals in either format and applies the numbered rules V1–V9 (see `Group.verify`).
 *
 * RFC 9420 §12.4 requires an UpdatePath on any commit with a Remove, Update, ExternalInit or
 * GroupContextExtensions proposal, or none at all: otherwise a removed member can compute the next epoch.
 * ts-mls 1.6.4 enforces it for empty, Update and Remove commits; the facade checks the outcome of every commit
 * it makes or receives (the committer's leaf must have been replaced) and refuses one that lacks the path.
 */
import type {
  CiphersuiteImpl,
  ClientState,
  EpochReceiverData,
  IncomingMessageCallback,
  LeafNode,
  PrivateMessage,
  Proposal,
  ProposalWithSender,
  PublicMessage,
  RatchetTree,
} from 'ts-mls';
import {
  createApplicationMessage,
  createCommit,
  createProposal,
  encodeGroupState,
  makePskIndex,
  mlsExporter,
  processPrivateMessage,
  processPublicMessage,
} from 'ts-mls';
import { verifyMembershipTag } from 'ts-mls/authenticatedContent.js';
import { toTbs } from 'ts-mls/framedContent.js';
import { decryptSenderData } from 'ts-mls/privateMessage.js';
import { allSecretTreeValues } from 'ts-mls/secretTree.js';
import { assertBytes, constantTimeEqual, toHex, wipe } from '../bytes.ts';
import {
  decode,
  encode,
  literal,
  opaque,
  optional,
  struct,
  u8,
  VARINT_MAX,
  vectorOf,
} from '../codec/index.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { ArgumentError, MlsError } from '../errors.ts';
import {
  AuthenticationRecorder,
  type AuthenticationService,
  type MlsCredential,
  toMlsCredential,
} from './authentication.ts';
import type { MlsCiphersuiteName } from './ciphersuites.ts';
import { applicationPadding, clientConfig, privateMessageOverhead } from './config.ts';
import {
  APPLICATION_EXPORT_PREFIX,
  MAX_EXPORT_CONTEXT_BYTES,
  MAX_EXPORT_LABEL_BYTES,
  MAX_EXPORT_LENGTH,
  OUTER_KEY_LABEL,
  OUTER_KEY_LENGTH,
  OuterKey,
  ROUTING_ID_LABEL,
  ROUTING_ID_LENGTH,
} from './outer.ts';
import {
  type ContentType,
  decodeMessage,
  encodeLibraryMessage,
  libraryMessage,
  type ReceivedMessage,
} from './wire.ts';

/** A member as its leaf names it. `signaturePublicKey` identifies it within the group across epochs. */
export interface Member {
  readonly leafIndex: number;
  readonly credential: MlsCredential;
  readonly signaturePublicKey: Uint8Array;
}

/** Whom to add (KeyPackages, as published) and whom to remove. Neither: a key update of the committer. */
export interface CommitRequest {
  readonly add?: readonly Uint8Array[];
  readonly remove?: readonly Pick<Member, 'signaturePublicKey'>[];
}

export type ProposalKind =
  | 'add'
  | 'update'
  | 'remove'
  | 'psk'
  | 'reinit'
  | 'external_init'
  | 'group_context_extensions'
  | 'custom';

/** A commit computed but not adopted: the group is still in `epoch` until `Group.merge`. */
export interface StagedCommit {
  readonly origin: 'own' | 'received';
  /** The epoch this commit ends; merging enters `epoch + 1`. */
  readonly epoch: bigint;
  /** Who made the commit; undefined only for an external commit, which `verify` refuses (rule V6). */
  readonly committer: Member | undefined;
  readonly added: readonly Member[];
  readonly removed: readonly Member[];
  /** True when this commit removes the local member: merging leaves the group. */
  readonly removesSelf: boolean;
  /** The commit as an MLSMessage: a PublicMessage for the facade's own commits. */
  readonly commit: Uint8Array;
  /** For own commits that add members: the Welcome (MLSMessage) to deliver once the commit wins. */
  readonly welcome: Uint8Array | undefined;
  /** For own commits: what was asked, so that a losing commit can be proposed again in the next epoch. */
  readonly request: CommitRequest | undefined;
}

/** Why `verify` refused a message: the rule V1–V9 (see `Group.verify`) that it broke. */
export type RejectionReason =
  | 'not_a_group_message'
  | 'wrong_group'
  | 'wrong_epoch'
  | 'not_a_member'
  | 'wrong_wire_format'
  | 'unsupported_sender'
  | 'invalid_membership_tag'
  | 'credential_rejected'
  | 'credential_unverifiable'
  | 'missing_update_path'
  | 'invalid';

export interface Rejected<R extends string = RejectionReason> {
  readonly kind: 'rejected';
  readonly reason: R;
  readonly detail: string;
}

/** The outcome of `Group.verify`: the second stage. */
export type Verified =
  | {
      readonly kind: 'application';
      readonly sender: Member;
      readonly data: Uint8Array;
      readonly authenticatedData: Uint8Array;
      readonly epoch: bigint;
    }
  | { readonly kind: 'proposal'; readonly proposal: ProposalKind; readonly sender: Member | undefined }
  | { readonly kind: 'commit'; readonly staged: StagedCommit }
  | Rejected;

export type CommitResult =
  | { readonly kind: 'staged'; readonly staged: StagedCommit }
  | Rejected<
      | 'credential_rejected'
      | 'credential_unverifiable'
      | 'invalid_key_package'
      | 'unknown_member'
      | 'missing_update_path'
      | 'invalid'
    >;

export type MergeResult =
  | {
      readonly kind: 'merged';
      readonly epoch: bigint;
      readonly added: readonly Member[];
      readonly removed: readonly Member[];
      /** Own commits of the ended epoch that can no longer be merged: propose their `request` again. */
      readonly discarded: readonly StagedCommit[];
    }
  | { readonly kind: 'removed'; readonly epoch: bigint; readonly discarded: readonly StagedCommit[] };

interface Transition {
  readonly base: ClientState;
  readonly next: ClientState;
  readonly consumed: readonly Uint8Array[];
}

/** The states behind each staged commit, out of callers' reach. */
const transitions = new WeakMap<StagedCommit, Transition>();

function proposalKind(proposal: Proposal): ProposalKind {
  return typeof proposal.proposalType === 'number' ? 'custom' : proposal.proposalType;
}

const PROPOSALS_REQUIRING_PATH: ReadonlySet<ProposalKind> = new Set<ProposalKind>([
  'update',
  'remove',
  'external_init',
  'group_context_extensions',
]);

function leafAt(tree: RatchetTree, leafIndex: number): LeafNode | undefined {
  const node = tree[leafIndex * 2];
  return node?.nodeType === 'leaf' ? node.leaf : undefined;
}

function toMember(leaf: LeafNode, leafIndex: number): Member {
  return {
    leafIndex,
    credential: toMlsCredential(leaf.credential),
    signaturePublicKey: leaf.signaturePublicKey,
  };
}

function membersOf(tree: RatchetTree): Member[] {
  const members: Member[] = [];
  for (let leafIndex = 0; leafIndex * 2 < tree.length; leafIndex++) {
    const leaf = leafAt(tree, leafIndex);
    if (leaf !== undefined) members.push(toMember(leaf, leafIndex));
  }
  return members;
}

function memberAt(tree: RatchetTree, leafIndex: number | undefined): Member | undefined {
  if (leafIndex === undefined) return undefined;
  const leaf = leafAt(tree, leafIndex);
  return leaf === undefined ? undefined : toMember(leaf, leafIndex);
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && constantTimeEqual(a, b);
}

/**
 * Members of `to` whose signature key `from` lacks. Linear in the group's size: a leaf that is the same object
 * in both trees at the same index (ts-mls keeps unchanged leaves across epochs) is skipped, and only when some
 * leaf differs are the keys of `from` collected, as text (signature keys are public) in a set.
 */
function membersOnlyIn(to: RatchetTree, from: RatchetTree): Member[] {
  const changed: Member[] = [];
  for (let leafIndex = 0; leafIndex * 2 < to.length; leafIndex++) {
    const leaf = leafAt(to, leafIndex);
    if (leaf !== undefined && leaf !== leafAt(from, leafIndex)) changed.push(toMember(leaf, leafIndex));
  }
  if (changed.length === 0) return [];
  const before = new Set<string>();
  for (let leafIndex = 0; leafIndex * 2 < from.length; leafIndex++) {
    const leaf = leafAt(from, leafIndex);
    if (leaf !== undefined) before.add(toHex(leaf.signaturePublicKey));
  }
  return changed.filter((member) => !before.has(toHex(member.signaturePublicKey)));
}

/**
 * RFC 9420 §12.4: whether a commit with these proposals must carry an UpdatePath, and if so whether it did.
 * A path replaces the committer's leaf (new encryption key); without one the leaf is unchanged.
 */
function lacksRequiredPath(
  proposals: readonly Proposal[],
  committerLeafIndex: number | undefined,
  base: RatchetTree,
  next: RatchetTree,
): boolean {
  const required =
    proposals.length === 0 || proposals.some((p) => PROPOSALS_REQUIRING_PATH.has(proposalKind(p)));
  if (!required || committerLeafIndex === undefined) return false;
  const before = leafAt(base, committerLeafIndex);
  const after = leafAt(next, committerLeafIndex);
  return before === undefined || after === undefined || sameKey(before.hpkePublicKey, after.hpkePublicKey);
}

/** ts-mls 1.6.4 forgets past epochs beyond the retention limit without wiping them; the facade wipes them. */
function wipeReceiverData(data: EpochReceiverData): void {
  const secrets = allSecretTreeValues(data.secretTree).filter((value) => value instanceof Uint8Array);
  wipe(...secrets, data.senderDataSecret);
}

function errorDetail(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A failure inside ts-mls, attributed to the AS when the AS said no during the operation. */
export function classify(
  error: unknown,
  recorder: AuthenticationRecorder,
): Rejected<'credential_rejected' | 'credential_unverifiable' | 'invalid'> {
  if (error instanceof ArgumentError || error instanceof MlsError) throw error;
  const verdict = recorder.verdict;
  if (verdict.kind === 'rejected') {
    return {
      kind: 'rejected',
      reason: 'credential_rejected',
      detail: 'the authentication service refused a credential',
    };
  }
  if (verdict.kind === 'unverifiable') {
    return { kind: 'rejected', reason: 'credential_unverifiable', detail: verdict.detail };
  }
  return { kind: 'rejected', reason: 'invalid', detail: errorDetail(error) };
}

function rejected<R extends string>(reason: R, detail: string): Rejected<R> {
  return { kind: 'rejected', reason, detail };
}

function encodePrivate(privateMessage: PrivateMessage): Uint8Array {
  return encodeLibraryMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage });
}

/**
 * Past-epoch receiver data of `next` with the entries `current` has advanced since `next` was computed from
 * an earlier state of the same epoch (messages read while the commit was staged), so that a message cannot
 * be read twice and its keys are not resurrected.
 */
function rebase(next: ClientState, base: ClientState, current: ClientState): ClientState {
  if (next.groupActiveState.kind === 'removedFromGroup') {
    return {
      ...current,
      ratchetTree: next.ratchetTree,
      unappliedProposals: {},
      groupActiveState: next.groupActiveState,
    };
  }
  const historical = new Map(next.historicalReceiverData);
  for (const [epoch, data] of historical) {
    if (epoch === base.groupContext.epoch) historical.set(epoch, { ...data, secretTree: current.secretTree });
    else {
      const advanced = current.historicalReceiverData.get(epoch);
      if (advanced !== undefined) historical.set(epoch, advanced);
    }
  }
  return { ...next, historicalReceiverData: historical };
}

const MAX_STATE_BYTES = VARINT_MAX;

/** What `Group.save` writes: the group state and, if any, the own commit waiting for the delivery service. */
const snapshotCodec = struct({
  version: literal(u8, 1),
  state: opaque(MAX_STATE_BYTES),
  pending: optional(
    struct({
      commit: opaque(MAX_STATE_BYTES),
      welcome: optional(opaque(MAX_STATE_BYTES)),
      next: opaque(MAX_STATE_BYTES),
      add: vectorOf(opaque(MAX_STATE_BYTES), 10_000),
      remove: vectorOf(opaque(1024), 10_000),
    }),
  ),
});

export function decodeSnapshot(bytes: Uint8Array) {
  return decode(snapshotCodec, bytes);
}

/** What a group needs from the `Mls` instance that made it. */
export interface GroupEnvironment {
  readonly ciphersuite: MlsCiphersuiteName;
  readonly cipherSuite: CiphersuiteImpl;
  readonly authenticationService: AuthenticationService;
  readonly backend: CryptoBackend;
  readonly externalPsks: Readonly<Record<string, Uint8Array>>;
}

export class Group {
  readonly #context: GroupEnvironment;
  #state: ClientState;
  #pending: StagedCommit | undefined;
  /** Operations on the state run one at a time: each one's result is the next one's starting state. */
  #queue: Promise<unknown> = Promise.resolve();

  /** Groups come from `Mls.createGroup`, `Mls.joinGroup` and `Mls.restoreGroup`. */
  constructor(
    context: GroupEnvironment,
    state: ClientState,
    pending?: {
      commit: Uint8Array;
      welcome: Uint8Array | undefined;
      next: ClientState;
      request: CommitRequest;
    },
  ) {
    this.#context = context;
    this.#state = state;
    if (pending !== undefined) {
      this.#pending = this.#stage('own', { base: state, next: pending.next, consumed: [] }, pending.commit, {
        welcome: pending.welcome,
        request: pending.request,
        committerLeafIndex: state.privatePath.leafIndex,
      });
    }
  }

  get groupId(): Uint8Array {
    return this.#state.groupContext.groupId;
  }

  get epoch(): bigint {
    return this.#state.groupContext.epoch;
  }

  get ciphersuite(): MlsCiphersuiteName {
    return this.#context.ciphersuite;
  }

  /** 'removed' once a merged commit removed this member; such a group can only be saved or dropped. */
  get status(): 'active' | 'removed' | 'suspended' {
    const { kind } = this.#state.groupActiveState;
    return kind === 'active' ? 'active' : kind === 'removedFromGroup' ? 'removed' : 'suspended';
  }

  /** The epoch authenticator (RFC 9420 §8.7): equal for every member in the same epoch of the same group. */
  get epochAuthenticator(): Uint8Array {
    return this.#state.keySchedule.epochAuthenticator;
  }

  get self(): Member {
    const member = memberAt(this.#state.ratchetTree, this.#state.privatePath.leafIndex);
    if (member === undefined) throw new MlsError('not_a_member', 'this member has no leaf in the group');
    return member;
  }

  get members(): readonly Member[] {
    return membersOf(this.#state.ratchetTree);
  }

  /** The own commit staged and not yet merged or discarded, if any. */
  get pendingCommit(): StagedCommit | undefined {
    return this.#pending;
  }

  /** Proposals received this epoch that the next commit will include. */
  get pendingProposals(): readonly {
    readonly proposal: ProposalKind;
    readonly sender: Member | undefined;
  }[] {
    return Object.values(this.#state.unappliedProposals).map(({ proposal, senderLeafIndex }) => ({
      proposal: proposalKind(proposal),
      sender: memberAt(this.#state.ratchetTree, senderLeafIndex),
    }));
  }

  /** This epoch's routing ID at the delivery service (32 bytes, an MLS exporter value). */
  routingId(): Promise<Uint8Array> {
    return this.#export(ROUTING_ID_LABEL, ROUTING_ID_LENGTH);
  }

  /** This epoch's key for the outer seal the delivery service stores. */
  async outerKey(): Promise<OuterKey> {
    const key = await this.#export(OUTER_KEY_LABEL, OUTER_KEY_LENGTH);
    return new OuterKey(this.#context.backend, key, this.epoch);
  }

  /**
   * A secret of this epoch for the application (RFC 9420 §8.5 MLS-Exporter): every member in this epoch
   * derives the same value for the same label, context and length, and nobody outside the epoch can. The
   * label is prefixed with `APPLICATION_EXPORT_PREFIX`, so no application label can ask for the routing ID's
   * or the outer key's value. Labels of 1 to `MAX_EXPORT_LABEL_BYTES` UTF-8 bytes, context of at most
   * `MAX_EXPORT_CONTEXT_BYTES`, length of 1 to `MAX_EXPORT_LENGTH` bytes; otherwise `ArgumentError`.
   */
  async exportSecret(label: string, context: Uint8Array, length: number): Promise<Uint8Array> {
    if (typeof label !== 'string') throw new ArgumentError('label', 'expected a string');
    const labelBytes = new TextEncoder().encode(label).length;
    if (labelBytes < 1 || labelBytes > MAX_EXPORT_LABEL_BYTES) {
      throw new ArgumentError('label', `expected 1 to ${MAX_EXPORT_LABEL_BYTES} UTF-8 bytes`);
    }
    assertBytes('context', context);
    if (context.length > MAX_EXPORT_CONTEXT_BYTES) {
      throw new ArgumentError('context', `at most ${MAX_EXPORT_CONTEXT_BYTES} bytes`);
    }
    if (!Number.isSafeInteger(length) || length < 1 || length > MAX_EXPORT_LENGTH) {
      throw new ArgumentError('length', `expected 1 to ${MAX_EXPORT_LENGTH} bytes`);
    }
    return this.#export(`${APPLICATION_EXPORT_PREFIX}${label}`, length, context);
  }

  #export(label: string, length: number, context: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    this.#assertActive();
    const exporterSecret = this.#state.keySchedule.exporterSecret;
    return mlsExporter(exporterSecret, label, context, length, this.#context.cipherSuite);
  }

  /**
   * Encrypts application data as a PrivateMessage (MLSMessage bytes), padded to nearly fill the outer bucket
   * it will be sealed in. The sending ratchet advances now. Data too large for the largest bucket throws
   * `ArgumentError`.
   */
  encrypt(data: Uint8Array, authenticatedData: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    return this.#exclusive(() => this.#encrypt(data, authenticatedData));
  }

  async #encrypt(data: Uint8Array, authenticatedData: Uint8Array): Promise<Uint8Array> {
    assertBytes('data', data);
    assertBytes('authenticatedData', authenticatedData);
    this.#assertActive();
    const recorder = this.#recorder();
    const overhead = privateMessageOverhead(this.groupId.length, authenticatedData.length);
    const padding = applicationPadding(data.length, overhead);
    const input = { ...this.#state, clientConfig: clientConfig(recorder, padding) };
    const result = await createApplicationMessage(input, data, this.#context.cipherSuite, authenticatedData);
    this.#state = result.newState;
    wipe(...result.consumed);
    return encodePrivate(result.privateMessage);
  }

  /**
   * Proposes this member's own removal (RFC 9420 §12.1.3: a member cannot commit its own removal), as a
   * PublicMessage. Another member commits it; this member leaves when it merges that commit.
   */
  proposeLeave(): Promise<Uint8Array> {
    return this.#exclusive(() => this.#proposeLeave());
  }

  async #proposeLeave(): Promise<Uint8Array> {
    this.#assertActive();
    if (this.#pending !== undefined)
      throw new MlsError('commit_pending', 'merge or discard the pending commit first');
    const proposal: Proposal = {
      proposalType: 'remove',
      remove: { removed: this.#state.privatePath.leafIndex },
    };
    const result = await createProposal(
      this.#input(this.#recorder()),
      true,
      proposal,
      this.#context.cipherSuite,
    );
    this.#state = result.newState;
    wipe(...result.consumed);
    return encodeLibraryMessage(result.message);
  }

  /**
   * Stages an own commit, a PublicMessage: adds, removes, or neither (a key update with a full UpdatePath).
   * It also commits every proposal received this epoch. The group stays in its epoch until `merge`; at most
   * one own commit may be pending.
   */
  commit(request: CommitRequest = {}): Promise<CommitResult> {
    return this.#exclusive(() => this.#commit(request));
  }

  async #commit(request: CommitRequest): Promise<CommitResult> {
    this.#assertActive();
    if (this.#pending !== undefined)
      throw new MlsError('commit_pending', 'merge or discard the pending commit first');
    const proposals: Proposal[] = [];
    for (const bytes of request.add ?? []) {
      let received: ReceivedMessage;
      try {
        received = decodeMessage(bytes);
      } catch (error) {
        return rejected('invalid_key_package', errorDetail(error));
      }
      const message = libraryMessage(received);
      if (message.wireformat !== 'mls_key_package')
        return rejected('invalid_key_package', 'not a KeyPackage');
      if (message.keyPackage.cipherSuite !== this.ciphersuite) {
        return rejected('invalid_key_package', 'the KeyPackage is for another ciphersuite');
      }
      proposals.push({ proposalType: 'add', add: { keyPackage: message.keyPackage } });
    }
    for (const { signaturePublicKey } of request.remove ?? []) {
      const member = this.members.find((m) => sameKey(m.signaturePublicKey, signaturePublicKey));
      if (member === undefined) return rejected('unknown_member', 'no member has this signature key');
      if (member.leafIndex === this.#state.privatePath.leafIndex) {
        throw new ArgumentError('remove', 'a member cannot commit its own removal; use proposeLeave()');
      }
      proposals.push({ proposalType: 'remove', remove: { removed: member.leafIndex } });
    }

    const base = this.#state;
    const recorder = this.#recorder();
    let result: Awaited<ReturnType<typeof createCommit>>;
    try {
      result = await createCommit(
        {
          state: this.#input(recorder),
          cipherSuite: this.#context.cipherSuite,
          pskIndex: this.#pskIndex(base),
        },
        { wireAsPublicMessage: true, extraProposals: proposals, ratchetTreeExtension: true },
      );
    } catch (error) {
      return classify(error, recorder);
    }
    const committed = [...Object.values(base.unappliedProposals).map((p) => p.proposal), ...proposals];
    const own = base.privatePath.leafIndex;
    if (lacksRequiredPath(committed, own, base.ratchetTree, result.newState.ratchetTree)) {
      return rejected(
        'missing_update_path',
        'the commit would not carry the UpdatePath RFC 9420 §12.4 requires',
      );
    }
    const welcome =
      result.welcome &&
      encodeLibraryMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome });
    this.#pending = this.#stage(
      'own',
      { base, next: result.newState, consumed: result.consumed },
      encodeLibraryMessage(result.commit),
      {
        welcome,
        request: { add: [...(request.add ?? [])], remove: [...(request.remove ?? [])] },
        committerLeafIndex: own,
      },
    );
    return { kind: 'staged', staged: this.#pending };
  }

  /** A key update: an empty commit, which carries a full UpdatePath. */
  update(): Promise<CommitResult> {
    return this.commit({});
  }

  /**
   * Authenticates a received message against the current state. Application data and proposals are applied
   * at once (the receiving ratchet advances, a proposal is kept for the next commit); a commit is staged.
   * Accepts bytes or a `decodeMessage` result; bytes that do not decode throw `CodecError`. The rules, in the
   * order they are checked, each with the reason it is refused for:
   *
   *   V1  a group message: PublicMessage or PrivateMessage                         not_a_group_message
   *   V2  this member is still in the group                                        not_a_member
   *   V3  this group                                                               wrong_group
   *   V4  this epoch; application data may also be of a retained past epoch
   *       (RFC 9420 §12.4.2: a commit is processed in its own epoch only)          wrong_epoch
   *   V5  application data only as PrivateMessage (RFC 9420 §6: "Applications
   *       MUST use PrivateMessage to encrypt application messages")                wrong_wire_format
   *   V6  a PublicMessage from a member only (sender_type member): umbra groups
   *       name no external senders (§12.1.8.1) and are joined by Welcome, never
   *       by external commit (§12.4.3.2); an outsider's Add (new_member_proposal)
   *       would otherwise be carried out by the next member to commit              unsupported_sender
   *   V7  a PublicMessage's membership_tag is this epoch's MAC of it (§6.2)        invalid_membership_tag
   *   V8  a PrivateMessage decrypts; the signature verifies with the sender's
   *       leaf (§6.1); a commit's proposals, path and confirmation tag are valid
   *       (§12.2, §12.4.2)                                                         invalid
   *       and the authentication service accepts every credential met            credential_rejected,
   *                                                                                credential_unverifiable
   *   V9  a commit that needs an UpdatePath carries one (§12.4)                    missing_update_path
   *
   * Commits and proposals are accepted in both formats: as PublicMessage, which the facade sends, and as
   * PrivateMessage, which umbra sent before and other implementations send by default.
   */
  verify(message: ReceivedMessage | Uint8Array): Promise<Verified> {
    return this.#exclusive(() => this.#verify(message));
  }

  async #verify(message: ReceivedMessage | Uint8Array): Promise<Verified> {
    const received = message instanceof Uint8Array ? decodeMessage(message) : message;
    // V1
    if (received.kind !== 'private-message' && received.kind !== 'public-message') {
      return rejected('not_a_group_message', `a ${received.kind} is not processed by a group`);
    }
    // V2–V4
    if (this.status !== 'active') return rejected('not_a_member', 'this member is no longer in the group');
    if (!sameKey(received.groupId, this.groupId))
      return rejected('wrong_group', 'the message is for another group');
    const epochError = this.#checkEpoch(received.epoch, received.contentType);
    if (epochError !== undefined) return epochError;
    if (
      received.contentType === 'commit' &&
      this.#pending !== undefined &&
      sameKey(this.#pending.commit, received.bytes)
    ) {
      return { kind: 'commit', staged: this.#pending };
    }

    const library = libraryMessage(received);
    if (library.wireformat === 'mls_public_message') {
      const publicMessage = library.publicMessage;
      // V5
      if (publicMessage.content.contentType === 'application') {
        return rejected('wrong_wire_format', 'application data must be a PrivateMessage (RFC 9420 §6)');
      }
      // V6
      if (publicMessage.senderType !== 'member') {
        return rejected('unsupported_sender', `a ${publicMessage.senderType} sender; only members send here`);
      }
      // V7
      if (!(await this.#membershipTagValid(publicMessage))) {
        return rejected('invalid_membership_tag', 'the membership tag does not match (RFC 9420 §6.2)');
      }
    }

    const base = this.#state;
    const recorder = this.#recorder();
    let commit: { committerLeafIndex: number | undefined; proposals: ProposalWithSender[] } | undefined;
    let proposal: ProposalWithSender | undefined;
    const callback: IncomingMessageCallback = (incoming) => {
      if (incoming.kind === 'commit') {
        commit = { committerLeafIndex: incoming.senderLeafIndex, proposals: incoming.proposals };
      } else proposal = incoming.proposal;
      return 'accept';
    };
    // V8 (and V9 in #afterHandshake)
    try {
      if (library.wireformat === 'mls_public_message') {
        const result = await processPublicMessage(
          this.#input(recorder),
          library.publicMessage,
          this.#pskIndex(base),
          this.#context.cipherSuite,
          callback,
        );
        return this.#afterHandshake(base, result.newState, result.consumed, received, commit, proposal);
      }
      if (library.wireformat !== 'mls_private_message')
        return rejected('not_a_group_message', 'unexpected wire format');
      const sender =
        received.contentType === 'application'
          ? await this.#applicationSender(library.privateMessage)
          : undefined;
      const result = await processPrivateMessage(
        this.#input(recorder),
        library.privateMessage,
        this.#pskIndex(base),
        this.#context.cipherSuite,
        callback,
      );
      if (result.kind === 'applicationMessage') {
        if (sender === undefined) return rejected('invalid', 'the sender of the message has no leaf');
        this.#state = result.newState;
        wipe(...result.consumed);
        return {
          kind: 'application',
          sender,
          data: result.message,
          authenticatedData: library.privateMessage.authenticatedData,
          epoch: received.epoch,
        };
      }
      return this.#afterHandshake(base, result.newState, result.consumed, received, commit, proposal);
    } catch (error) {
      return classify(error, recorder);
    }
  }

  #afterHandshake(
    base: ClientState,
    next: ClientState,
    consumed: Uint8Array[],
    received: ReceivedMessage & { contentType: ContentType },
    commit: { committerLeafIndex: number | undefined; proposals: ProposalWithSender[] } | undefined,
    proposal: ProposalWithSender | undefined,
  ): Verified {
    if (received.contentType === 'proposal') {
      if (proposal === undefined) return rejected('invalid', 'no proposal was processed');
      this.#state = next;
      wipe(...consumed);
      return {
        kind: 'proposal',
        proposal: proposalKind(proposal.proposal),
        sender: memberAt(base.ratchetTree, proposal.senderLeafIndex),
      };
    }
    if (commit === undefined) return rejected('invalid', 'no commit was processed');
    const removesSelf = next.groupActiveState.kind === 'removedFromGroup';
    const proposals = commit.proposals.map((p) => p.proposal);
    if (
      !removesSelf &&
      lacksRequiredPath(proposals, commit.committerLeafIndex, base.ratchetTree, next.ratchetTree)
    ) {
      return rejected('missing_update_path', 'the commit lacks the UpdatePath RFC 9420 §12.4 requires');
    }
    const staged = this.#stage('received', { base, next, consumed }, received.bytes, {
      welcome: undefined,
      request: undefined,
      committerLeafIndex: commit.committerLeafIndex,
    });
    return { kind: 'commit', staged };
  }

  /**
   * Adopts a staged commit: the group enters the next epoch and the secrets of the old one that the
   * transition consumed are wiped. Own commits of the ended epoch are returned as discarded. Throws
   * `MlsError('stale_commit')` when the group is no longer in the epoch the commit ends.
   */
  merge(staged: StagedCommit): Promise<MergeResult> {
    return this.#exclusive(async () => this.#merge(staged));
  }

  #merge(staged: StagedCommit): MergeResult {
    const transition = transitions.get(staged);
    if (transition === undefined) throw new ArgumentError('staged', 'expected a commit staged by a group');
    const current = this.#state;
    const { base, next, consumed } = transition;
    const sameEpoch =
      base === current ||
      (sameKey(base.groupContext.groupId, current.groupContext.groupId) &&
        base.groupContext.epoch === current.groupContext.epoch &&
        sameKey(base.keySchedule.epochAuthenticator, current.keySchedule.epochAuthenticator));
    if (!sameEpoch || this.status !== 'active') {
      throw new MlsError('stale_commit', `the group is no longer in epoch ${staged.epoch}`);
    }
    const merged = base === current ? next : rebase(next, base, current);
    const discarded = this.#pending !== undefined && this.#pending !== staged ? [this.#pending] : [];
    this.#pending = undefined;
    for (const [epoch, data] of current.historicalReceiverData) {
      if (!merged.historicalReceiverData.has(epoch)) wipeReceiverData(data);
    }
    wipe(...consumed);
    this.#state = merged;
    if (staged.removesSelf) return { kind: 'removed', epoch: staged.epoch, discarded };
    return { kind: 'merged', epoch: this.epoch, added: staged.added, removed: staged.removed, discarded };
  }

  /** Drops a staged commit that lost its epoch at the delivery service. The group state is untouched. */
  discard(staged: StagedCommit): void {
    if (this.#pending === staged) this.#pending = undefined;
  }

  /**
   * The whole group state as bytes, for the vault: it holds the epoch's secrets and the signature key, so it
   * must be stored encrypted. Includes the pending own commit, which can still win after a restart.
   */
  save(): Uint8Array {
    const pending = this.#pending;
    const transition = pending && transitions.get(pending);
    return encode(snapshotCodec, {
      version: 1,
      state: encodeGroupState(this.#state),
      pending:
        pending && transition
          ? {
              commit: pending.commit,
              welcome: pending.welcome,
              next: encodeGroupState(transition.next),
              add: pending.request?.add ?? [],
              remove: (pending.request?.remove ?? []).map((member) => member.signaturePublicKey),
            }
          : undefined,
    });
  }

  #stage(
    origin: 'own' | 'received',
    transition: Transition,
    commit: Uint8Array,
    extra: {
      welcome: Uint8Array | undefined;
      request: CommitRequest | undefined;
      committerLeafIndex: number | undefined;
    },
  ): StagedCommit {
    const { base, next } = transition;
    const staged: StagedCommit = Object.freeze({
      origin,
      epoch: base.groupContext.epoch,
      committer: memberAt(base.ratchetTree, extra.committerLeafIndex),
      added: membersOnlyIn(next.ratchetTree, base.ratchetTree),
      removed: membersOnlyIn(base.ratchetTree, next.ratchetTree),
      removesSelf: next.groupActiveState.kind === 'removedFromGroup',
      commit,
      welcome: extra.welcome,
      request: extra.request,
    });
    transitions.set(staged, transition);
    return staged;
  }

  #checkEpoch(epoch: bigint, contentType: ContentType): Rejected | undefined {
    const current = this.epoch;
    if (epoch === current) return undefined;
    if (contentType === 'application' && epoch < current && this.#state.historicalReceiverData.has(epoch)) {
      return undefined;
    }
    return rejected('wrong_epoch', `message of epoch ${epoch}, group in epoch ${current}`);
  }

  /** RFC 9420 §6.2: membership_tag = MAC(membership_key, AuthenticatedContentTBM) under this epoch's key. */
  #membershipTagValid(message: PublicMessage & { senderType: 'member' }): Promise<boolean> {
    const { groupContext, keySchedule } = this.#state;
    const tbm = {
      contentTbs: toTbs(message.content, 'mls_public_message', groupContext),
      auth: message.auth,
    };
    return verifyMembershipTag(
      keySchedule.membershipKey,
      tbm,
      message.membershipTag,
      this.#context.cipherSuite.hash,
    );
  }

  /** The sender of a PrivateMessage, from its encrypted sender data (RFC 9420 §6.3.2). */
  async #applicationSender(message: PrivateMessage): Promise<Member | undefined> {
    const receiver =
      message.epoch === this.epoch
        ? { senderDataSecret: this.#state.keySchedule.senderDataSecret, ratchetTree: this.#state.ratchetTree }
        : this.#state.historicalReceiverData.get(message.epoch);
    if (receiver === undefined) return undefined;
    const senderData = await decryptSenderData(message, receiver.senderDataSecret, this.#context.cipherSuite);
    return memberAt(receiver.ratchetTree, senderData?.leafIndex);
  }

  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation, operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #recorder(): AuthenticationRecorder {
    return new AuthenticationRecorder(this.#context.authenticationService);
  }

  #input(recorder: AuthenticationRecorder): ClientState {
    return { ...this.#state, clientConfig: clientConfig(recorder) };
  }

  #pskIndex(state: ClientState) {
    return makePskIndex(state, { ...this.#context.externalPsks });
  }

  #assertActive(): void {
    if (this.status !== 'active')
      throw new MlsError('not_a_member', 'this member cannot send in the group any more');
  }
}
