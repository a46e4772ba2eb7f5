// A 100-member group created and messaged through the SDK: 100 registered clients, each over its own
// WebSocket to one real delivery server (SQLite), one createConversation with 99 handles, every invitee
// joining from its mailbox (and validating the whole ratchet tree), then one message read by all and one
// reply read by the creator. Everything runs in this one process (about 35 s on a quiet 2-core machine,
// minutes on a busy one: the waits are capped generously); UMBRA_LARGE_GROUP=n runs another size.
import './threadpool.ts';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startServer } from '../delivery/support.ts';
import { eventually, joined, removeTempDirs, type TestUser, tempDir, user } from './support.ts';

const MEMBERS = Number(process.env.UMBRA_LARGE_GROUP ?? 100);

after(removeTempDirs);

test(`a ${MEMBERS}-member group through the SDK`, { timeout: 900_000 }, async () => {
  const server = await startServer({ sqlitePath: `${tempDir()}/delivery.sqlite` });
  const users: TestUser[] = [];
  try {
    // Pushes bring every change at once; polling is only the fallback here.
    const options = { pollIntervalMs: 5000, keyPackages: 1 };
    for (let i = 0; i < MEMBERS; i++) users.push(await user(server.server, `member-${i}`, options));
    const [creator, ...others] = users;
    assert.ok(creator);
    const chat = await creator.client.createConversation(others.map((u) => u.name));
    assert.equal(chat.members.length, MEMBERS);
    const conversations = await Promise.all(others.map((u) => joined(u.client, chat.id, 600_000)));
    const counts = conversations.map(() => 0);
    conversations.forEach((conversation, index) => {
      conversation.on('message', (message) => {
        if (message.content.text === 'hello, everyone') counts[index] = (counts[index] ?? 0) + 1;
      });
    });
    await chat.send({ text: 'hello, everyone' });
    await eventually(
      () => (counts.every((n) => n === 1) ? true : undefined),
      'every member to read it',
      300_000,
    );
    const replies: string[] = [];
    chat.on('message', (message) => replies.push(`${message.sender}: ${message.content.text}`));
    await conversations.at(-1)?.send({ text: 'hello back' });
    await eventually(() => (replies.length > 0 ? true : undefined), 'the reply', 60_000);
    assert.deepEqual(replies, [`member-${MEMBERS - 1}: hello back`]);
    assert.ok(
      counts.every((n) => n === 1),
      'each member read the message exactly once',
    );
  } finally {
    for (const u of users) await u.close();
    await server.close();
  }
});
