// The privacy policy, fail-closed: a 'mixnet' client without a reachable mixnet carrier reports 'none',
// refuses to send and keeps the message (in the vault, across a restart); when a mixnet carrier comes up
// the message goes out exactly once; while it is only connecting, what the user asks for waits for it. The
// only test double is the reachability switch below, around a real
// DirectCarrier to the real delivery server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DirectCarrier } from '../../src/client/carrier/direct.ts';
import { Client } from '../../src/client/client.ts';
import type { Message } from '../../src/client/conversation.ts';
import type { PrivacyState } from '../../src/client/privacy.ts';
import { CarrierError } from '../../src/errors.ts';
import type { Carrier, CarrierRequestOptions, CarrierStatus } from '../../src/protocol/carrier.ts';
import { describeOnBackends, startServer, type TestServer } from '../delivery/support.ts';
import {
  clientOptions,
  directCarrier,
  eventually,
  inbox,
  joined,
  openClient,
  removeTempDirs,
  type TestUser,
  tempDir,
  texts,
  user,
} from './support.ts';

after(removeTempDirs);

/** A real DirectCarrier presented as the mixnet carrier, whose reachability the test switches. */
class ReachabilitySwitch implements Carrier {
  readonly kind = 'mixnet';
  readonly #inner: DirectCarrier;
  readonly #listeners = new Set<(status: CarrierStatus) => void>();
  #up = false;
  /** Off but connecting: requests wait until it is switched on, as the mixnet carrier's do. */
  #connecting = false;
  readonly #waiting: (() => void)[] = [];
  /** Requests that went through while switched on. */
  carried = 0;

  constructor(inner: DirectCarrier) {
    this.#inner = inner;
  }

