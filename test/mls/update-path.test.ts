// RFC 9420 §12.4: a commit that removes a member must carry an UpdatePath, or the removed member computes the
// next epoch from the secrets it still holds (ARCHITECTURE.md §8: ts-mls 2.0.0-rc.10 omitted it for a single
// Remove). These tests play the removed member with ts-mls internals: from its old state and the commit,
// derive the next epoch as if the commit secret were zero (what a path-less commit gives) and compare with
// the real epoch. A path-less Add commit, which is allowed, is the control that the derivation is right.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ClientConfig,
  type ClientState,
  createCommit,
  createGroup,
  decodeGroupState,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultPaddingConfig,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type Proposal,
} from 'ts-mls';
import { applyProposals, nextEpochContext } from 'ts-mls/clientState.js';
import { initializeEpoch } from 'ts-mls/keySchedule.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { applyUpdatePath } from 'ts-mls/updatePath.js';
import { toHex, utf8 } from '../../src/bytes.ts';
import { decodeSnapshot } from '../../src/mls/group.ts';
import {
  DEFAULT_CIPHERSUITE,
  decodeMessage,
  type Group,
  KEY_RETENTION,
  LIFETIME,
} from '../../src/mls/index.ts';
import { libraryMessage } from '../../src/mls/wire.ts';
import { DirectoryAuthenticationService, member } from './helpers.ts';

const cs = await getCiphersuiteImpl(getCiphersuiteFromName(DEFAULT_CIPHERSUITE));

/** The plain ts-mls settings of an outside observer or a peer that does not use the facade. */
function libraryConfig(): ClientConfig {
  return {
    authService: { validateCredential: async () => true },
    keyRetentionConfig: KEY_RETENTION,
    lifetimeConfig: LIFETIME,
    paddingConfig: defaultPaddingConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  };
}

/** A member's ts-mls state, read from what `Group.save` wrote. */
function libraryState(group: Group): ClientState {
  const decoded = decodeGroupState(decodeSnapshot(group.save()).state, 0);
  assert.ok(decoded);
  return { ...decoded[0], clientConfig: libraryConfig() };
}

/**
 * What an observer holding `state` (the epoch before `commit`) learns: whether the commit has a path, and
 * the epoch authenticator it would compute for the next epoch with a zero commit secret.
 */
async function deriveWithoutPath(state: ClientState, commit: Uint8Array) {
  const message = libraryMessage(decodeMessage(commit));
  if (message.wireformat !== 'mls_private_message' && message.wireformat !== 'mls_public_message')
    throw new Error(`expected a commit, got ${message.wireformat}`);
  // The facade sends PublicMessages; a PrivateMessage (a plain ts-mls peer's default) is read with the keys.
  const content =
    message.wireformat === 'mls_public_message'
      ? message.publicMessage
      : (
          await unprotectPrivateMessage(
            state.keySchedule.senderDataSecret,
            message.privateMessage,
            state.secretTree,
            state.ratchetTree,
            state.groupContext,
            KEY_RETENTION,
            cs,
          )
        ).content;
  assert.equal(content.content.contentType, 'commit');
  if (content.content.contentType !== 'commit' || content.auth.contentType !== 'commit')
    throw new Error('unreachable');
  const sender = content.content.sender;
  assert.equal(sender.senderType, 'member');
  const committer = sender.senderType === 'member' ? sender.leafIndex : 0;
  const applied = await applyProposals(
    state,
    content.content.commit.proposals,
    committer as never,
    emptyPskIndex,
    false,
    cs,
  );
  const path = content.content.commit.path;
  // The UpdatePath's public keys are readable by anyone who can read the commit; only its secrets are not.
  const tree = path ? await applyUpdatePath(applied.tree, committer as never, path, cs.hash) : applied.tree;
  const context = await nextEpochContext(
    state.groupContext,
    message.wireformat,
    content.content,
    content.auth.signature,
    await treeHashRoot(tree, cs.hash),
    state.confirmationTag,
    cs.hash,
  );
  const zeroCommitSecret = new Uint8Array(cs.kdf.size);
  const epoch = await initializeEpoch(
    state.keySchedule.initSecret,
    zeroCommitSecret,
    context,
    applied.pskSecret,
    cs.kdf,
  );
  return { hasPath: path !== undefined, epochAuthenticator: toHex(epoch.keySchedule.epochAuthenticator) };
}

