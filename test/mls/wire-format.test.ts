// Wire formats (RFC 9420 §6, §6.2; group.ts rules V5–V7). On the way out: the facade's commits and proposals
// are PublicMessages from a member with a valid membership tag, its application data PrivateMessages. Across
// implementations: a plain ts-mls 1.6.4 client that never touches the facade (its own state from the
// facade's Welcome, the library's default settings, ts-mls's own processMessage) follows the facade's
// commits and proposals, taking handshake messages only as PublicMessage as openmls does under a plaintext
// wire-format policy, and the facade follows its commits in either format. On the way in: an application
// PublicMessage, a tampered membership tag and an outsider's proposal are refused, each with its reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as raw from 'ts-mls';
import { createMembershipTag, verifyMembershipTag } from 'ts-mls/authenticatedContent.js';
import {
  type FramedContentApplicationOrProposal,
  signFramedContentApplicationOrProposal,
  toTbs,
} from 'ts-mls/framedContent.js';
import { protectExternalProposalPublic } from 'ts-mls/messageProtectionPublic.js';
import { toHex, utf8 } from '../../src/bytes.ts';
import {
  type CommitResult,
  DEFAULT_CIPHERSUITE,
  decodeMessage,
  type Group,
  outerBucket,
  type StagedCommit,
  type Verified,
} from '../../src/mls/index.ts';
import { libraryMessage } from '../../src/mls/wire.ts';
import { DirectoryAuthenticationService, member, type TestMember } from './helpers.ts';

const cs = await raw.getCiphersuiteImpl(raw.getCiphersuiteFromName(DEFAULT_CIPHERSUITE));

/** The wire_format field of an MLSMessage (RFC 9420 §6): the two bytes after the protocol version. */
function wireFormat(bytes: Uint8Array): number {
  return ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
}
const MLS_PUBLIC_MESSAGE = 1;
const MLS_PRIVATE_MESSAGE = 2;

function staged(result: CommitResult): StagedCommit {
  assert.equal(result.kind, 'staged', result.kind === 'rejected' ? result.detail : '');
  return (result as Extract<CommitResult, { kind: 'staged' }>).staged;
}

function asCommit(result: Verified): StagedCommit {
  assert.equal(result.kind, 'commit', result.kind === 'rejected' ? `${result.reason}: ${result.detail}` : '');
  return (result as Extract<Verified, { kind: 'commit' }>).staged;
}

function reason(result: Verified): string {
  return result.kind === 'rejected' ? result.reason : `accepted as ${result.kind}`;
}

/**
 * A client on plain ts-mls: its own state and the library's defaults, nothing of the facade. Like openmls
 * with a plaintext incoming wire-format policy, it takes proposals and commits only as PublicMessage.
 */
class PlainPeer {
  state: raw.ClientState;

  constructor(state: raw.ClientState) {
    this.state = state;
  }

  get epochAuthenticator(): string {
    return toHex(this.state.keySchedule.epochAuthenticator);
  }

  async process(bytes: Uint8Array): Promise<raw.ProcessMessageResult> {
    const decoded = raw.decodeMlsMessage(bytes, 0);
    assert.ok(decoded !== undefined && decoded[1] === bytes.length, 'one whole MLSMessage');
    const message = decoded[0];
    if (message.wireformat !== 'mls_private_message' && message.wireformat !== 'mls_public_message')
      throw new Error(`not a group message: ${message.wireformat}`);
    if (message.wireformat === 'mls_private_message')
      assert.equal(message.privateMessage.contentType, 'application', 'handshake messages must be public');
    const result = await raw.processMessage(message, this.state, raw.emptyPskIndex, raw.acceptAll, cs);
    this.state = result.newState;
    return result;
  }

  /** A commit of its own, applied at once (as if the delivery service accepted it). */
  async commit(options: raw.CreateCommitOptions): Promise<Uint8Array> {
    const result = await raw.createCommit({ state: this.state, cipherSuite: cs }, options);
    this.state = result.newState;
    return raw.encodeMlsMessage(result.commit);
  }
}

