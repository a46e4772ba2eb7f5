// The round trips a user waits through when starting a group, against a real delivery server over the
// direct carrier. Over the mixnet in slow weather each round trip is seconds, so the requests that do not
// depend on each other go together, and none is asked that another answers: the claims of every invitee's
// KeyPackages at once (a claim names the identity too, so no lookup comes first). The
// stand-in is only at the network boundary: a carrier that holds each lookup or claim until a second of the
// same kind is in flight (or a generous cap passes, so that a client asking one at a time fails rather than
// hangs).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '../../src/client/client.ts';
import type { Carrier, CarrierRequestOptions, CarrierStatus } from '../../src/protocol/carrier.ts';
import { decodeRequest } from '../../src/protocol/messages.ts';
import { sqliteBackend, startServer, type TestServer } from '../delivery/support.ts';
import {
  clientOptions,
  directCarrier,
  joined,
  removeTempDirs,
  type TestUser,
  tempDir,
  user,
} from './support.ts';

/** How long a held request waits for a companion before it goes alone. */
const COMPANION_CAP_MS = 10_000;
const PAIRED = new Set(['lookup', 'claimKeyPackages']);

/** A direct carrier that pairs up lookups and claims and records how many of each were in flight at once. */
class PairingCarrier implements Carrier {
  readonly kind = 'direct' as const;
  readonly #inner: Carrier;
  readonly #inFlight = new Map<string, number>();
  readonly #waiting = new Map<string, () => void>();
  readonly mostAtOnce = new Map<string, number>();

  constructor(inner: Carrier) {
    this.#inner = inner;
  }

  async request(bytes: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array> {
    const kind = decodeRequest(bytes).kind;
    if (!PAIRED.has(kind)) return this.#inner.request(bytes, options);
    const inFlight = (this.#inFlight.get(kind) ?? 0) + 1;
    this.#inFlight.set(kind, inFlight);
    this.mostAtOnce.set(kind, Math.max(this.mostAtOnce.get(kind) ?? 0, inFlight));
    const companion = this.#waiting.get(kind);
    if (companion) {
      this.#waiting.delete(kind);
      companion();
    } else {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, COMPANION_CAP_MS);
        this.#waiting.set(kind, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.#waiting.delete(kind);
    }
    try {
      return await this.#inner.request(bytes, options);
    } finally {
      this.#inFlight.set(kind, (this.#inFlight.get(kind) ?? 1) - 1);
    }
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
  const network = new PairingCarrier(await directCarrier(server.server));
  const alice = await Client.open(clientOptions(tempDir(), [network], { pollIntervalMs: 3_600_000 }));
  try {
    await alice.register('alice');
    const chat = await alice.createConversation(['bob', 'carol']);
    assert.equal(network.mostAtOnce.get('lookup'), undefined, 'the claims answered who bob and carol are');
    assert.equal(network.mostAtOnce.get('claimKeyPackages'), 2, 'the two claims were in flight together');
    // And the group is whole: both invitees join it.
    for (const invitee of invitees) await joined(invitee.client, chat.id);
    assert.deepEqual(chat.members.toSorted(), ['alice', 'bob', 'carol']);
  } finally {
    await alice.close();
    await network.close();
  }
});
