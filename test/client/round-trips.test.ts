// The round trips a user waits through when starting a group, against a real delivery server over the
// direct carrier. Over the mixnet in slow weather each round trip is seconds, so the requests that do not
// depend on each other go together, and none is asked that another answers: the claims of every invitee's
// KeyPackages at once (a claim names the identity too, so no lookup comes first); a sign-up is one request
// (the first KeyPackages go with the registration), and the new user's tokens are fetched at once. The stand-in is only at the network boundary: a carrier that holds a request until
// its companion is in flight (or a generous cap passes, so that a client asking one at a time fails rather
// than hangs).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '../../src/client/client.ts';
import type { Carrier, CarrierRequestOptions, CarrierStatus } from '../../src/protocol/carrier.ts';
import { decodeRequest } from '../../src/protocol/messages.ts';
import { sqliteBackend, startServer, type TestServer } from '../delivery/support.ts';
import {
  clientOptions,
  directCarrier,
  eventually,
  joined,
  removeTempDirs,
  type TestUser,
  tempDir,
  user,
} from './support.ts';

/** How long a held request waits for its companion before it goes alone. */
const COMPANION_CAP_MS = 10_000;

/**
 * A direct carrier that holds each request of a kind named in `companions` until a request of the companion
 * kind arrived (another one, for a kind its own companion), and records which found theirs in time.
 */
class CompanionCarrier implements Carrier {
  readonly kind = 'direct' as const;
  readonly #inner: Carrier;
  readonly #companions: Readonly<Record<string, string>>;
  readonly #wakers = new Set<() => void>();
  readonly arrived = new Map<string, number>();
  readonly together = new Set<string>();

  constructor(inner: Carrier, companions: Readonly<Record<string, string>>) {
    this.#inner = inner;
    this.#companions = companions;
  }

  async request(bytes: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array> {
    const kind = decodeRequest(bytes).kind;
    this.arrived.set(kind, (this.arrived.get(kind) ?? 0) + 1);
    for (const wake of [...this.#wakers]) wake();
    const companion = this.#companions[kind];
    if (companion !== undefined) {
      const needed = companion === kind ? 2 : 1;
      if (await this.#until(() => (this.arrived.get(companion) ?? 0) >= needed)) this.together.add(kind);
    }
    return this.#inner.request(bytes, options);
  }

  /** Whether `ready` held within the cap. */
  #until(ready: () => boolean): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wakers.delete(wake);
        resolve(false);
      }, COMPANION_CAP_MS);
      const wake = (): void => {
        if (!ready()) return;
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve(true);
      };
      this.#wakers.add(wake);
    });
  }

  status(): CarrierStatus {
    return this.#inner.status();
  }

  onStatus(listener: (status: CarrierStatus) => void): () => void {
    return this.#inner.onStatus(listener);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

let server: TestServer;
const invitees: TestUser[] = [];

before(async () => {
  server = await startServer(sqliteBackend.fresh());
  for (const handle of ['bob', 'carol']) invitees.push(await user(server.server, handle));
});

after(async () => {
  for (const invitee of invitees) await invitee.close();
  await server?.close();
  removeTempDirs();
});

test("starting a group claims every invitee's KeyPackages at once, with no lookup before", async () => {
  const network = new CompanionCarrier(await directCarrier(server.server), {
    claimKeyPackages: 'claimKeyPackages',
  });
  const alice = await Client.open(clientOptions(tempDir(), [network], { pollIntervalMs: 3_600_000 }));
  try {
    await alice.register('alice');
    const chat = await alice.createConversation(['bob', 'carol']);
    assert.equal(network.arrived.get('lookup'), undefined, 'the claims answered who bob and carol are');
    assert.ok(network.together.has('claimKeyPackages'), 'the two claims were in flight together');
    // And the group is whole: both invitees join it.
    for (const invitee of invitees) await joined(invitee.client, chat.id);
    assert.deepEqual(chat.members.toSorted(), ['alice', 'bob', 'carol']);
  } finally {
    await alice.close();
    await network.close();
  }
});

test('a new user signs up in one round trip, and its tokens are on the way as it returns', async () => {
  const network = new CompanionCarrier(await directCarrier(server.server), {});
  const dave = await Client.open(clientOptions(tempDir(), [network], { pollIntervalMs: 3_600_000 }));
  try {
    await dave.register('dave');
    assert.equal(network.arrived.get('register'), 1);
    assert.equal(network.arrived.get('publishKeyPackages'), undefined, 'the KeyPackages went with it');
    assert.equal(network.arrived.get('issuerKeys'), 1, 'the token fill started at once, not at a poll');
    // Bob can start a conversation with dave at once: dave's KeyPackages are there.
    const bob = invitees[0];
    assert.ok(bob !== undefined);
    const chat = await bob.client.createConversation(['dave']);
    await dave.sync();
    await joined(dave, chat.id);
    // And dave's first claim spends a token of that fill: no issuance of its own.
    await eventually(() => network.arrived.get('issueTokens'), 'the token fill');
    await dave.createConversation(['carol']);
    assert.equal(network.arrived.get('issueTokens'), 1, 'the claim spent a token already on its way');
  } finally {
    await dave.close();
    await network.close();
  }
});