/** A ts-mls KeyPackage (as an MLSMessage) whose signature key `directory` binds to `name`. */
async function plainKeyPackage(name: string, directory: DirectoryAuthenticationService) {
  const keys = await raw.generateKeyPackage(
    { credentialType: 'basic', identity: utf8(name) },
    raw.defaultCapabilities(),
    { notBefore: 0n, notAfter: BigInt(Math.floor(Date.now() / 1000) + 3600) },
    [],
    cs,
  );
  directory.bind(name, keys.publicPackage.leafNode.signaturePublicKey);
  const message = raw.encodeMlsMessage({
    version: 'mls10',
    wireformat: 'mls_key_package',
    keyPackage: keys.publicPackage,
  });
  return { ...keys, message };
}

async function join(joiner: TestMember, welcome: Uint8Array | undefined): Promise<Group> {
  assert.ok(welcome);
  const result = await joiner.mls.joinGroup({ welcome, keyPackage: joiner.keyPackage });
  assert.equal(result.kind, 'joined', result.kind === 'rejected' ? `${result.reason}: ${result.detail}` : '');
  return (result as Extract<typeof result, { kind: 'joined' }>).group;
}

/** Alice creates the group and adds Bob, Carol (facade members) and Dana (plain ts-mls) in one commit. */
async function mixedGroup() {
  const directory = new DirectoryAuthenticationService();
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map((name) => member(name, directory)),
  );
  assert.ok(alice && bob && carol);
  const dana = await plainKeyPackage('dana', directory);
  const aliceGroup = await alice.mls.createGroup({ keyPackage: alice.keyPackage });
  const add = staged(
    await aliceGroup.commit({
      add: [bob.keyPackage.keyPackage, carol.keyPackage.keyPackage, dana.message],
    }),
  );
  await aliceGroup.merge(add);
  const [bobGroup, carolGroup] = await Promise.all([join(bob, add.welcome), join(carol, add.welcome)]);
  assert.ok(add.welcome);
  const welcome = raw.decodeMlsMessage(add.welcome, 0)?.[0];
  assert.ok(welcome?.wireformat === 'mls_welcome');
  const danaPeer = new PlainPeer(
    await raw.joinGroup(welcome.welcome, dana.publicPackage, dana.privatePackage, raw.emptyPskIndex, cs),
  );
  assert.equal(danaPeer.epochAuthenticator, toHex(aliceGroup.epochAuthenticator));
  return { directory, alice, bob, carol, aliceGroup, bobGroup, carolGroup, danaPeer };
}

/** Every facade member verifies and merges the winning commit, then its author merges it. */
async function deliver(commit: StagedCommit, author: Group, receivers: readonly Group[]): Promise<void> {
  for (const group of receivers) await group.merge(asCommit(await group.verify(commit.commit)));
  await author.merge(commit);
}

/** The membership tag of a PublicMessage checked by ts-mls with a plain member's key of the same epoch. */
async function membershipTagValid(bytes: Uint8Array, state: raw.ClientState): Promise<boolean> {
  const message = libraryMessage(decodeMessage(bytes));
  assert.ok(message.wireformat === 'mls_public_message' && message.publicMessage.senderType === 'member');
  const { content, auth, membershipTag } = message.publicMessage;
  return verifyMembershipTag(
    state.keySchedule.membershipKey,
    { contentTbs: toTbs(content, 'mls_public_message', state.groupContext), auth },
    membershipTag,
    cs.hash,
  );
}

/** A well-formed application PublicMessage from a member: signed, with a valid membership tag. */
async function publicApplicationMessage(state: raw.ClientState, data: Uint8Array): Promise<Uint8Array> {
  const content: FramedContentApplicationOrProposal = {
    groupId: state.groupContext.groupId,
    epoch: state.groupContext.epoch,
    sender: { senderType: 'member', leafIndex: state.privatePath.leafIndex },
    authenticatedData: new Uint8Array(0),
    contentType: 'application',
    applicationData: data,
  };
  const contentTbs = toTbs(content, 'mls_public_message', state.groupContext);
  const auth = await signFramedContentApplicationOrProposal(
    state.signaturePrivateKey,
    { ...contentTbs, content },
    cs,
  );
  const membershipTag = await createMembershipTag(
    state.keySchedule.membershipKey,
    { contentTbs, auth },
    cs.hash,
  );
  return raw.encodeMlsMessage({
    version: 'mls10',
    wireformat: 'mls_public_message',
    publicMessage: { content, auth, senderType: 'member', membershipTag },
  });
}

