// Reads of a conversation's log that overlap each other, sends and commits, against a real delivery server
// over the direct carrier. The only stand-in is at the network boundary: a carrier that holds one fetched page
// on its way back, as a mixnet round trip does for most of a second. A send must not wait for it, another
// read must bring what it holds, and when it arrives late (its entries read meanwhile, or its epoch closed
// since) nothing is lost and nothing is read twice. A conversation just joined is announced before its first
// read, however long the invitation's cleanup takes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '../../src/client/client.ts';
import type { Conversation } from '../../src/client/conversation.ts';
import type { LogPage } from '../../src/protocol/api.ts';
import type { Carrier, CarrierRequestOptions, CarrierStatus } from '../../src/protocol/carrier.ts';
import { decodeRequest, decodeResponse, type RequestKind } from '../../src/protocol/messages.ts';
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

interface Hold<T> {
  /** Resolves with the response once it is held. */
  readonly held: Promise<T>;
  /** Lets the page go on to the client. */
  readonly release: () => void;
}

/**
 * A direct carrier without pushes that can hold the answer to the next request of one kind that `wanted`
 * accepts (a fetched page, a mailbox deletion) until the test releases it.
 */
class HeldReads implements Carrier {
  readonly kind = 'direct' as const;
  readonly #inner: Carrier;
  #hold:
    | {
        kind: RequestKind;
        wanted: (response: unknown) => boolean;
        onHeld: (response: unknown) => void;
        released: Promise<void>;
      }
    | undefined;
  readonly #releases: (() => void)[] = [];

  constructor(inner: Carrier) {
    this.#inner = inner;
  }

  holdNextPage(wanted: (page: LogPage) => boolean): Hold<LogPage> {
    return this.holdNext('fetchLog', (response) => wanted(response as LogPage));
  }

  holdNext(kind: RequestKind, wanted: (response: unknown) => boolean = () => true): Hold<never> {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#releases.push(release);
    const held = new Promise<never>((onHeld) => {
      this.#hold = { kind, wanted, onHeld: onHeld as (response: unknown) => void, released };
    });
    return { held, release };
  }

