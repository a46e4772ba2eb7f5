// Commits whose post goes unanswered, against a real delivery server over the direct carrier. The only
// stand-in is at the network boundary: a carrier that loses the answer to a commit post and delivers the post
// itself later, as a slow mixnet does after the client's timeout. Such a commit may still win its epoch, so the
// client must learn its fate before building another (else it skips its own winning commit and is left in an
// old epoch while the others move on); and a change the user asked for must survive carrier failures.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '../../src/client/client.ts';
import { CarrierError, ClientError } from '../../src/errors.ts';
import type { Carrier, CarrierRequestOptions, CarrierStatus } from '../../src/protocol/carrier.ts';
import { decodeRequest } from '../../src/protocol/messages.ts';
import { sqliteBackend, startServer, type TestServer } from '../delivery/support.ts';
import {
  clientOptions,
  directCarrier,
  eventually,
  inbox,
  joined,
  removeTempDirs,
  sameEpoch,
  type TestUser,
  tempDir,
  texts,
  user,
} from './support.ts';

/**
 * The network between one client and the service. `loseNextCommit` makes the next commit post fail at the
 * client as a timeout while the post itself waits in the network; it reaches the service just before the
 * client's next commit post does. `down` takes the carrier down (requests refused, status 'down').
 */
class SlowNetwork implements Carrier {
  readonly kind = 'direct' as const;
  readonly #inner: Carrier;
  #losing = false;
  #inFlight: Uint8Array | undefined;
  #down = false;
  readonly #listeners = new Set<(status: CarrierStatus) => void>();
  lostCommits = 0;

  constructor(inner: Carrier) {
    this.#inner = inner;
  }

  loseNextCommit(): void {
    this.#losing = true;
  }