describe('what the facade sends', () => {
  test('a commit is a PublicMessage (wire_format 1) from the committing member with a valid membership tag', async () => {
    const { directory, aliceGroup, bobGroup, carolGroup, danaPeer, carol } = await mixedGroup();
    const eve = await member('eve', directory);
    for (const request of [
      {},
      { add: [eve.keyPackage.keyPackage] },
      { remove: [{ signaturePublicKey: carol.signaturePublicKey }] },
    ]) {
      const commit = staged(await aliceGroup.commit(request));
      assert.equal(wireFormat(commit.commit), MLS_PUBLIC_MESSAGE);
      const received = decodeMessage(commit.commit);
      assert.equal(received.kind, 'public-message');
      if (received.kind !== 'public-message') return;
      assert.equal(received.contentType, 'commit');
      assert.equal(received.senderType, 'member');
      const message = libraryMessage(received);
      assert.ok(message.wireformat === 'mls_public_message');
      const sender = message.publicMessage.content.sender;
      assert.equal(sender.senderType === 'member' && sender.leafIndex, aliceGroup.self.leafIndex);
      assert.ok(
        await membershipTagValid(commit.commit, danaPeer.state),
        'tag under the epoch membership key',
      );
      aliceGroup.discard(commit);
    }
    // The commit that ends up merged works end to end, sealed like every other message.
    const update = staged(await aliceGroup.update());
    await deliver(update, aliceGroup, [bobGroup, carolGroup]);
    assert.equal(bobGroup.epoch, 2n);
  });

  test('a proposal is a PublicMessage from the member with a valid membership tag, in the smallest bucket', async () => {
    const { carolGroup, danaPeer } = await mixedGroup();
    const proposal = await carolGroup.proposeLeave();
    assert.equal(wireFormat(proposal), MLS_PUBLIC_MESSAGE);
    const received = decodeMessage(proposal);
    assert.ok(received.kind === 'public-message');
    assert.equal(received.contentType, 'proposal');
    assert.equal(received.senderType, 'member');
    assert.ok(await membershipTagValid(proposal, danaPeer.state));
    assert.equal(outerBucket(proposal.length), 1024);
  });

  test('application data stays a PrivateMessage (wire_format 2)', async () => {
    const { bobGroup } = await mixedGroup();
    const message = await bobGroup.encrypt(utf8('private'));
    assert.equal(wireFormat(message), MLS_PRIVATE_MESSAGE);
    assert.equal(decodeMessage(message).kind, 'private-message');
  });
});

describe('a plain ts-mls client beside the facade', () => {
  test('follows the facade’s commits and proposals with processMessage, PublicMessages only', async () => {
    const { directory, aliceGroup, bobGroup, carolGroup, danaPeer } = await mixedGroup();

    const update = staged(await bobGroup.update());
    await danaPeer.process(update.commit);
    await deliver(update, bobGroup, [aliceGroup, carolGroup]);
    assert.equal(danaPeer.epochAuthenticator, toHex(aliceGroup.epochAuthenticator));

    const eve = await member('eve', directory);
    const add = staged(await aliceGroup.commit({ add: [eve.keyPackage.keyPackage] }));
    await danaPeer.process(add.commit);
    await deliver(add, aliceGroup, [bobGroup, carolGroup]);
    const eveGroup = await join(eve, add.welcome);
    assert.equal(danaPeer.epochAuthenticator, toHex(eveGroup.epochAuthenticator));

    // Carol leaves: her proposal, then Alice's commit of it.
    const leave = await carolGroup.proposeLeave();
    for (const group of [aliceGroup, bobGroup, eveGroup])
      assert.equal((await group.verify(leave)).kind, 'proposal');
    await danaPeer.process(leave);
    const removal = staged(await aliceGroup.commit());
    assert.equal(removal.removed.length, 1);
    await danaPeer.process(removal.commit);
    assert.equal((await carolGroup.merge(asCommit(await carolGroup.verify(removal.commit)))).kind, 'removed');
    await deliver(removal, aliceGroup, [bobGroup, eveGroup]);
    assert.equal(danaPeer.epochAuthenticator, toHex(aliceGroup.epochAuthenticator));
    assert.equal(aliceGroup.epoch, 4n);

    // Application data both ways, as PrivateMessage.
    const read = await danaPeer.process(await aliceGroup.encrypt(utf8('to dana')));
    assert.equal(read.kind === 'applicationMessage' && new TextDecoder().decode(read.message), 'to dana');
    const sent = await raw.createApplicationMessage(danaPeer.state, utf8('from dana'), cs);
    danaPeer.state = sent.newState;
    const fromDana = await bobGroup.verify(
      raw.encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_private_message',
        privateMessage: sent.privateMessage,
      }),
    );
    assert.equal(fromDana.kind === 'application' && new TextDecoder().decode(fromDana.data), 'from dana');
  });

  test('the facade follows its commits as PublicMessage and, as umbra used to send them, as PrivateMessage', async () => {
    const { aliceGroup, bobGroup, carolGroup, danaPeer } = await mixedGroup();
    const groups = [aliceGroup, bobGroup, carolGroup];
    for (const wireAsPublicMessage of [true, false]) {
      const commit = await danaPeer.commit({ wireAsPublicMessage });
      assert.equal(wireFormat(commit), wireAsPublicMessage ? MLS_PUBLIC_MESSAGE : MLS_PRIVATE_MESSAGE);
      for (const group of groups) {
        const seen = asCommit(await group.verify(commit));
        assert.equal(seen.committer?.leafIndex, danaPeer.state.privatePath.leafIndex);
        await group.merge(seen);
        assert.equal(toHex(group.epochAuthenticator), danaPeer.epochAuthenticator);
      }
    }
    assert.equal(aliceGroup.epoch, 3n);
  });
});