async function threeMembers() {
  const directory = new DirectoryAuthenticationService();
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map((name) => member(name, directory)),
  );
  assert.ok(alice && bob && carol);
  const aliceGroup = await alice.mls.createGroup({ keyPackage: alice.keyPackage });
  const add = await aliceGroup.commit({ add: [bob.keyPackage.keyPackage, carol.keyPackage.keyPackage] });
  if (add.kind !== 'staged' || !add.staged.welcome) throw new Error('add failed');
  await aliceGroup.merge(add.staged);
  const carolJoined = await carol.mls.joinGroup({
    welcome: add.staged.welcome,
    keyPackage: carol.keyPackage,
  });
  if (carolJoined.kind !== 'joined') throw new Error(carolJoined.detail);
  return { directory, alice, carol, aliceGroup, carolGroup: carolJoined.group };
}

describe('UpdatePath on commits (RFC 9420 §12.4)', () => {
  test('control: for a path-less Add commit, the derivation gives the real next epoch', async () => {
    const { directory, aliceGroup, carolGroup } = await threeMembers();
    const dave = await member('dave', directory);
    const carolState = libraryState(carolGroup);
    const add = await aliceGroup.commit({ add: [dave.keyPackage.keyPackage] });
    if (add.kind !== 'staged') throw new Error(add.detail);
    await aliceGroup.merge(add.staged);
    const derived = await deriveWithoutPath(carolState, add.staged.commit);
    assert.equal(derived.hasPath, false);
    assert.equal(derived.epochAuthenticator, toHex(aliceGroup.epochAuthenticator));
  });

  test('a removed member cannot derive the epoch after its removal from its old state', async () => {
    const { aliceGroup, carolGroup, carol } = await threeMembers();
    const carolState = libraryState(carolGroup);
    const removal = await aliceGroup.commit({ remove: [{ signaturePublicKey: carol.signaturePublicKey }] });
    if (removal.kind !== 'staged') throw new Error(removal.detail);
    await aliceGroup.merge(removal.staged);
    const derived = await deriveWithoutPath(carolState, removal.staged.commit);
    assert.equal(derived.hasPath, true, 'a commit removing exactly one member carries an UpdatePath');
    assert.notEqual(derived.epochAuthenticator, toHex(aliceGroup.epochAuthenticator));
  });

  test('an update commit carries an UpdatePath too', async () => {
    const { aliceGroup, carolGroup } = await threeMembers();
    const carolState = libraryState(carolGroup);
    const update = await aliceGroup.update();
    if (update.kind !== 'staged') throw new Error(update.detail);
    assert.equal((await deriveWithoutPath(carolState, update.staged.commit)).hasPath, true);
  });

  test('a received commit that needs a path and lacks one is rejected, not merged', async () => {
    // A peer running plain ts-mls 1.6.4, which lets a GroupContextExtensions commit go without a path.
    const directory = new DirectoryAuthenticationService();
    const peerKeys = await generateKeyPackage(
      { credentialType: 'basic', identity: utf8('peer') },
      defaultCapabilities(),
      { notBefore: 0n, notAfter: BigInt(Math.floor(Date.now() / 1000) + 3600) },
      [],
      cs,
    );
    directory.bind('peer', peerKeys.publicPackage.leafNode.signaturePublicKey);
    const bob = await member('bob', directory);
    const config = libraryConfig();
    let peer = await createGroup(
      utf8('raw group'),
      peerKeys.publicPackage,
      peerKeys.privatePackage,
      [],
      cs,
      config,
    );
    const bobPackage = libraryMessage(decodeMessage(bob.keyPackage.keyPackage));
    if (bobPackage.wireformat !== 'mls_key_package') throw new Error('unreachable');
    const addBob = await createCommit(
      { state: peer, cipherSuite: cs },
      {
        extraProposals: [{ proposalType: 'add', add: { keyPackage: bobPackage.keyPackage } }],
        ratchetTreeExtension: true,
      },
    );
    peer = addBob.newState;
    assert.ok(addBob.welcome);
    const joined = await bob.mls.joinGroup({
      welcome: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: addBob.welcome }),
      keyPackage: bob.keyPackage,
    });
    if (joined.kind !== 'joined') throw new Error(joined.detail);

    const extensions: Proposal = {
      proposalType: 'group_context_extensions',
      groupContextExtensions: { extensions: [] },
    };
    const pathless = await createCommit({ state: peer, cipherSuite: cs }, { extraProposals: [extensions] });
    const result = await joined.group.verify(encodeMlsMessage(pathless.commit));
    assert.equal(result.kind === 'rejected' && result.reason, 'missing_update_path');
    assert.equal(joined.group.epoch, 1n);
  });
});
