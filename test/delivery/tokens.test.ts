// Anonymous tokens at the delivery service (docs/tokens.md), over real servers and both databases: our
// issuer interoperates with privacypass-ts (its Client finalizes our responses, its Origin accepts the
// tokens, and our blind signature equals its Issuer's for the same request); redemption refuses missing,
// malformed, forged and foreign tokens and spends each once, except a retransmitted mailbox post; the daily
// budget; key rotation with overlap, keys shared by instances on one database; replayed signed requests.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { publicVerif, Token } from '@cloudflare/privacypass-ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { BlindSigner } from '../../src/delivery/issuer.ts';
import { DeliveryError } from '../../src/errors.ts';
import { MetricsRegistry } from '../../src/ops/metrics.ts';
import type { TokenSource } from '../../src/protocol/api.ts';
import { DeliveryClient } from '../../src/protocol/client.ts';
import { IdentityKeyPair, mailboxIdOf, signWith } from '../../src/protocol/identity.ts';
import {
  decodeResponse,
  encodeRequest,
  SIGNED_REQUEST_NONCE_LENGTH,
  signedRequestMessage,
} from '../../src/protocol/messages.ts';
import {
  BLIND_RSA_MODE,
  DEFAULT_ISSUER_NAME,
  spkiFromTokenKey,
  TOKEN_LENGTH,
  tokenChallenge,
  tokenKeyFromSpki,
} from '../../src/protocol/tokens.ts';
import { connect, describeOnBackends, id32, startServer, type TestServer, tag } from './support.ts';

const HOUR = 60 * 60 * 1000;
const { Client, Issuer, Origin, TokenResponse, BLIND_RSA } = publicVerif;

/** A source that always offers the same tokens, in turn (to present one token twice). */
function fixedTokens(...tokens: Uint8Array[]): TokenSource & { refusals: number } {
  let next = 0;
  return {
    refusals: 0,
    async take() {
      return tokens[next++ % tokens.length];
    },
    refused() {
      this.refusals++;
    },
  };
}

async function rejectsWith(promise: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(
    promise,
    (error: unknown) => error instanceof DeliveryError && error.reason === reason,
  );
}

/** Fetches `count` tokens for `handle` with privacypass-ts's own client, through `client`. */
async function fetchTokens(client: DeliveryClient, handle: string, count: number): Promise<Uint8Array[]> {
  const { issuerName, keys } = await client.issuerKeys();
  const key = keys[0] ?? assert.fail('no issuer key');
  const clients = Array.from({ length: count }, () => new Client(BLIND_RSA_MODE));
  const requests = await Promise.all(
    clients.map(async (c) =>
      (await c.createTokenRequest(tokenChallenge(issuerName), key.tokenKey)).serialize(),
    ),
  );
  const result = await client.issueTokens(handle, requests);
  assert.ok(result.ok, 'tokens issued');
  return Promise.all(
    result.responses.map(async (response, i) =>
      (
        await (clients[i] as InstanceType<typeof Client>).finalize(
          new TokenResponse(Uint8Array.from(response)),
        )
      ).serialize(),
    ),
  );
}

describe('Privacy Pass interoperability', () => {
  test('our blind signature equals privacypass-ts Issuer.issue for the same request; its Client and Origin accept it', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicExponent: 65537,
    });
    const tokenKey = tokenKeyFromSpki(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));
    const params = BLIND_RSA.rsaParams;
    const theirPrivate = await crypto.subtle.importKey(
      'pkcs8',
      privateKey.export({ type: 'pkcs8', format: 'der' }),
      params,
      true,
      ['sign'],
    );
    const theirPublic = await crypto.subtle.importKey(
      'spki',
      spkiFromTokenKey(tokenKey) as Uint8Array<ArrayBuffer>,
      params,
      true,
      ['verify'],
    );
    const theirs = new Issuer(BLIND_RSA_MODE, DEFAULT_ISSUER_NAME, theirPrivate, theirPublic);
    for (let i = 0; i < 3; i++) {
      const client = new Client(BLIND_RSA_MODE);
      const request = await client.createTokenRequest(tokenChallenge(DEFAULT_ISSUER_NAME), tokenKey);
      const ours = new BlindSigner(privateKey).sign(request.blindedMsg);
      assert.deepEqual(ours, (await theirs.issue(request)).serialize(), 'deterministic blind signing agrees');
      const token = await client.finalize(new TokenResponse(ours));
      assert.ok(await new Origin(BLIND_RSA_MODE, [DEFAULT_ISSUER_NAME]).verify(token, theirPublic));
      assert.ok(await theirs.verify(token));
    }
  });

  test('the blind signer refuses messages that are not below the modulus', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    const signer = new BlindSigner(privateKey);
    assert.equal(signer.accepts(new Uint8Array(256).fill(0xff)), false);
    assert.equal(signer.accepts(new Uint8Array(255).fill(1)), false);
    assert.equal(signer.accepts(new Uint8Array(256).fill(1)), true);
  });
});

