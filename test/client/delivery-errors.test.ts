// What the SDK does with a delivery service that refuses or a log that holds hostile posts: a full log's
// quota error reaches the sender (the message is marked failed), and posts that were altered or replayed
// by anyone who knows the routing ID (the service itself included) are dropped without disturbing the
// conversation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { connect, describeOnBackends, startServer, type TestServer } from '../delivery/support.ts';
import { eventually, inbox, joined, removeTempDirs, type TestUser, texts, user } from './support.ts';

after(removeTempDirs);

const MAX_ITEMS = 6;
/** Enough for a small group's commits and Welcomes (1 and 4 KiB buckets), not for a 16 KiB message. */
const MAX_REQUEST_BYTES = 12 * 1024;

describeOnBackends('SDK against refusals and hostile posts', (backend) => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    server = await startServer(backend.fresh(), {
      limits: { maxItemsPerStream: MAX_ITEMS },
      maxRequestBytes: MAX_REQUEST_BYTES,
    });
    // Carriers refuse what the server would refuse (it closes a connection that sends a larger frame).
    const carrier = { maxRequestBytes: MAX_REQUEST_BYTES };
    alice = await user(server.server, 'alice', { carrier });
    bob = await user(server.server, 'bob', { carrier });
  });

  after(async () => {
    for (const u of [alice, bob]) await u?.close();
    await server?.close();
  });

  test('a full log: send rejects with quota_exceeded and the message is marked failed', async () => {
    const chat = await alice.client.createConversation(['bob']);
    await joined(bob.client, chat.id);
    for (let i = 0; i < MAX_ITEMS; i++) await chat.send({ text: `message ${i}` });
    await assert.rejects(chat.send({ text: 'one too many' }), { reason: 'quota_exceeded' });
    const last = chat.history().at(-1);
    assert.deepEqual([last?.content.text, last?.state], ['one too many', 'failed']);
  });

  test('a message larger than the service accepts: too_large, marked failed, the queue moves on', async () => {
    const chat = await alice.client.createConversation(['bob']);
    const bobChat = await joined(bob.client, chat.id);
    const atBob = inbox(bobChat);
    await assert.rejects(chat.send({ text: 'x'.repeat(10_000) }), { reason: 'too_large' });
    assert.equal(chat.history().at(-1)?.state, 'failed');
    await chat.send({ text: 'small enough' });
    assert.deepEqual(await texts(atBob, 1), ['small enough']);
  });

  test('altered and replayed posts are dropped; the conversation goes on', async () => {
    const chat = await alice.client.createConversation(['bob']);
    const bobChat = await joined(bob.client, chat.id);
    const atAlice = inbox(chat);
    await bobChat.send({ text: 'genuine 1' });
    assert.deepEqual(await texts(atAlice, 1), ['genuine 1']);

    const routingId = bobChat.routingId;
    assert.ok(routingId);
    const outsider = await connect(server.server);
    try {
      const page = await outsider.client.fetchLog(routingId, 0);
      const original = page.entries.find((entry) => entry.kind === 'application');
      assert.ok(original);
      const replayed = await outsider.client.postToLog(routingId, {
        kind: 'application',
        messageId: randomBytes(16),
        blob: original.blob,
        bucket: original.bucket,
      });
      assert.equal(replayed.ok, true);
      const altered = Uint8Array.from(original.blob);
      altered[altered.length - 40] = (altered[altered.length - 40] ?? 0) ^ 1;
      const tampered = await outsider.client.postToLog(routingId, {
        kind: 'application',
        messageId: randomBytes(16),
        blob: altered,
        bucket: original.bucket,
      });
      assert.equal(tampered.ok, true);
      const garbage = await outsider.client.postToLog(routingId, {
        kind: 'application',
        messageId: randomBytes(16),
        blob: randomBytes(1024),
        bucket: 1024,
      });
      assert.equal(garbage.ok, true);
    } finally {
      await outsider.close();
    }
    await bobChat.send({ text: 'genuine 2' });
    assert.deepEqual(await texts(atAlice, 2), ['genuine 1', 'genuine 2']);
    await alice.client.sync();
    assert.equal(atAlice.length, 2);
    await eventually(() => (chat.history().length === 2 ? true : undefined), 'the history');
  });
});
