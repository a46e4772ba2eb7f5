// Conversation-scoped keys (issue 15: a trading app derives a key per trade from its conversation): three
// clients through the SDK over the direct carrier against a real delivery server. Members in one epoch derive
// the same key for a label and nobody outside the epoch can; the key changes with every epoch and the `epoch`
// event says when; a removed member can no longer derive one; bad arguments are refused by name.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import { type Conversation, EXPORTED_KEY_LENGTH } from '../../src/client/conversation.ts';
import { ArgumentError, ClientError } from '../../src/errors.ts';
import { ROUTING_ID_LABEL, ROUTING_ID_LENGTH } from '../../src/mls/index.ts';
import { sqliteBackend, startServer, type TestServer } from '../delivery/support.ts';
import { eventually, joined, removeTempDirs, sameEpoch, type TestUser, user } from './support.ts';

after(removeTempDirs);

/** A generous cap: the waits are on events, and a missing event must fail the test, not hang the suite. */
const TIMEOUT_MS = 60_000;

describe('keys exported from a conversation', { timeout: TIMEOUT_MS }, () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let chat: Conversation;
  let bobChat: Conversation;
  let carolChat: Conversation;

  before(async () => {
    server = await startServer(sqliteBackend.fresh());
    alice = await user(server.server, 'alice');
    bob = await user(server.server, 'bob');
    carol = await user(server.server, 'carol');
    chat = await alice.client.createConversation(['bob', 'carol']);
    bobChat = await joined(bob.client, chat.id);
    carolChat = await joined(carol.client, chat.id);
    await sameEpoch(chat, bobChat, carolChat);
  });

  after(async () => {
    for (const u of [alice, bob, carol]) await u?.close();
    await server?.close();
  });

  const hex = async (conversation: Conversation, label: string, context?: Uint8Array) => {
    const { epoch, key } = await conversation.exportKey(label, context ? { context } : {});
    return { epoch, key: toHex(key) };
  };

  test('every member derives the same key for a label; labels and contexts give independent keys', async () => {
    const trade = await Promise.all([chat, bobChat, carolChat].map((c) => hex(c, 'trade 42')));
    assert.equal(new Set(trade.map((t) => t.key)).size, 1, 'one key for all three members');
    assert.equal(new Set(trade.map((t) => t.epoch)).size, 1);
    assert.equal((await chat.exportKey('trade 42')).key.length, EXPORTED_KEY_LENGTH);
    const other = await hex(chat, 'trade 43');
    const withContext = await hex(chat, 'trade 42', new Uint8Array([1]));
    const keys = new Set([trade[0]?.key, other.key, withContext.key]);
    assert.equal(keys.size, 3, 'another label or context, another key');
    assert.equal((await bobChat.exportKey('trade 42', { length: 64 })).key.length, 64);
    // An application's label is kept apart from umbra's own: asking for the routing ID's label gives
    // another value than the routing ID the delivery service sees.
    const routing = await chat.exportKey(ROUTING_ID_LABEL, { length: ROUTING_ID_LENGTH });
    assert.notEqual(toHex(routing.key), toHex(chat.routingId ?? new Uint8Array()));
  });

  test('the key changes with the epoch, and every member is told', async () => {
    const before = await hex(carolChat, 'trade 42');
    const told = [chat, bobChat, carolChat].map(
      (c) =>
        new Promise<bigint>((resolve) => {
          const stop = c.on('epoch', ({ epoch }) => {
            stop();
            resolve(epoch);
          });
        }),
    );
    await bobChat.updateKeys();
    const epochs = await Promise.all(told);
    assert.deepEqual(epochs, [before.epoch + 1n, before.epoch + 1n, before.epoch + 1n]);
    const after = await Promise.all([chat, bobChat, carolChat].map((c) => hex(c, 'trade 42')));
    assert.equal(new Set(after.map((a) => a.key)).size, 1, 'still one key for all');
    assert.equal(after[0]?.epoch, before.epoch + 1n);
    assert.notEqual(after[0]?.key, before.key, 'a new epoch, a new key');
  });

  test('arguments outside the limits are refused by name', async () => {
    const refused = async (promise: () => Promise<unknown>, name: string) =>
      assert.rejects(promise, (error: unknown) => error instanceof ArgumentError && error.argument === name);
    await refused(() => chat.exportKey(''), 'label');
    await refused(() => chat.exportKey('x'.repeat(65)), 'label');
    await refused(() => chat.exportKey('trade', { length: 0 }), 'length');
    await refused(() => chat.exportKey('trade', { length: 65 }), 'length');
    await refused(() => chat.exportKey('trade', { context: new Uint8Array(4097) }), 'context');
  });

  test('a removed member cannot derive the keys of later epochs', async () => {
    const removed = new Promise<void>((resolve) => carolChat.on('removed', () => resolve()));
    await chat.remove(['carol']);
    await removed;
    await eventually(() => (bobChat.members.length === 2 ? true : undefined), 'bob to see the removal');
    await assert.rejects(
      () => carolChat.exportKey('trade 42'),
      (error: unknown) => error instanceof ClientError && error.reason === 'not_a_member',
    );
    const [a, b] = await Promise.all([hex(chat, 'trade 42'), hex(bobChat, 'trade 42')]);
    assert.equal(a.key, b.key, 'the members who stay still share one key');
  });
});
