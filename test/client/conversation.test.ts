// Three clients through the SDK over the direct carrier against a real delivery server (SQLite, and
// PostgreSQL when DATABASE_URL is set): 1:1 and group conversations, add, remove, key updates, concurrent
// commits, an offline member catching up, and a restart from the vault.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type Conversation,
  type MembershipChange,
  ROTATE_AFTER_POSTS,
} from '../../src/client/conversation.ts';
import { describeOnBackends, startServer, type TestServer } from '../delivery/support.ts';
import {
  eventually,
  inbox,
  joined,
  removeTempDirs,
  sameEpoch,
  type TestUser,
  texts,
  user,
} from './support.ts';

after(removeTempDirs);

describeOnBackends('SDK conversations', (backend) => {
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

  /** A conversation of alice with `others`, joined by each of them. */
  async function group(...others: TestUser[]): Promise<Conversation[]> {
    const chat = await alice.client.createConversation(others.map((u) => u.name));
    const theirs = await Promise.all(others.map((u) => joined(u.client, chat.id)));
    return [chat, ...theirs];
  }

  test('1:1: both sides read each other, in order, exactly once', async () => {
    const [chat, bobChat] = await group(bob);
    assert.ok(chat && bobChat);
    assert.deepEqual(chat.members, ['alice', 'bob']);
    const atBob = inbox(bobChat);
    const atAlice = inbox(chat);
    for (const text of ['one', 'two', 'three']) {
      const sent = await chat.send({ text });
      assert.equal(sent.state, 'acknowledged');
    }
    await bobChat.send({ text: 'hi alice' });
    assert.deepEqual(await texts(atBob, 3), ['one', 'two', 'three']);
    assert.deepEqual(await texts(atAlice, 1), ['hi alice']);
    assert.equal(atBob[0]?.sender, 'alice');
    await bob.client.sync();
    assert.equal(atBob.length, 3, 'nothing is delivered twice');
    assert.deepEqual(
      chat.history().map((m) => [m.sender, m.content.text, m.state]),
      [
        ['alice', 'one', 'acknowledged'],
        ['alice', 'two', 'acknowledged'],
        ['alice', 'three', 'acknowledged'],
        ['bob', 'hi alice', 'received'],
      ],
    );
  });

  test('group of three: everyone reads everyone, in one order', async () => {
    const [chat, bobChat, carolChat] = await group(bob, carol);
    assert.ok(chat && bobChat && carolChat);
    assert.deepEqual(carolChat.members, ['alice', 'bob', 'carol']);
    const boxes = [chat, bobChat, carolChat].map(inbox);
    await Promise.all([
      chat.send({ text: 'a1' }),
      bobChat.send({ text: 'b1' }),
      carolChat.send({ text: 'c1' }),
    ]);
    await chat.send({ text: 'a2' });
    const [atAlice, atBob, atCarol] = boxes;
    assert.ok(atAlice && atBob && atCarol);
    await texts(atAlice, 2);
    await texts(atBob, 3);
    await texts(atCarol, 3);
    // The log orders posts: every member sees the others' messages in the same relative order.
    const order = (messages: typeof atAlice, from: string) =>
      messages.filter((m) => m.sender === from).map((m) => m.content.text);
    assert.deepEqual(order(atBob, 'alice'), ['a1', 'a2']);
    assert.deepEqual(order(atCarol, 'alice'), ['a1', 'a2']);
    const merged = (messages: typeof atAlice) =>
      messages.map((m) => m.content.text).filter((t) => t !== 'b1' && t !== 'c1');
    assert.deepEqual(merged(atBob), merged(atCarol));
  });

  test('add: a new member joins in the next epoch and reads from there on', async () => {
    const [chat, bobChat] = await group(bob);
    assert.ok(chat && bobChat);
    await chat.send({ text: 'before carol' });
    const changes: MembershipChange[] = [];
    bobChat.on('members', (change) => changes.push(change));
    await chat.add(['carol']);
    const carolChat = await joined(carol.client, chat.id);
    const atCarol = inbox(carolChat);
    await bobChat.send({ text: 'welcome carol' });
    assert.deepEqual(await texts(atCarol, 1), ['welcome carol']);
    assert.deepEqual(chat.members, ['alice', 'bob', 'carol']);
    await eventually(() => (changes.length > 0 ? true : undefined), 'bob to see the add');
    assert.deepEqual(changes[0], { added: ['carol'], removed: [], by: 'alice' });
    assert.equal(
      carolChat.history().some((m) => m.content.text === 'before carol'),
      false,
    );
  });

  test('remove: the removed member reads nothing sent afterwards', async () => {
    const [chat, bobChat, carolChat] = await group(bob, carol);
    assert.ok(chat && bobChat && carolChat);
    const atCarol = inbox(carolChat);
    const atBob = inbox(bobChat);
    let removedBy: string | undefined;
    carolChat.on('removed', (event) => {
      removedBy = event.by;
    });
    await chat.send({ text: 'still here' });
    await texts(atCarol, 1);
    await chat.remove(['carol']);
    assert.deepEqual(chat.members, ['alice', 'bob']);
    assert.equal(await eventually(() => removedBy, 'carol to be told she was removed'), 'alice');
    assert.equal(carolChat.status, 'removed');
    await chat.send({ text: 'after carol' });
    await bobChat.send({ text: 'bob after carol' });
    assert.deepEqual(await texts(atBob, 2), ['still here', 'after carol']);
    await carol.client.sync();
    assert.deepEqual(
      atCarol.map((m) => m.content.text),
      ['still here'],
    );
    await assert.rejects(carolChat.send({ text: 'let me in' }), { reason: 'not_a_member' });
  });

  test('key update: every member follows, messages keep flowing', async () => {
    const [chat, bobChat, carolChat] = await group(bob, carol);
    assert.ok(chat && bobChat && carolChat);
    const before = await sameEpoch(chat, bobChat, carolChat);
    await bobChat.updateKeys();
    assert.equal(await sameEpoch(chat, bobChat, carolChat), before + 1n);
    const atCarol = inbox(carolChat);
    await chat.send({ text: 'after the update' });
    assert.deepEqual(await texts(atCarol, 1), ['after the update']);
  });

  test('concurrent commits from two members: one wins each epoch, the other retries, both land', async () => {
    const [chat, bobChat, carolChat] = await group(bob, carol);
    assert.ok(chat && bobChat && carolChat);
    const before = await sameEpoch(chat, bobChat, carolChat);
    await Promise.all([chat.updateKeys(), bobChat.updateKeys(), carolChat.updateKeys()]);
    assert.equal(await sameEpoch(chat, bobChat, carolChat), before + 3n);
    const atAlice = inbox(chat);
    await Promise.all([bobChat.send({ text: 'from bob' }), carolChat.send({ text: 'from carol' })]);
    assert.deepEqual((await texts(atAlice, 2)).sort(), ['from bob', 'from carol']);
  });

  test('an offline member catches up from the log, across epochs, in order', async () => {
    const [chat, bobChat] = await group(bob, carol);
    assert.ok(chat && bobChat);
    await carol.close();
    await chat.send({ text: 'm1' });
    await bobChat.send({ text: 'm2' });
    await chat.updateKeys();
    await chat.send({ text: 'm3' });
    await bobChat.updateKeys();
    await bobChat.send({ text: 'm4' });
    const client = await carol.restart();
    const carolChat = client.conversation(chat.id);
    assert.ok(carolChat);
    const received = () => carolChat.history().map((m) => m.content.text);
    await eventually(() => (received().length >= 4 ? true : undefined), 'carol to catch up');
    assert.deepEqual(received(), ['m1', 'm2', 'm3', 'm4']);
    assert.equal(await sameEpoch(chat, bobChat, carolChat), chat.epoch);
  });

  test('restart from the vault: identity, conversations and history continue', async () => {
    const [chat, bobChat] = await group(bob);
    assert.ok(chat && bobChat);
    const atBob = inbox(bobChat);
    await chat.send({ text: 'before the restart' });
    await texts(atBob, 1);
    const client = await alice.restart();
    assert.equal(client.handle, 'alice');
    const again = client.conversation(chat.id);
    assert.ok(again);
    assert.deepEqual(
      again.history().map((m) => m.content.text),
      ['before the restart'],
    );
    const atAlice = inbox(again);
    await again.send({ text: 'after the restart' });
    await bobChat.send({ text: 'welcome back' });
    assert.deepEqual(await texts(atBob, 2), ['before the restart', 'after the restart']);
    assert.deepEqual(await texts(atAlice, 1), ['welcome back']);
  });

  test('a busy epoch moves on before its log fills (the service keeps 100 posts per routing ID)', async () => {
    const [chat, bobChat] = await group(bob);
    assert.ok(chat && bobChat);
    const atBob = inbox(bobChat);
    const start = chat.epoch ?? 0n;
    const count = ROTATE_AFTER_POSTS + 40;
    for (let i = 0; i < count; i++) await chat.send({ text: `n${i}` });
    const received = await texts(atBob, count);
    assert.deepEqual(
      received,
      Array.from({ length: count }, (_, i) => `n${i}`),
    );
    assert.ok((chat.epoch ?? 0n) > start, 'a key update moved the conversation to a new routing ID');
    assert.equal(await sameEpoch(chat, bobChat), chat.epoch);
  });
});
