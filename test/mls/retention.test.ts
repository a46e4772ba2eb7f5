// The deliberate settings of the facade (docs/mls.md): how far back and how far out of order messages are
// still readable, lifetime checks on received KeyPackages, and the padding of application messages.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { utf8 } from '../../src/bytes.ts';
import { ArgumentError } from '../../src/errors.ts';
import {
  type Group,
  KEY_RETENTION,
  MAX_OUTER_MESSAGE,
  Mls,
  OUTER_BUCKETS,
  outerBucket,
  type StagedCommit,
  type Verified,
} from '../../src/mls/index.ts';
import { DirectoryAuthenticationService, member } from './helpers.ts';

async function pair(): Promise<{ alice: Group; bob: Group; directory: DirectoryAuthenticationService }> {
  const directory = new DirectoryAuthenticationService();
  const [a, b] = await Promise.all([member('alice', directory), member('bob', directory)]);
  const alice = await a.mls.createGroup({ keyPackage: a.keyPackage });
  const add = await alice.commit({ add: [b.keyPackage.keyPackage] });
  assert.equal(add.kind, 'staged');
  if (add.kind !== 'staged' || !add.staged.welcome) throw new Error('unreachable');
  await alice.merge(add.staged);
  const joined = await b.mls.joinGroup({ welcome: add.staged.welcome, keyPackage: b.keyPackage });
  if (joined.kind !== 'joined') throw new Error(joined.detail);
  return { alice, bob: joined.group, directory };
}

async function advance(author: Group, receiver: Group): Promise<void> {
  const result = await author.update();
  if (result.kind !== 'staged') throw new Error(result.detail);
  const seen = await receiver.verify(result.staged.commit);
  if (seen.kind !== 'commit') throw new Error('expected a commit');
  await receiver.merge(seen.staged);
  await author.merge(result.staged as StagedCommit);
}

function reason(result: Verified): string {
  return result.kind === 'rejected' ? result.reason : result.kind;
}

test(`messages of the ${KEY_RETENTION.retainKeysForEpochs} previous epochs stay readable, older ones do not`, async () => {
  const { alice, bob } = await pair();
  const old = await bob.encrypt(utf8('epoch 1'));
  const older = await bob.encrypt(utf8('also epoch 1'));
  for (let i = 0; i < KEY_RETENTION.retainKeysForEpochs; i++) await advance(bob, alice);
  assert.equal(reason(await alice.verify(old)), 'application');
  await advance(bob, alice);
  assert.equal(reason(await alice.verify(older)), 'wrong_epoch');
});

test(`one sender's messages are readable up to ${KEY_RETENTION.retainKeysForGenerations} out of order`, async () => {
  const { alice, bob } = await pair();
  const sent: Uint8Array[] = [];
  for (let i = 0; i < KEY_RETENTION.retainKeysForGenerations + 8; i++)
    sent.push(await bob.encrypt(utf8(`m${i}`)));
  const last = sent.pop();
  assert.ok(last);
  assert.equal(reason(await alice.verify(last)), 'application');
  const results = await Promise.all(sent.map((message) => alice.verify(message)));
  const readable = results.filter((r) => r.kind === 'application').length;
  assert.equal(readable, KEY_RETENTION.retainKeysForGenerations);
  assert.equal(reason(results[0] as Verified), 'invalid');
});

test('a jump beyond the forward-ratchet limit is refused', async () => {
  const { alice, bob } = await pair();
  let message: Uint8Array = new Uint8Array(0);
  for (let i = 0; i <= KEY_RETENTION.maximumForwardRatchetSteps + 1; i++)
    message = await bob.encrypt(utf8('x'));
  assert.equal(reason(await alice.verify(message)), 'invalid');
});

test('a KeyPackage whose lifetime has ended is refused by the committer and by receivers', async () => {
  const { alice, bob, directory } = await pair();
  const carol = await member('carol', directory);
  const addedInTime = await alice.commit({ add: [carol.keyPackage.keyPackage] });
  assert.equal(addedInTime.kind, 'staged');
  if (addedInTime.kind === 'staged') alice.discard(addedInTime.staged);
  mock.timers.enable({ apis: ['Date'], now: Date.now() + 31 * 24 * 3600 * 1000 });
  try {
    const tooLate = await alice.commit({ add: [carol.keyPackage.keyPackage] });
    assert.equal(tooLate.kind === 'rejected' && tooLate.reason, 'invalid');
    if (addedInTime.kind !== 'staged') return;
    assert.equal(reason(await bob.verify(addedInTime.staged.commit)), 'invalid');
  } finally {
    mock.timers.reset();
  }
});

test('application messages are padded to fill the outer bucket they travel in', async () => {
  const { bob } = await pair();
  const sizeOf = async (length: number) => (await bob.encrypt(new Uint8Array(length))).length;
  const short = await sizeOf(1);
  for (const length of [90, 300, 700]) assert.equal(await sizeOf(length), short);
  assert.equal(outerBucket(short), OUTER_BUCKETS[0]);
  assert.ok(short > OUTER_BUCKETS[0] - 64, 'the smallest bucket is nearly filled');
  const long = await sizeOf(800);
  assert.equal(outerBucket(long), OUTER_BUCKETS[1]);
  assert.equal(await sizeOf(3000), long);
  assert.equal(outerBucket(await sizeOf(MAX_OUTER_MESSAGE - 300)), OUTER_BUCKETS.at(-1));
  await assert.rejects(bob.encrypt(new Uint8Array(MAX_OUTER_MESSAGE)), ArgumentError);
});

test('the facade never reads KeyPackages with the library default of accepting every credential', async () => {
  const directory = new DirectoryAuthenticationService();
  const mls = new Mls({ authenticationService: directory });
  const alice = await mls.generateKeyPackage({ identity: utf8('alice') });
  const group = await mls.createGroup({ keyPackage: alice });
  const stranger = await mls.generateKeyPackage({ identity: utf8('stranger') });
  const result = await group.commit({ add: [stranger.keyPackage] });
  assert.equal(result.kind === 'rejected' && result.reason, 'credential_rejected');
  assert.ok(directory.calls > 0);
});