  set up(up: boolean) {
    this.#up = up;
    this.#connecting = false;
    for (const listener of [...this.#listeners]) listener(this.status());
    if (up) for (const go of this.#waiting.splice(0)) go();
  }

  /** Off, as the mixnet carrier is while it cannot see a path yet: status 'connecting', requests held. */
  connecting(): void {
    this.#up = false;
    this.#connecting = true;
    for (const listener of [...this.#listeners]) listener(this.status());
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async request(request: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array> {
    if (!this.#up && this.#connecting) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (!this.#up) throw new CarrierError('unreachable', 'switched off by the test');
    this.carried += 1;
    return this.#inner.request(request, options);
  }

  status(): CarrierStatus {
    if (this.#up) return this.#inner.status();
    return this.#connecting
      ? { state: 'connecting', reason: 'no path yet (test switch)' }
      : { state: 'down', reason: 'gateway unreachable (test switch)' };
  }

  onStatus(listener: (status: CarrierStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

describeOnBackends('SDK privacy policy', (backend) => {
  let server: TestServer;
  let bob: TestUser;

  before(async () => {
    server = await startServer(backend.fresh());
    bob = await user(server.server, 'bob');
  });

  after(async () => {
    await bob?.close();
    await server?.close();
  });

  test('states follow the carriers under each policy', async () => {
    const { client, carrier } = await openClient(server.server, tempDir(), { privacy: 'mixnet-or-direct' });
    try {
      assert.deepEqual(
        { level: client.privacy.level, carrier: client.privacy.carrier },
        { level: 'partial', carrier: 'direct' },
      );
      assert.match(client.privacy.reason, /no mixnet carrier configured/);
      const events: PrivacyState[] = [];
      client.on('privacy', (state) => events.push(state));
      client.setPolicy('mixnet');
      assert.equal(client.privacy.level, 'none');
      assert.match(client.privacy.reason, /forbids falling back/);
      client.setPolicy('direct');
      assert.deepEqual(
        events.map((e) => e.level),
        ['none', 'partial'],
      );
      await assert.rejects(client.createConversation(['bob']), { reason: 'not_registered' });
    } finally {
      await client.close();
      await carrier.close();
    }
  });

  test("'mixnet' fails closed: 'none', send rejects and keeps the message, delivered once when the mixnet returns", async () => {
    const dataDir = tempDir();
    // Alice registers and starts a conversation with bob over the direct carrier…
    const { client: setup, carrier: setupCarrier } = await openClient(server.server, dataDir, {
      privacy: 'direct',
    });
    await setup.register('alice');
    const chat = await setup.createConversation(['bob']);
    const bobChat = await joined(bob.client, chat.id);
    const atBob = inbox(bobChat);
    await setup.close();

    // …then runs with the 'mixnet' policy while the mixnet is down.
    const mixnet = new ReachabilitySwitch(await directCarrier(server.server));
    const held = await Client.open(clientOptions(dataDir, [setupCarrier, mixnet], { privacy: 'mixnet' }));
    assert.equal(held.privacy.level, 'none');
    assert.match(held.privacy.reason, /gateway unreachable/);
    const aliceChat = held.conversation(chat.id);
    assert.ok(aliceChat);
    assert.equal(aliceChat.privacy.level, 'none');
    await assert.rejects(aliceChat.send({ text: 'held back' }), { reason: 'privacy_unavailable' });
    assert.deepEqual(
      aliceChat.history().map((m) => [m.content.text, m.state]),
      [['held back', 'queued']],
    );
    await held.sync().catch(() => undefined);
    await bob.client.sync();
    assert.equal(atBob.length, 0, 'nothing went out directly');

    // The message survives a restart in the vault…
    await held.close();
    const again = await Client.open(clientOptions(dataDir, [setupCarrier, mixnet], { privacy: 'mixnet' }));
    const restored = again.conversation(chat.id);
    assert.ok(restored);
    assert.deepEqual(
      restored.history().map((m) => [m.content.text, m.state]),
      [['held back', 'queued']],
    );
    const states: Message['state'][] = [];
    restored.on('status', (message) => states.push(message.state));
    const levels: string[] = [];
    again.on('privacy', (state: PrivacyState) => levels.push(state.level));

    // …and goes out once the mixnet carrier is up.
    mixnet.up = true;
    assert.deepEqual(levels, ['full']);
    assert.deepEqual(await texts(atBob, 1), ['held back']);
    await eventually(() => (states.includes('acknowledged') ? true : undefined), 'the acknowledgement');
    assert.deepEqual(states, ['sent', 'acknowledged']);
    await again.sync();
    await bob.client.sync();
    assert.equal(atBob.length, 1, 'delivered exactly once');
    assert.equal(restored.history()[0]?.state, 'acknowledged');

    // Down again: 'none' again, and a new message waits again.
    mixnet.up = false;
    assert.deepEqual(levels, ['full', 'none']);
    await assert.rejects(restored.send({ text: 'second' }), { reason: 'privacy_unavailable' });
    mixnet.up = true;
    assert.deepEqual(await texts(atBob, 2), ['held back', 'second']);

    await again.close();
    await setupCarrier.close();
    await mixnet.close();
  });

  test("'mixnet' while the mixnet is connecting: what the user asks for waits for it instead of failing", async () => {
    const mixnet = new ReachabilitySwitch(await directCarrier(server.server));
    mixnet.up = true;
    const client = await Client.open(clientOptions(tempDir(), [mixnet], { privacy: 'mixnet' }));
    try {
      await client.register('gina');
      // A blip of the liveness checks (loops late on a starved phone): red, and requests held, not refused.
      mixnet.connecting();
      assert.equal(client.privacy.level, 'none');
      const starting = client.createConversation(['bob']);
      await eventually(() => (mixnet.waiting > 0 ? true : undefined), 'the lookup held by the carrier');
      mixnet.up = true;
      const chat = await starting;
      const bobChat = await joined(bob.client, chat.id);
      const atBob = inbox(bobChat);
      await chat.send({ text: 'after the blip' });
      assert.deepEqual(await texts(atBob, 1), ['after the blip']);
    } finally {
      await client.close();
      await mixnet.close();
    }
  });

  test("'mixnet-or-direct' falls back ('partial') and returns to the mixnet; a conversation's own policy holds", async () => {
    const direct = await directCarrier(server.server);
    const mixnet = new ReachabilitySwitch(await directCarrier(server.server));
    const client = await Client.open(
      clientOptions(tempDir(), [direct, mixnet], { privacy: 'mixnet-or-direct' }),
    );
    try {
      assert.equal(client.privacy.level, 'partial');
      await client.register('frank');
      await assert.rejects(client.createConversation(['bob'], { privacy: 'mixnet' }), {
        reason: 'privacy_unavailable',
      });
      assert.deepEqual(client.conversations(), [], 'nothing was created');
      mixnet.up = true;
      const chat = await client.createConversation(['bob']);
      const strict = await client.createConversation(['bob'], { privacy: 'mixnet' });
      const [bobChat, bobStrict] = await Promise.all([
        joined(bob.client, chat.id),
        joined(bob.client, strict.id),
      ]);
      const atBob = inbox(bobChat);
      const atBobStrict = inbox(bobStrict);

      mixnet.up = false;
      assert.deepEqual([client.privacy.level, strict.privacy.level], ['partial', 'none']);
      const carried = mixnet.carried;
      await chat.send({ text: 'over direct' });
      await assert.rejects(strict.send({ text: 'only over the mixnet' }), { reason: 'privacy_unavailable' });
      assert.deepEqual(await texts(atBob, 1), ['over direct']);
      assert.equal(mixnet.carried, carried);

      mixnet.up = true;
      assert.deepEqual([client.privacy.level, strict.privacy.level], ['full', 'full']);
      assert.deepEqual(await texts(atBobStrict, 1), ['only over the mixnet']);
      const before = mixnet.carried;
      await chat.send({ text: 'over the mixnet' });
      assert.ok(mixnet.carried > before, 'the mixnet carried it');
      assert.deepEqual(await texts(atBob, 2), ['over direct', 'over the mixnet']);
    } finally {
      await client.close();
      await direct.close();
      await mixnet.close();
    }
  });
});
