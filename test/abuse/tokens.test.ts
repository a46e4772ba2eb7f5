// Abuse without identification (issue 12), against a real delivery server over WebSockets on both databases,
// with the SDK's own token wallet: strangers cannot drain someone's KeyPackages or fill a mailbox without
// tokens, a registered stranger's claims stop at their daily budget, a token is spent once, and a captured
// signed request, replayed, does nothing again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { DeliveryError } from '../../src/errors.ts';
import type { TokenSource } from '../../src/protocol/api.ts';
import { IdentityKeyPair, mailboxIdOf, signWith } from '../../src/protocol/identity.ts';
import {
  decodeResponse,
  encodeRequest,
  SIGNED_REQUEST_NONCE_LENGTH,
  signedRequestMessage,
} from '../../src/protocol/messages.ts';
import {
  connect,
  describeOnBackends,
  id32,
  startServer,
  type TestServer,
  tag,
  tokenWallet,
} from '../delivery/support.ts';

const BOB_PACKAGES = 10;

function isDeliveryError(reason: string) {
  return (error: unknown) => error instanceof DeliveryError && error.reason === reason;
}

describeOnBackends('abuse without identification', (backend) => {
  /** Bob, registered with BOB_PACKAGES one-time KeyPackages and a last resort. */
  async function bobOn(running: TestServer) {
    const bob = await connect(running.server, IdentityKeyPair.generate());
    assert.equal((await bob.client.register('bob')).ok, true);
    const deviceId = tag();
    await bob.client.publishKeyPackages({
      handle: 'bob',
      deviceId,
      oneTime: Array.from({ length: BOB_PACKAGES }, () => ({ id: tag(), data: randomBytes(32) })),
      lastResort: { id: tag(), data: randomBytes(32) },
    });
    return { ...bob, deviceId };
  }

  test("seven claims of bob's KeyPackages without tokens are refused, and his packages stay untouched", async (t) => {
    const running = await startServer(backend.fresh());
    t.after(() => running.close());
    const bob = await bobOn(running);
    const stranger = await connect(running.server);
    t.after(() => Promise.all([bob.close(), stranger.close()]).then(() => undefined));
    for (let i = 0; i < 7; i++) {
      await assert.rejects(stranger.client.claimKeyPackages('bob'), isDeliveryError('token_required'));
    }
    assert.deepEqual(await bob.client.countKeyPackages('bob', bob.deviceId), {
      oneTime: BOB_PACKAGES,
      lastResort: true,
    });
  });

  test("a registered stranger's claims stop at their daily budget", async (t) => {
    const budget = 4;
    const running = await startServer(backend.fresh(), { tokensPerDay: budget });
    t.after(() => running.close());
    const bob = await bobOn(running);
    const mallory = await connect(running.server, IdentityKeyPair.generate(), {}, 'mallory');
    t.after(() => Promise.all([bob.close(), mallory.close()]).then(() => undefined));
    assert.equal((await mallory.client.register('mallory')).ok, true);
    let claimed = 0;
    for (let i = 0; i < BOB_PACKAGES; i++) {
      try {
        await mallory.client.claimKeyPackages('bob');
        claimed++;
      } catch (error) {
        assert.ok(isDeliveryError('token_required')(error), 'out of tokens, refused with a typed error');
      }
    }
    assert.equal(claimed, budget);
    assert.deepEqual(await bob.client.countKeyPackages('bob', bob.deviceId), {
      oneTime: BOB_PACKAGES - budget,
      lastResort: true,
    });
  });

  test('a double spend is refused; the same claim presented again only gets the same KeyPackage', async (t) => {
    const running = await startServer(backend.fresh());
    t.after(() => running.close());
    const bob = await bobOn(running);
    t.after(() => bob.close());
    const wallet = await tokenWallet(bob.client, 'bob', 1);
    const token = (await wallet.take()) ?? assert.fail('a token');
    const again: TokenSource = { take: async () => token, refused: () => undefined };
    const spender = await connect(running.server, undefined, {}, again);
    t.after(() => spender.close());
    const first = await spender.client.claimKeyPackages('bob');
    assert.equal(first.ok, true);
    // Spent on a claim of bob: refused for anything else.
    await assert.rejects(spender.client.claimKeyPackages('alice'), isDeliveryError('token_spent'));
    await assert.rejects(
      spender.client.postToMailbox(mailboxIdOf(id32()), {
        messageId: tag(),
        blob: randomBytes(8),
        bucket: 8,
      }),
      isDeliveryError('token_spent'),
    );
    // Presented again for bob (what a carrier's retransmission looks like), it drains nothing more.
    for (let i = 0; i < 5; i++) assert.deepEqual(await spender.client.claimKeyPackages('bob'), first);
    assert.equal((await bob.client.countKeyPackages('bob', bob.deviceId)).oneTime, BOB_PACKAGES - 1);
  });

  test('a captured signed request, replayed, does nothing again and tells nothing new', async (t) => {
    const running = await startServer(backend.fresh());
    t.after(() => running.close());
    const identity = IdentityKeyPair.generate();
    const bob = await connect(running.server, identity);
    const eavesdropper = await connect(running.server);
    t.after(() => Promise.all([bob.close(), eavesdropper.close()]).then(() => undefined));
    await bob.client.register('bob');
    const deviceId = tag();
    const signed = async <K extends 'countKeyPackages' | 'publishKeyPackages'>(
      kind: K,
      body: Parameters<typeof signedRequestMessage<K>>[1],
    ) =>
      encodeRequest({
        kind,
        value: { body, signature: await signWith(identity, signedRequestMessage(kind, body)) },
      } as Parameters<typeof encodeRequest>[0]);
    const fresh = () => ({ nonce: randomBytes(SIGNED_REQUEST_NONCE_LENGTH), signedAt: Date.now() });
    const count = await signed('countKeyPackages', { handle: 'bob', deviceId, ...fresh() });
    const publish = await signed('publishKeyPackages', {
      handle: 'bob',
      deviceId,
      ...fresh(),
      oneTime: [{ id: tag(), data: randomBytes(8) }],
      lastResort: undefined,
    });
    const counted = decodeResponse(await bob.carrier.request(count));
    assert.deepEqual(counted, { kind: 'countKeyPackages', value: { oneTime: 0, lastResort: false } });
    assert.equal(decodeResponse(await bob.carrier.request(publish)).kind, 'publishKeyPackages');
    await bob.client.publishKeyPackages({
      handle: 'bob',
      deviceId,
      oneTime: [{ id: tag(), data: randomBytes(8) }],
    });
    // The replayed count answers what Bob was told then, not what he holds now.
    assert.deepEqual(decodeResponse(await eavesdropper.carrier.request(count)), counted);
    // The replayed publish adds nothing.
    await eavesdropper.carrier.request(publish);
    assert.equal((await bob.client.countKeyPackages('bob', deviceId)).oneTime, 2);
  });

  test('posting to a mailbox without a token is refused', async (t) => {
    const running = await startServer(backend.fresh());
    t.after(() => running.close());
    const stranger = await connect(running.server);
    t.after(() => stranger.close());
    const secret = id32();
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        stranger.client.postToMailbox(mailboxIdOf(secret), {
          messageId: tag(),
          blob: randomBytes(64),
          bucket: 64,
        }),
        isDeliveryError('token_required'),
      );
    }
    assert.deepEqual(await stranger.client.fetchMailbox(secret, 0), []);
  });
});