  async request(bytes: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array> {
    const response = await this.#inner.request(bytes, options);
    const hold = this.#hold;
    if (hold !== undefined && decodeRequest(bytes).kind === hold.kind) {
      const decoded = decodeResponse(response);
      if (decoded.kind === hold.kind && hold.wanted(decoded.value)) {
        this.#hold = undefined;
        hold.onHeld(decoded.value);
        await hold.released;
      }
    }
    return response;
  }

  status(): CarrierStatus {
    return this.#inner.status();
  }

  onStatus(listener: (status: CarrierStatus) => void): () => void {
    return this.#inner.onStatus(listener);
  }

  async close(): Promise<void> {
    for (const release of this.#releases) release();
    await this.#inner.close();
  }
}

const withEntries = (page: LogPage): boolean => page.entries.length > 0;

let server: TestServer;
let bob: TestUser;
const closers: (() => Promise<void>)[] = [];

/**
 * A new user `handle` over a HeldReads carrier; a long `pollIntervalMs` leaves the reads to the test
 * (Conversation.poll).
 */
async function newUser(
  handle: string,
  pollIntervalMs: number,
): Promise<{ client: Client; network: HeldReads }> {
  const network = new HeldReads(await directCarrier(server.server));
  const client = await Client.open(clientOptions(tempDir(), [network], { pollIntervalMs }));
  closers.push(
    () => client.close(),
    () => network.close(),
  );
  await client.register(handle);
  return { client, network };
}

/** A 1:1 conversation of alice and bob, both in its first epoch with a member. */
async function oneToOne(client: Client): Promise<[Conversation, Conversation]> {
  const chat = await client.createConversation(['bob']);
  const bobChat = await joined(bob.client, chat.id);
  await sameEpoch(chat, bobChat);
  return [chat, bobChat];
}

before(async () => {
  server = await startServer(sqliteBackend.fresh());
  bob = await user(server.server, 'bob');
  closers.push(() => bob.close());
});

after(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await server?.close();
  removeTempDirs();
});

test("a send does not wait for a read's round trip", async () => {
  const { client, network } = await newUser('alice', 3_600_000);
  const [chat, bobChat] = await oneToOne(client);
  const atBob = inbox(bobChat);
  const hold = network.holdNextPage(() => true);
  const reading = chat.poll();
  await hold.held;
  const sending = chat.send({ text: 'not behind the read' });
  await eventually(
    () => (chat.history()[0]?.state === 'acknowledged' ? true : undefined),
    'the message to be stored while a read is held',
  );
  assert.equal((await sending).state, 'acknowledged');
  assert.deepEqual(await texts(atBob, 1), ['not behind the read']);
  hold.release();
  await reading;
});

test('reads that arrive late: what was read meanwhile is not read again, a closed epoch is left behind', async () => {
  const { client, network } = await newUser('ann', 3_600_000);
  const [chat, bobChat] = await oneToOne(client);
  const atAlice = inbox(chat);

  // A page held while a later read brings the same message: the late page reads nothing twice.
  const first = network.holdNextPage(withEntries);
  await bobChat.send({ text: 'one' });
  const late = chat.poll();
  assert.equal((await first.held).entries.length, 1);
  const next = chat.poll();
  assert.deepEqual(await texts(atAlice, 1), ['one']);
  await next;
  first.release();
  await late;
  assert.deepEqual(
    atAlice.map((m) => m.content.text),
    ['one'],
  );

  // A page of an epoch that alice's commit and then bob's closed while it was on its way.
  const second = network.holdNextPage(withEntries);
  await bobChat.send({ text: 'two' });
  const stale = chat.poll();
  await second.held;
  await chat.updateKeys();
  assert.deepEqual(await texts(atAlice, 2), ['one', 'two'], "alice's commit read bob's message first");
  await sameEpoch(chat, bobChat);
  await bobChat.updateKeys();
  await bobChat.send({ text: 'three' });
  second.release();
  await stale;
  await chat.poll();
  assert.deepEqual(
    atAlice.map((m) => m.content.text),
    ['one', 'two', 'three'],
  );
  assert.equal(await sameEpoch(chat, bobChat), chat.epoch);
  await chat.send({ text: 'after the commits' });
  assert.deepEqual(
    chat.history().map((m) => [m.sender, m.content.text]),
    [
      ['bob', 'one'],
      ['bob', 'two'],
      ['bob', 'three'],
      ['ann', 'after the commits'],
    ],
  );
});

test('the client reads a conversation again while an earlier read is still on its way', async () => {
  const { client, network } = await newUser('amy', 100);
  const [chat, bobChat] = await oneToOne(client);
  const atAlice = inbox(chat);
  const hold = network.holdNextPage(withEntries);
  await bobChat.send({ text: 'read by the next poll' });
  await hold.held;
  assert.deepEqual(await texts(atAlice, 1), ['read by the next poll']);
  hold.release();
  await client.sync();
  assert.equal(atAlice.length, 1, 'read once');
});

test("a listener attached on 'conversation' gets the first message, even while the invitation's cleanup is slow", async () => {
  const { client: carol, network } = await newUser('carol', 100);
  const received: string[] = [];
  carol.on('conversation', (conversation) =>
    conversation.on('message', (message) => received.push(message.content.text ?? '')),
  );
  // Accepting the invitation ends with deleting it from the mailbox: a round trip that, on a busy machine,
  // lasts past the first read of the conversation just joined.
  const deletion = network.holdNext('deleteFromMailbox');
  const chat = await bob.client.createConversation(['carol']);
  await chat.send({ text: 'the first message' });
  await deletion.held;
  await eventually(
    () => (received.length > 0 ? true : undefined),
    'the first message to reach the listener while the deletion is held',
  );
  deletion.release();
  assert.deepEqual(received, ['the first message']);
  await carol.sync();
  assert.deepEqual(received, ['the first message'], 'read once');
});
