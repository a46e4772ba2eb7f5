// Identities through the SDK against a real delivery server: handles bound once, safety numbers equal on
// both sides and verification remembered across restarts, a warning when a service presents another key
// for a known handle, leaving a group, the panic button, and the seeds' ISecureTransport / ISecureCrypto.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { utf8 } from '../../src/bytes.ts';
import { Client } from '../../src/client/client.ts';
import type { KeyChange } from '../../src/client/contacts.ts';
import type { MembershipChange } from '../../src/client/conversation.ts';
import { clientTransport, secureCrypto } from '../../src/client/secure.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { Vault } from '../../src/crypto/vault.ts';
import { SealedBoxError } from '../../src/errors.ts';
import { Mls } from '../../src/mls/index.ts';
import { connect, describeOnBackends, startServer, type TestServer } from '../delivery/support.ts';
import {
  clientOptions,
  directCarrier,
  eventually,
  joined,
  openClient,
  PASSPHRASE,
  removeTempDirs,
  type TestUser,
  tempDir,
  user,
} from './support.ts';

after(removeTempDirs);

describeOnBackends('SDK identities', (backend) => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  before(async () => {
    server = await startServer(backend.fresh());
    alice = await user(server.server, 'alice');
    bob = await user(server.server, 'bob');
    carol = await user(server.server, 'carol');
  });

  after(async () => {
    for (const u of [alice, bob, carol]) await u?.close();
    await server?.close();
  });

  test('a handle is bound once: another identity gets handle_taken', async () => {
    const { client, carrier } = await openClient(server.server, tempDir());
    try {
      await assert.rejects(client.register('alice'), { reason: 'handle_taken' });
      assert.equal(client.handle, undefined);
      await client.register('alice2');
      assert.equal(client.handle, 'alice2');
      await assert.rejects(client.register('alice3'), { reason: 'already_registered' });
      await client.register('alice2');
    } finally {
      await client.close();
      await carrier.close();
    }
  });

  test('safety numbers match on both sides; verification is remembered across a restart', async () => {
    const atAlice = await alice.client.safetyNumber('bob');
    const atBob = await bob.client.safetyNumber('alice');
    assert.equal(atAlice.digits, atBob.digits);
    assert.match(atAlice.digits, /^\d{60}$/);
    assert.notEqual((await alice.client.safetyNumber('carol')).digits, atAlice.digits);
    await assert.rejects(alice.client.safetyNumber('nobody'), { reason: 'unknown_contact' });
    const before = alice.client.conversations().length;
    await assert.rejects(alice.client.createConversation(['bob', 'nobody']), { reason: 'unknown_contact' });
    assert.equal(alice.client.conversations().length, before, 'nothing was created');
    await alice.client.markVerified('bob');
    const client = await alice.restart();
    assert.deepEqual([client.contact('bob')?.verified, client.contact('bob')?.keyChanged], [true, false]);
  });

  test('another key for a known handle: keychange, verification cleared', async () => {
    const erin = await user(server.server, 'erin');
    await erin.client.markVerified('bob');
    await erin.close();
    // Another delivery service, where 'bob' is bound to someone else's key.
    const elsewhere = await startServer(backend.fresh());
    const impostor = await user(elsewhere.server, 'bob');
    const carrier = await directCarrier(elsewhere.server);
    const client = await Client.open(clientOptions(erin.dataDir, [carrier]));
    const changes: KeyChange[] = [];
    client.on('keychange', (change) => changes.push(change));
    try {
      assert.equal(client.contact('bob')?.verified, true);
      await client.register('erin');
      await client.createConversation(['bob']);
      assert.deepEqual(changes, [{ handle: 'bob', wasVerified: true }]);
      assert.deepEqual([client.contact('bob')?.verified, client.contact('bob')?.keyChanged], [false, true]);
    } finally {
      await client.close();
      await carrier.close();
      await impostor.close();
      await elsewhere.close();
    }
  });

  test('leave: the others commit the departure; the leaver keeps its history only', async () => {
    const chat = await alice.client.createConversation(['bob', 'carol']);
    const [bobChat, carolChat] = await Promise.all([
      joined(bob.client, chat.id),
      joined(carol.client, chat.id),
    ]);
    const changes: MembershipChange[] = [];
    chat.on('members', (change) => changes.push(change));
    await carolChat.leave();
    assert.equal(carolChat.status, 'left');
    const change = await eventually(
      () => changes.find((c) => c.removed.includes('carol')),
      'alice to be told carol left',
    );
    assert.deepEqual(change.removed, ['carol']);
    assert.deepEqual(chat.members, ['alice', 'bob']);
    await eventually(() => (bobChat.members.includes('carol') ? undefined : true), 'bob to see it');
    await assert.rejects(carolChat.send({ text: 'bye' }), { reason: 'not_a_member' });
  });

  test('ISecureTransport over the SDK and ISecureCrypto over the sealed box', async () => {
    const atCarol: string[] = [];
    clientTransport(carol.client).onReceive((sender, text) => atCarol.push(`${sender}: ${text}`));
    await clientTransport(bob.client).send('carol', 'over the transport');
    await eventually(() => (atCarol.length > 0 ? true : undefined), 'carol to receive');
    assert.deepEqual(atCarol, ['bob: over the transport']);

    for (const version of [1, 2] as const) {
      const crypto = secureCrypto(version);
      const keys = crypto.generateKeyPair();
      const sealed = crypto.encryptForRecipient(keys.publicKey, utf8('for you'));
      assert.deepEqual(crypto.decryptFromSender(keys.secretKey, sealed), utf8('for you'));
      sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 1;
      assert.throws(() => crypto.decryptFromSender(keys.secretKey, sealed), SealedBoxError);
    }
  });

  test('authentication service: a commit adding a credential that names a handle bound to another key is refused', async () => {
    const mallory = await user(server.server, 'mallory');
    const chat = await alice.client.createConversation(['mallory']);
    await joined(mallory.client, chat.id);
    const epoch = chat.epoch;
    await mallory.close();
    // Mallory, with her own group state from her vault and an MLS layer that accepts anything, commits an
    // Add of a KeyPackage that claims to be bob's but carries a key of hers; the service takes it first.
    const vault = await Vault.open(mallory.dataDir, PASSPHRASE);
    const saved = await vault.get(`group/${chat.id}`);
    await vault.close();
    assert.ok(saved);
    const mls = new Mls({ authenticationService: { validateCredential: async () => true } });
    const group = await mls.restoreGroup(saved);
    const forged = await mls.generateKeyPackage({ identity: utf8('bob') });
    const result = await group.commit({ add: [forged.keyPackage] });
    assert.equal(result.kind, 'staged');
    if (result.kind !== 'staged') return;
    const routingId = await group.routingId();
    const blob = (await group.outerKey()).seal(result.staged.commit, { routingId, kind: 'commit' });
    const outsider = await connect(server.server);
    try {
      const posted = await outsider.client.postToLog(routingId, {
        kind: 'commit',
        messageId: randomBytes(16),
        blob,
        bucket: blob.length,
      });
      assert.equal(posted.ok, true);
    } finally {
      await outsider.close();
    }
    await alice.client.sync();
    assert.equal(chat.epoch, epoch, 'alice did not merge it');
    assert.deepEqual(chat.members, ['alice', 'mallory']);
  });

  test('the vault opens only with its passphrase', async () => {
    await bob.close();
    const carrier = await directCarrier(server.server);
    try {
      await assert.rejects(
        Client.open(clientOptions(bob.dataDir, [carrier], { passphrase: 'not the passphrase' })),
        { reason: 'wrong_passphrase' },
      );
    } finally {
      await carrier.close();
      await bob.restart();
    }
    assert.equal(bob.client.handle, 'bob');
  });

  test('wipe: the vault is destroyed; the same storage opens empty', async () => {
    const dataDir = tempDir();
    const { client, carrier } = await openClient(server.server, dataDir);
    try {
      await client.register('dave');
      await client.createConversation(['bob']);
      await client.wipe();
      await assert.rejects(client.createConversation(['bob']), { reason: 'wiped' });
      assert.equal(existsSync(dataDir), false, 'the vault directory is gone');
      const fresh = await Client.open(clientOptions(dataDir, [carrier]));
      assert.equal(fresh.handle, undefined);
      assert.deepEqual(fresh.conversations(), []);
      await fresh.close();
    } finally {
      await client.close();
      await carrier.close();
    }
  });
});
