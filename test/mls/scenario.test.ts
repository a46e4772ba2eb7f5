// Three members through the facade, as the client SDK will drive it: create, add, remove, update, two
// commits racing for one epoch, save and restore, and an authentication service that says no.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toHex, utf8 } from '../../src/bytes.ts';
import { cryptoBackend } from '../../src/crypto/index.ts';
import { ArgumentError, MlsError } from '../../src/errors.ts';
import {
  type CommitResult,
  decodeMessage,
  type Group,
  type Member,
  Mls,
  type StagedCommit,
  type Verified,
} from '../../src/mls/index.ts';
import { DirectoryAuthenticationService, member, type TestMember } from './helpers.ts';

function identityOf(m: Member): string {
  return m.credential.kind === 'basic' ? new TextDecoder().decode(m.credential.identity) : '';
}

function keyPackageKey(keyPackage: Uint8Array): Uint8Array {
  const decoded = decodeMessage(keyPackage);
  assert.equal(decoded.kind, 'key-package');
  return decoded.kind === 'key-package' ? decoded.signaturePublicKey : new Uint8Array();
}

function staged(result: CommitResult): StagedCommit {
  assert.equal(result.kind, 'staged', result.kind === 'rejected' ? result.detail : '');
  return (result as Extract<CommitResult, { kind: 'staged' }>).staged;
}

function asCommit(result: Verified): StagedCommit {
  assert.equal(result.kind, 'commit', result.kind === 'rejected' ? `${result.reason}: ${result.detail}` : '');
  return (result as Extract<Verified, { kind: 'commit' }>).staged;
}

/** What the delivery service does for a winning commit: every other member verifies and merges it. */
async function deliver(commit: StagedCommit, author: Group, receivers: readonly Group[]): Promise<void> {
  for (const group of receivers) await group.merge(asCommit(await group.verify(commit.commit)));
  await author.merge(commit);
}

async function join(joiner: TestMember, welcome: Uint8Array | undefined): Promise<Group> {
  assert.ok(welcome);
  const result = await joiner.mls.joinGroup({ welcome, keyPackage: joiner.keyPackage });
  assert.equal(result.kind, 'joined', result.kind === 'rejected' ? `${result.reason}: ${result.detail}` : '');
  return (result as Extract<typeof result, { kind: 'joined' }>).group;
}

async function read(group: Group, message: Uint8Array): Promise<string> {
  const result = await group.verify(message);
  assert.equal(
    result.kind,
    'application',
    result.kind === 'rejected' ? `${result.reason}: ${result.detail}` : '',
  );
  return new TextDecoder().decode((result as Extract<Verified, { kind: 'application' }>).data);
}

function assertSameEpoch(...groups: Group[]): void {
  const [first, ...rest] = groups;
  assert.ok(first);
  for (const group of rest) {
    assert.equal(group.epoch, first.epoch);
    assert.equal(toHex(group.epochAuthenticator), toHex(first.epochAuthenticator));
  }
}

/** Alice creates the group and adds Bob and Carol in one commit, which the delivery service accepts. */
async function threeMembers() {
  const directory = new DirectoryAuthenticationService();
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map((name) => member(name, directory)),
  );
  assert.ok(alice && bob && carol);
  const aliceGroup = await alice.mls.createGroup({ keyPackage: alice.keyPackage });
  const add = staged(
    await aliceGroup.commit({ add: [bob.keyPackage.keyPackage, carol.keyPackage.keyPackage] }),
  );
  assert.equal(aliceGroup.epoch, 0n, 'a staged commit is not applied');
  await aliceGroup.merge(add);
  const [bobGroup, carolGroup] = await Promise.all([join(bob, add.welcome), join(carol, add.welcome)]);
  return { directory, alice, bob, carol, aliceGroup, bobGroup, carolGroup };
}