describe('what the facade refuses', () => {
  test('V5: application data sent as a PublicMessage, even signed and tagged by a member (RFC 9420 §6)', async () => {
    const { aliceGroup, bobGroup, danaPeer } = await mixedGroup();
    const forged = await publicApplicationMessage(danaPeer.state, utf8('in the clear'));
    const received = decodeMessage(forged);
    assert.ok(received.kind === 'public-message' && received.contentType === 'application');
    assert.ok(await membershipTagValid(forged, danaPeer.state), 'otherwise a valid message');
    assert.equal(reason(await aliceGroup.verify(forged)), 'wrong_wire_format');
    const next = await bobGroup.encrypt(utf8('still readable'));
    assert.equal((await aliceGroup.verify(next)).kind, 'application');
  });

  test('V7: a commit or proposal whose membership tag was altered; the genuine one still verifies', async () => {
    const { aliceGroup, bobGroup, carolGroup, danaPeer } = await mixedGroup();
    const update = staged(await aliceGroup.update());
    const proposal = await carolGroup.proposeLeave();
    for (const [genuine, kind] of [
      [update.commit, 'commit'],
      [proposal, 'proposal'],
    ] as const) {
      // membership_tag is the PublicMessage's last field: flip its last byte.
      const tampered = Uint8Array.from(genuine);
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
      assert.equal(decodeMessage(tampered).kind, 'public-message');
      assert.equal(reason(await bobGroup.verify(tampered)), 'invalid_membership_tag');
      await assert.rejects(new PlainPeer(danaPeer.state).process(tampered), 'plain ts-mls refuses it too');
      assert.equal((await bobGroup.verify(genuine)).kind, kind);
    }
    assert.equal(bobGroup.epoch, 1n);
  });

  test('V6: a proposal from outside the group (new_member_proposal), which plain ts-mls would keep', async () => {
    const { directory, aliceGroup, danaPeer } = await mixedGroup();
    const mallory = await plainKeyPackage('mallory', directory);
    const { publicMessage } = await protectExternalProposalPublic(
      mallory.privatePackage.signaturePrivateKey,
      danaPeer.state.groupContext,
      new Uint8Array(0),
      { proposalType: 'add', add: { keyPackage: mallory.publicPackage } },
      { senderType: 'new_member_proposal' },
      cs,
    );
    const bytes = raw.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_public_message', publicMessage });
    assert.equal(reason(await aliceGroup.verify(bytes)), 'unsupported_sender');
    assert.deepEqual(aliceGroup.pendingProposals, []);
    const plain = await raw.processMessage(
      { wireformat: 'mls_public_message', publicMessage },
      danaPeer.state,
      raw.emptyPskIndex,
      raw.acceptAll,
      cs,
    );
    assert.equal(Object.keys(plain.newState.unappliedProposals).length, 1);
  });
});