  setDown(down: boolean): void {
    this.#down = down;
    for (const listener of this.#listeners) listener(this.status());
  }

  async request(bytes: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array> {
    if (this.#down) throw new CarrierError('unreachable', 'the network is down');
    const request = decodeRequest(bytes);
    const commitPost = request.kind === 'postToLog' && request.value.post.kind === 'commit';
    if (commitPost && this.#losing) {
      this.#losing = false;
      this.#inFlight = bytes;
      this.lostCommits++;
      throw new CarrierError('timeout', 'no response (the post is still in the network)');
    }
    if (commitPost && this.#inFlight !== undefined) {
      const late = this.#inFlight;
      this.#inFlight = undefined;
      await this.#inner.request(late, options);
    }
    return this.#inner.request(bytes, options);
  }

  status(): CarrierStatus {
    return this.#down ? { state: 'down', reason: 'the network is down' } : this.#inner.status();
  }

  onStatus(listener: (status: CarrierStatus) => void): () => void {
    this.#listeners.add(listener);
    const detach = this.#inner.onStatus(listener);
    return () => {
      this.#listeners.delete(listener);
      detach();
    };
  }

  onPush(listener: (push: Uint8Array) => void): () => void {
    return this.#inner.onPush?.(listener) ?? (() => undefined);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

let server: TestServer;
let network: SlowNetwork;
let alice: Client;
let bob: TestUser;
let carol: TestUser;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  server = await startServer(sqliteBackend.fresh());
  network = new SlowNetwork(await directCarrier(server.server));
  alice = await Client.open(clientOptions(tempDir(), [network]));
  closers.push(
    () => alice.close(),
    () => network.close(),
  );
  await alice.register('alice');
  bob = await user(server.server, 'bob');
  carol = await user(server.server, 'carol');
  closers.push(
    () => bob.close(),
    () => carol.close(),
  );
});

after(async () => {
  for (const close of closers) await close();
  await server?.close();
  removeTempDirs();
});

test('a commit that lands after the client gave up on it is recognised, not skipped', async () => {
  const chat = await alice.createConversation(['bob']);
  const bobChat = await joined(bob.client, chat.id);
  await sameEpoch(chat, bobChat);

  network.loseNextCommit();
  // A key update carries an UpdatePath, which its own committer cannot process as a received commit.
  await assert.rejects(chat.updateKeys(), (error: unknown) => {
    return error instanceof ClientError && error.reason === 'unreachable';
  });
  assert.equal(network.lostCommits, 1);
  assert.deepEqual(
    chat.pendingChanges.map((c) => c.kind),
    ['update'],
  );
  // The next commit alice makes: the lost update reaches the service first and wins its epoch.
  await chat.add(['carol']);
  const carolChat = await joined(carol.client, chat.id);
  const epoch = await sameEpoch(chat, bobChat, carolChat);
  assert.deepEqual(chat.members, ['alice', 'bob', 'carol']);
  assert.deepEqual(chat.pendingChanges, []);

  // Everyone reads the new member, and she reads everyone.
  const atAlice = inbox(chat);
  const atBob = inbox(bobChat);
  const atCarol = inbox(carolChat);
  await carolChat.send({ text: 'carol is here' });
  assert.deepEqual(await texts(atAlice, 1), ['carol is here']);
  assert.deepEqual(await texts(atBob, 1), ['carol is here']);
  await chat.send({ text: 'welcome carol' });
  assert.deepEqual(await texts(atCarol, 1), ['welcome carol']);
  assert.equal(chat.epoch, epoch);
});

test('a removal asked for while the network is down is committed when it returns', async () => {
  const chat = await alice.createConversation(['bob', 'carol']);
  const [bobChat, carolChat] = await Promise.all([
    joined(bob.client, chat.id),
    joined(carol.client, chat.id),
  ]);
  await sameEpoch(chat, bobChat, carolChat);
  const told = new Promise<string | undefined>((resolve) => carolChat.on('removed', ({ by }) => resolve(by)));
  const atCarolBefore = inbox(carolChat);
  await chat.send({ text: 'before the removal' });
  assert.deepEqual(await texts(atCarolBefore, 1), ['before the removal']);

  network.setDown(true);
  await assert.rejects(chat.remove(['carol']), (error: unknown) => {
    return error instanceof ClientError && error.reason === 'privacy_unavailable';
  });
  assert.deepEqual(
    chat.pendingChanges.map((c) => [c.kind, c.handles]),
    [['remove', ['carol']]],
  );
  network.setDown(false); // alice's client polls on its own: nobody asks again.

  assert.equal(await told, 'alice');
  await sameEpoch(chat, bobChat);
  assert.deepEqual(chat.members, ['alice', 'bob']);
  // Carol may read the commit before alice has recorded it as done.
  await eventually(() => (chat.pendingChanges.length === 0 ? true : undefined), 'the change to be done');
  const atBob = inbox(bobChat);
  const atCarol = inbox(carolChat);
  await chat.send({ text: 'after carol left' });
  assert.deepEqual(await texts(atBob, 1), ['after carol left']);
  assert.equal(carolChat.status, 'removed');
  assert.deepEqual(atCarol, []);
  assert.equal(carolChat.removedBy, 'alice');
  assert.ok(carolChat.members.includes('alice'), 'an ended conversation keeps the members it had');
  // The removed member keeps what she read, read-only.
  assert.deepEqual(
    carolChat.history().map((m) => m.content.text),
    ['before the removal'],
  );
  await assert.rejects(carolChat.send({ text: 'still here?' }), (error: unknown) => {
    return error instanceof ClientError && error.reason === 'not_a_member';
  });
});

test('a conversation whose first add goes unanswered is started anyway; the add is made afterwards', async () => {
  const lostBefore = network.lostCommits;
  network.loseNextCommit();
  const chat = await alice.createConversation(['bob']);
  assert.equal(network.lostCommits, lostBefore + 1, 'the adding commit went unanswered');
  const bobChat = await joined(bob.client, chat.id);
  await sameEpoch(chat, bobChat);
  await eventually(() => (chat.pendingChanges.length === 0 ? true : undefined), 'the add to be done');
  assert.deepEqual(chat.members, ['alice', 'bob']);
  const atBob = inbox(bobChat);
  await chat.send({ text: 'started on a bad network' });
  assert.deepEqual(await texts(atBob, 1), ['started on a bad network']);
});

test('a change refused for good is dropped with its reason, and the next one goes through', async () => {
  const chat = await alice.createConversation(['bob']);
  await joined(bob.client, chat.id);
  await assert.rejects(chat.add(['nobody-registered']), (error: unknown) => {
    return error instanceof ClientError && error.reason === 'unknown_contact';
  });
  assert.deepEqual(chat.pendingChanges, []);
  await chat.add(['carol']);
  await joined(carol.client, chat.id);
  assert.deepEqual(chat.members, ['alice', 'bob', 'carol']);
});