describe('MLS groups through the facade', () => {
  test('create and add: the joiners reach the creator’s epoch and read each other', async () => {
    const { aliceGroup, bobGroup, carolGroup, bob } = await threeMembers();
    assertSameEpoch(aliceGroup, bobGroup, carolGroup);
    assert.equal(aliceGroup.epoch, 1n);
    assert.deepEqual(aliceGroup.members.map(identityOf), ['alice', 'bob', 'carol']);
    const message = await bobGroup.encrypt(utf8('hello from bob'));
    for (const group of [aliceGroup, carolGroup]) {
      const result = await group.verify(message);
      assert.equal(result.kind, 'application');
      if (result.kind !== 'application') return;
      assert.equal(new TextDecoder().decode(result.data), 'hello from bob');
      assert.equal(toHex(result.sender.signaturePublicKey), toHex(bob.signaturePublicKey));
    }
    assert.equal(toHex(await aliceGroup.routingId()), toHex(await carolGroup.routingId()));
  });

  test('remove: the removed member leaves and cannot read what is sent afterwards', async () => {
    const { aliceGroup, bobGroup, carolGroup, carol } = await threeMembers();
    const carolBefore = carolGroup.save();
    const removal = staged(
      await aliceGroup.commit({ remove: [{ signaturePublicKey: carol.signaturePublicKey }] }),
    );
    assert.deepEqual(
      removal.removed.map((m) => toHex(m.signaturePublicKey)),
      [toHex(carol.signaturePublicKey)],
    );

    const carolSees = asCommit(await carolGroup.verify(removal.commit));
    assert.equal(carolSees.removesSelf, true);
    assert.equal((await carolGroup.merge(carolSees)).kind, 'removed');
    assert.equal(carolGroup.status, 'removed');
    await deliver(removal, aliceGroup, [bobGroup]);
    assertSameEpoch(aliceGroup, bobGroup);
    assert.equal(aliceGroup.members.length, 2);

    const secret = await aliceGroup.encrypt(utf8('after carol left'));
    assert.equal(await read(bobGroup, secret), 'after carol left');
    const afterMerge = await carolGroup.verify(secret);
    assert.equal(afterMerge.kind === 'rejected' && afterMerge.reason, 'not_a_member');
    await assert.rejects(
      carolGroup.encrypt(utf8('still here?')),
      (e) => e instanceof MlsError && e.reason === 'not_a_member',
    );

    // Carol's state from before the removal knows only the old epoch's keys.
    const carolOld = await carol.mls.restoreGroup(carolBefore);
    const withOldState = await carolOld.verify(secret);
    assert.equal(withOldState.kind === 'rejected' && withOldState.reason, 'wrong_epoch');
    assert.notEqual(toHex(await carolOld.routingId()), toHex(await aliceGroup.routingId()));
  });

  test('leave: a member proposes its own removal and the next commit carries it out', async () => {
    const { aliceGroup, bobGroup, carolGroup, carol } = await threeMembers();
    const proposal = await carolGroup.proposeLeave();
    for (const group of [aliceGroup, bobGroup]) {
      const seen = await group.verify(proposal);
      assert.equal(seen.kind === 'proposal' && seen.proposal, 'remove');
      assert.equal(
        seen.kind === 'proposal' && seen.sender && toHex(seen.sender.signaturePublicKey),
        toHex(carol.signaturePublicKey),
      );
    }
    assert.deepEqual(
      aliceGroup.pendingProposals.map((p) => p.proposal),
      ['remove'],
    );
    const commit = staged(await aliceGroup.commit());
    assert.deepEqual(
      commit.removed.map((m) => toHex(m.signaturePublicKey)),
      [toHex(carol.signaturePublicKey)],
    );
    const carolSees = asCommit(await carolGroup.verify(commit.commit));
    assert.equal((await carolGroup.merge(carolSees)).kind, 'removed');
    await deliver(commit, aliceGroup, [bobGroup]);
    assertSameEpoch(aliceGroup, bobGroup);
    assert.equal(bobGroup.members.length, 2);
  });

  test('update: an empty commit replaces the committer’s keys and moves everyone to a new epoch', async () => {
    const { aliceGroup, bobGroup, carolGroup } = await threeMembers();
    const routingBefore = toHex(await aliceGroup.routingId());
    const update = staged(await bobGroup.update());
    assert.deepEqual([update.added.length, update.removed.length], [0, 0]);
    await deliver(update, bobGroup, [aliceGroup, carolGroup]);
    assertSameEpoch(aliceGroup, bobGroup, carolGroup);
    assert.equal(aliceGroup.epoch, 2n);
    assert.notEqual(toHex(await aliceGroup.routingId()), routingBefore);
    assert.equal(await read(aliceGroup, await carolGroup.encrypt(utf8('new keys'))), 'new keys');
  });

  test('two commits for one epoch: the delivery service’s winner is merged, the loser discarded and re-proposed', async () => {
    const { directory, aliceGroup, bobGroup, carolGroup } = await threeMembers();
    const dave = await member('dave', directory);
    const aliceAdds = staged(await aliceGroup.commit({ add: [dave.keyPackage.keyPackage] }));
    const bobUpdates = staged(await bobGroup.update());
    await assert.rejects(bobGroup.update(), (e) => e instanceof MlsError && e.reason === 'commit_pending');

    // Carol saw both commits before learning which one the delivery service accepted.
    const carolStagesBob = asCommit(await carolGroup.verify(bobUpdates.commit));
    const carolStagesAlice = asCommit(await carolGroup.verify(aliceAdds.commit));
    assert.equal(carolGroup.epoch, 1n, 'staging changes nothing');

    // The delivery service accepted Alice's commit first.
    const bobResult = await bobGroup.merge(asCommit(await bobGroup.verify(aliceAdds.commit)));
    assert.equal(bobResult.kind, 'merged');
    assert.deepEqual(bobResult.discarded, [bobUpdates]);
    assert.equal(bobGroup.pendingCommit, undefined);
    await carolGroup.merge(carolStagesAlice);
    await aliceGroup.merge(aliceAdds);
    await assert.rejects(
      carolGroup.merge(carolStagesBob),
      (e) => e instanceof MlsError && e.reason === 'stale_commit',
    );
    await assert.rejects(
      bobGroup.merge(bobUpdates),
      (e) => e instanceof MlsError && e.reason === 'stale_commit',
    );
    const daveGroup = await join(dave, aliceAdds.welcome);
    assertSameEpoch(aliceGroup, bobGroup, carolGroup, daveGroup);

    // Bob proposes his update again in the new epoch, and it wins this time.
    const retry = staged(await bobGroup.commit(bobResult.discarded[0]?.request));
    assert.equal(retry.epoch, 2n);
    await deliver(retry, bobGroup, [aliceGroup, carolGroup, daveGroup]);
    assertSameEpoch(aliceGroup, bobGroup, carolGroup, daveGroup);
    assert.equal(aliceGroup.epoch, 3n);
  });

  test('an own commit read back from the delivery service is recognised as the staged one', async () => {
    const { aliceGroup } = await threeMembers();
    const update = staged(await aliceGroup.update());
    assert.equal(asCommit(await aliceGroup.verify(update.commit)), update);
  });

  test('messages read while a commit is staged stay read after the merge, and skipped ones stay readable', async () => {
    const { aliceGroup, bobGroup, carolGroup } = await threeMembers();
    const first = await carolGroup.encrypt(utf8('first'));
    const second = await carolGroup.encrypt(utf8('second'));
    const update = staged(await bobGroup.update());
    assert.equal(await read(bobGroup, second), 'second');
    await deliver(update, bobGroup, [aliceGroup, carolGroup]);
    const replay = await bobGroup.verify(second);
    assert.equal(replay.kind, 'rejected', 'a replay within the retained past epoch is refused');
    assert.equal(await read(bobGroup, first), 'first');
  });

  test('operations started together run one after another on the group state', async () => {
    const { aliceGroup, bobGroup, carolGroup } = await threeMembers();
    const together = await Promise.all(['w', 'x', 'y', 'z'].map((text) => aliceGroup.encrypt(utf8(text))));
    for (const [index, message] of together.entries())
      assert.equal(await read(carolGroup, message), 'wxyz'[index]);
    const sent: Uint8Array[] = [];
    for (const text of ['a', 'b', 'c', 'd']) sent.push(await aliceGroup.encrypt(utf8(text)));
    const first = await Promise.all(sent.map((message) => bobGroup.verify(message)));
    assert.deepEqual(
      first.map((r) => r.kind === 'application' && new TextDecoder().decode(r.data)),
      ['a', 'b', 'c', 'd'],
    );
    const again = await Promise.all(sent.map((message) => bobGroup.verify(message)));
    assert.deepEqual(
      again.map((r) => r.kind),
      ['rejected', 'rejected', 'rejected', 'rejected'],
    );
  });

  test('a one-time KeyPackage’s secrets can be wiped once joined: the group keeps its own copies', async () => {
    const { bob, aliceGroup, bobGroup } = await threeMembers();
    bob.keyPackage.secrets.wipe();
    assert.ok(bob.keyPackage.secrets.initPrivateKey.every((byte) => byte === 0));
    assert.equal(await read(aliceGroup, await bobGroup.encrypt(utf8('still signing'))), 'still signing');
    assert.equal(
      await read(bobGroup, await aliceGroup.encrypt(utf8('still decrypting'))),
      'still decrypting',
    );
  });

  test('save and restore: a restored member continues, pending commit included', async () => {
    const { directory, alice, aliceGroup, bobGroup, carolGroup } = await threeMembers();
    const restoredBob = await new Mls({ authenticationService: directory }).restoreGroup(bobGroup.save());
    assertSameEpoch(bobGroup, restoredBob);
    assert.equal(
      await read(restoredBob, await aliceGroup.encrypt(utf8('to the restored bob'))),
      'to the restored bob',
    );

    const update = staged(await aliceGroup.update());
    const restoredAlice = await alice.mls.restoreGroup(aliceGroup.save());
    const pending = restoredAlice.pendingCommit;
    assert.ok(pending);
    assert.equal(toHex(pending.commit), toHex(update.commit));
    await deliver(pending, restoredAlice, [restoredBob, carolGroup]);
    assertSameEpoch(restoredAlice, restoredBob, carolGroup);
    assert.equal(await read(carolGroup, await restoredAlice.encrypt(utf8('after restart'))), 'after restart');
  });
});