describeOnBackends('anonymous tokens', (backend) => {
  /** A registered identity's client; `clock` is the clock its signed requests carry (the service's). */
  async function registered(running: TestServer, handle: string, clock?: () => number) {
    const identity = IdentityKeyPair.generate();
    const connected = await connect(running.server, identity);
    const client =
      clock === undefined
        ? connected.client
        : new DeliveryClient({ carrier: connected.carrier, identity, clock });
    assert.equal((await client.register(handle)).ok, true);
    return {
      client,
      carrier: connected.carrier,
      identity,
      async close() {
        client.close();
        await connected.close();
      },
    };
  }

  test("privacypass-ts's client finalizes the service's responses; its Origin accepts the tokens, which claims spend once", async (t) => {
    const running = await startServer(backend.fresh());
    t.after(() => running.close());
    const bob = await registered(running, 'bob');
    t.after(() => bob.close());
    await bob.client.publishKeyPackages({
      handle: 'bob',
      deviceId: tag(),
      oneTime: [],
      lastResort: { id: tag(), data: new Uint8Array(8) },
    });
    const { issuerName, keys } = await bob.client.issuerKeys();
    assert.equal(issuerName, DEFAULT_ISSUER_NAME);
    const [token] = await fetchTokens(bob.client, 'bob', 1);
    const key = await crypto.subtle.importKey(
      'spki',
      spkiFromTokenKey((keys[0] ?? assert.fail()).tokenKey) as Uint8Array<ArrayBuffer>,
      BLIND_RSA.rsaParams,
      true,
      ['verify'],
    );
    const origin = new Origin(BLIND_RSA_MODE, [issuerName]);
    assert.ok(await origin.verify(Token.deserialize(BLIND_RSA, token as Uint8Array), key));
    // The service verifies in node:crypto: it must refuse what privacypass-ts refuses (and accept, below).
    const forged = Uint8Array.from(token as Uint8Array);
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    assert.equal(await origin.verify(Token.deserialize(BLIND_RSA, forged), key), false);
    const forger = await connect(running.server, undefined, {}, fixedTokens(forged));
    t.after(() => forger.close());
    await rejectsWith(forger.client.claimKeyPackages('bob'), 'bad_token');

    const spender = await connect(running.server, undefined, {}, fixedTokens(token as Uint8Array));
    t.after(() => spender.close());
    const claimed = await spender.client.claimKeyPackages('bob');
    assert.equal(claimed.ok, true);
    assert.deepEqual(
      await spender.client.claimKeyPackages('bob'),
      claimed,
      'a retransmission: the same result',
    );
    await rejectsWith(spender.client.claimKeyPackages('alice'), 'token_spent');
  });

  test('redemption refuses missing, malformed, forged and foreign tokens, and counts each refusal', async (t) => {
    const metrics = new MetricsRegistry();
    const running = await startServer(backend.fresh(), { metrics });
    t.after(() => running.close());
    const other = await startServer(backend.fresh(), { identifierKey: new Uint8Array(32).fill(1) });
    t.after(() => other.close());
    const alice = await registered(running, 'alice');
    const stranger = await registered(other, 'stranger');
    t.after(() => Promise.all([alice.close(), stranger.close()]).then(() => undefined));
    const mailboxId = mailboxIdOf(id32());
    const post = () => ({ messageId: tag(), blob: new Uint8Array(4), bucket: 4 });

    const bare = await connect(running.server);
    t.after(() => bare.close());
    await rejectsWith(bare.client.postToMailbox(mailboxId, post()), 'token_required');
    await rejectsWith(bare.client.claimKeyPackages('alice'), 'token_required');

    const [good] = await fetchTokens(alice.client, 'alice', 1);
    const forged = Uint8Array.from(good as Uint8Array);
    forged[TOKEN_LENGTH - 1] = (forged[TOKEN_LENGTH - 1] as number) ^ 1;
    const [foreign] = await fetchTokens(stranger.client, 'stranger', 1);
    for (const bad of [randomBytes(TOKEN_LENGTH), forged, foreign as Uint8Array]) {
      const source = fixedTokens(bad);
      const spender = await connect(running.server, undefined, {}, source);
      await rejectsWith(spender.client.postToMailbox(mailboxId, post()), 'bad_token');
      assert.equal(source.refusals, 1, 'reported to the wallet, retried once');
      await spender.close();
    }
    assert.deepEqual(await alice.client.fetchMailbox(id32(), 0), []);
    const text = await metrics.render();
    assert.match(text, /umbra_delivery_tokens_refused_total\{reason="missing"\} 2/);
    assert.match(text, /umbra_delivery_tokens_refused_total\{reason="bad"\} 6/);
    assert.match(text, /umbra_delivery_tokens_issued_total 1/);
  });

  test('a retransmitted mailbox post spends its token again and is a duplicate; another post with it is token_spent', async (t) => {
    const metrics = new MetricsRegistry();
    const running = await startServer(backend.fresh(), { metrics });
    t.after(() => running.close());
    const alice = await registered(running, 'alice');
    t.after(() => alice.close());
    const [token] = await fetchTokens(alice.client, 'alice', 1);
    const secret = id32();
    const mailboxId = mailboxIdOf(secret);
    const source = fixedTokens(token as Uint8Array);
    const poster = await connect(running.server, undefined, {}, source);
    t.after(() => poster.close());
    const post = { messageId: tag(), blob: new Uint8Array(4), bucket: 4 };
    assert.deepEqual(await poster.client.postToMailbox(mailboxId, post), {
      ok: true,
      status: 'stored',
      seq: 1,
    });
    assert.deepEqual(await poster.client.postToMailbox(mailboxId, post), {
      ok: true,
      status: 'duplicate',
      seq: 1,
    });
    await rejectsWith(poster.client.postToMailbox(mailboxId, { ...post, messageId: tag() }), 'token_spent');
    await rejectsWith(poster.client.postToMailbox(mailboxIdOf(id32()), post), 'token_spent');
    assert.equal((await alice.client.fetchMailbox(secret, 0)).length, 1);
    const text = await metrics.render();
    assert.match(text, /umbra_delivery_tokens_redeemed_total 2/);
    assert.match(text, /umbra_delivery_tokens_refused_total\{reason="double_spend"\} 4/);
  });

  test('issuance stops at the daily budget with the time until it renews, and renews the next UTC day', async (t) => {
    let now = Date.UTC(2026, 0, 10, 23, 0);
    const running = await startServer(backend.fresh(), { clock: () => now, tokensPerDay: 3 });
    t.after(() => running.close());
    const alice = await registered(running, 'alice', () => now);
    t.after(() => alice.close());
    const { keys, issuerName } = await alice.client.issuerKeys();
    const key = keys[0] ?? assert.fail();
    const request = async () =>
      (
        await new Client(BLIND_RSA_MODE).createTokenRequest(tokenChallenge(issuerName), key.tokenKey)
      ).serialize();
    const five = await Promise.all(Array.from({ length: 5 }, request));
    const first = await alice.client.issueTokens('alice', five);
    assert.ok(first.ok);
    assert.equal(first.responses.length, 3, 'the first three, no more');
    assert.deepEqual(await alice.client.issueTokens('alice', [await request()]), {
      ok: false,
      error: 'budget_exhausted',
      retryAfterMs: HOUR,
    });
    const bob = await registered(running, 'bob', () => now);
    t.after(() => bob.close());
    const others = await bob.client.issueTokens('bob', [await request()]);
    assert.equal(others.ok && others.responses.length, 1, 'budgets are per identity');
    now += HOUR;
    const renewed = await alice.client.issueTokens('alice', [await request()]);
    assert.equal(renewed.ok && renewed.responses.length, 1);
  });

  test('keys rotate with overlap: old tokens redeem until their key expires; instances share keys', async (t) => {
    const start = Date.UTC(2026, 0, 10, 0, 0);
    let now = start + 1;
    const options = { clock: () => now, tokenKeyRotationMs: HOUR, tokenKeyLifetimeMs: 2 * HOUR };
    const location = backend.fresh();
    // Two instances on one database need their first key at once: the slot's key is created once.
    const [running, second] = await Promise.all([
      startServer(location, options),
      startServer(location, options),
    ]);
    t.after(() => Promise.all([running.close(), second.close()]).then(() => undefined));
    const alice = await registered(running, 'alice', () => now);
    const viaSecond = await connect(second.server);
    t.after(() => Promise.all([alice.close(), viaSecond.close()]).then(() => undefined));
    const [fromFirst, fromSecond] = await Promise.all([
      alice.client.issuerKeys(),
      viaSecond.client.issuerKeys(),
    ]);
    assert.equal(fromFirst.keys.length, 1);
    assert.deepEqual(fromSecond, fromFirst);
    assert.deepEqual(fromFirst.keys[0]?.notBefore, start);
    assert.deepEqual(fromFirst.keys[0]?.acceptUntil, start + 2 * HOUR);
    const [early, early2] = await fetchTokens(alice.client, 'alice', 2);

    now = start + HOUR + 1;
    const rotated = await alice.client.issuerKeys();
    assert.equal(rotated.keys.length, 2, 'the new key and the previous one');
    assert.deepEqual(rotated.keys[1], fromFirst.keys[0]);
    const mailbox = mailboxIdOf(id32());
    const spender = await connect(second.server, undefined, {}, fixedTokens(early as Uint8Array));
    t.after(() => spender.close());
    assert.equal(
      (await spender.client.postToMailbox(mailbox, { messageId: tag(), blob: new Uint8Array(1), bucket: 1 }))
        .ok,
      true,
    );

    now = start + 2 * HOUR;
    const later = await alice.client.issuerKeys();
    assert.ok(
      later.keys.every((key) => key.notBefore > start),
      'the first key is no longer accepted',
    );
    const late = await connect(running.server, undefined, {}, fixedTokens(early2 as Uint8Array));
    t.after(() => late.close());
    await rejectsWith(
      late.client.postToMailbox(mailbox, { messageId: tag(), blob: new Uint8Array(1), bucket: 1 }),
      'bad_token',
    );
  });

  test('a signed request acts once: an identical copy (a retransmission) gets the first answer, another request with its nonce is bad_request', async (t) => {
    const running = await startServer(backend.fresh(), { tokensPerDay: 4 });
    t.after(() => running.close());
    const alice = await registered(running, 'alice');
    t.after(() => alice.close());
    const send = async (request: Parameters<typeof encodeRequest>[0]) =>
      decodeResponse(await alice.carrier.request(encodeRequest(request)));
    const signed = async <K extends 'issueTokens' | 'publishKeyPackages'>(
      kind: K,
      body: Parameters<typeof signedRequestMessage<K>>[1],
    ) => ({ body, signature: await signWith(alice.identity, signedRequestMessage(kind, body)) });
    const fresh = () => ({ nonce: randomBytes(SIGNED_REQUEST_NONCE_LENGTH), signedAt: Date.now() });

    const { issuerName, keys } = await alice.client.issuerKeys();
    const key = keys[0] ?? assert.fail();
    const tokenRequest = async () =>
      (
        await new Client(BLIND_RSA_MODE).createTokenRequest(tokenChallenge(issuerName), key.tokenKey)
      ).serialize();

    // KeyPackages: a copy of a publish does not put back the KeyPackage a claim consumed since.
    const deviceId = tag();
    const publish = await signed('publishKeyPackages', {
      handle: 'alice',
      deviceId,
      ...fresh(),
      oneTime: [{ id: tag(), data: new Uint8Array(8) }],
      lastResort: undefined,
    });
    const published = await send({ kind: 'publishKeyPackages', value: publish });
    assert.equal(published.kind, 'publishKeyPackages');
    const [token] = await fetchTokens(alice.client, 'alice', 1);
    await connect(running.server, undefined, {}, fixedTokens(token as Uint8Array)).then(async (claimer) => {
      t.after(() => claimer.close());
      await claimer.client.claimKeyPackages('alice');
    });
    assert.deepEqual(await send({ kind: 'publishKeyPackages', value: publish }), published);
    assert.equal((await alice.client.countKeyPackages('alice', deviceId)).oneTime, 0);

    // Tokens: the copy is answered with the very responses of the first, and the budget is charged once.
    const issue = await signed('issueTokens', {
      handle: 'alice',
      ...fresh(),
      tokenRequests: [await tokenRequest(), await tokenRequest()],
    });
    const [first, copy] = await Promise.all([
      send({ kind: 'issueTokens', value: issue }),
      send({ kind: 'issueTokens', value: issue }),
    ]);
    assert.equal(first.kind === 'issueTokens' && first.value.ok && first.value.responses.length, 2);
    assert.deepEqual(copy, first, 'the copy sent while the first was being answered');
    assert.deepEqual(await send({ kind: 'issueTokens', value: issue }), first, 'the copy sent later');
    const rest = await alice.client.issueTokens('alice', [await tokenRequest(), await tokenRequest()]);
    assert.equal(rest.ok && rest.responses.length, 1, 'three of four spent, whatever the copies');

    // Another request under a nonce already spent is a replay, refused; so is a copy of it.
    const forged = await signed('issueTokens', { ...issue.body, tokenRequests: [await tokenRequest()] });
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await send({ kind: 'issueTokens', value: forged }), {
        kind: 'error',
        value: { code: 'bad_request' },
      });
    }
    // The client signs every request with a fresh nonce, so its own repeats go through.
    await alice.client.countKeyPackages('alice', deviceId);
    await alice.client.countKeyPackages('alice', deviceId);
  });
});