test('a KeyPackage can be signed with the client’s own Ed25519 key, which then signs its messages', async () => {
  const { directory, aliceGroup, bobGroup } = await threeMembers();
  const identityKey = cryptoBackend.ed25519.generateKeyPair();
  const mls = new Mls({ authenticationService: directory });
  const dave = await mls.generateKeyPackage({ identity: utf8('dave'), signatureKeyPair: identityKey });
  assert.equal(toHex(keyPackageKey(dave.keyPackage)), toHex(identityKey.publicKey));
  directory.bind('dave', identityKey.publicKey);
  const add = staged(await aliceGroup.commit({ add: [dave.keyPackage] }));
  await deliver(add, aliceGroup, [bobGroup]);
  const daveGroup = await join(
    { name: 'dave', mls, keyPackage: dave, signaturePublicKey: identityKey.publicKey },
    add.welcome,
  );
  const result = await bobGroup.verify(await daveGroup.encrypt(utf8('signed with my identity key')));
  assert.equal(
    result.kind === 'application' && toHex(result.sender.signaturePublicKey),
    toHex(identityKey.publicKey),
  );
});

describe('the authentication service', () => {
  test('is required: the facade cannot be built without one', () => {
    assert.throws(() => new Mls({} as never), ArgumentError);
    assert.throws(() => new Mls({ authenticationService: {} } as never), ArgumentError);
  });

  test('a credential it rejects is refused when adding, receiving and joining', async () => {
    const { directory, alice, aliceGroup, bobGroup } = await threeMembers();
    // Mallory claims to be "dave", but the directory binds "dave" to another key.
    const mallory = await alice.mls.generateKeyPackage({ identity: utf8('dave') });
    directory.bind('dave', new Uint8Array(32).fill(1));
    const refused = await aliceGroup.commit({ add: [mallory.keyPackage] });
    assert.equal(refused.kind === 'rejected' && refused.reason, 'credential_rejected');
    assert.equal(aliceGroup.pendingCommit, undefined);

    // Eve is known to Alice's service but not to Bob's.
    const eveDirectory = new DirectoryAuthenticationService();
    const eveMls = new Mls({ authenticationService: eveDirectory });
    const eve = await eveMls.generateKeyPackage({ identity: utf8('eve') });
    const aliceDirectory = new DirectoryAuthenticationService();
    for (const m of aliceGroup.members) aliceDirectory.bind(identityOf(m), m.signaturePublicKey);
    aliceDirectory.bind('eve', keyPackageKey(eve.keyPackage));
    const aliceTrustingEve = await new Mls({ authenticationService: aliceDirectory }).restoreGroup(
      aliceGroup.save(),
    );
    const addEve = staged(await aliceTrustingEve.commit({ add: [eve.keyPackage] }));
    const bobSees = await bobGroup.verify(addEve.commit);
    assert.equal(bobSees.kind === 'rejected' && bobSees.reason, 'credential_rejected');
    assert.equal(bobGroup.epoch, 1n);

    // Eve's own service does not know the members, so she refuses to join their group.
    assert.ok(addEve.welcome);
    const joined = await eveMls.joinGroup({ welcome: addEve.welcome, keyPackage: eve });
    assert.equal(joined.kind === 'rejected' && joined.reason, 'credential_rejected');
  });

  test('an authentication service that fails makes a commit unverifiable, not accepted', async () => {
    const { aliceGroup, carolGroup } = await threeMembers();
    const failing = new Mls({
      authenticationService: {
        validateCredential: async () => {
          throw new Error('directory unreachable');
        },
      },
    });
    const carolFailing = await failing.restoreGroup(carolGroup.save());
    const update = staged(await aliceGroup.update());
    const result = await carolFailing.verify(update.commit);
    assert.equal(result.kind === 'rejected' && result.reason, 'credential_unverifiable');
    assert.equal(result.kind === 'rejected' && result.detail, 'directory unreachable');
  });
});
