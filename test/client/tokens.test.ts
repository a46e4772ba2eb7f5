// The SDK's token wallet against a real delivery server (tokens on, the default): it fills by itself after
// registration, claims and Welcome posts spend from it without the app seeing a token, it survives a
// restart in the vault, and after a key rotation the refused token is dropped and the request retried once;
// the issuer's keys are fetched once (ahead, during a sign-up) and serve the fills after, until a rotation.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TokenWallet } from '../../src/client/tokens.ts';
import { MetricsRegistry } from '../../src/ops/metrics.ts';
import { IdentityKeyPair } from '../../src/protocol/identity.ts';
import { connect, memoryVault, startServer } from '../delivery/support.ts';
import { joined, removeTempDirs, tempDir, user } from './support.ts';

after(removeTempDirs);

/** The value of an unlabelled counter in `metrics`. */
async function counter(metrics: MetricsRegistry, name: string): Promise<number> {
  const line = (await metrics.render()).split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? 0);
}

/** Resolves once `probe` resolves true, re-checked on every event tick (as support.ts's `eventually`). */
async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('the wallet fills after registration, pays for claims and Welcomes, and persists in the vault', async (t) => {
  const metrics = new MetricsRegistry();
  const server = await startServer({ sqlitePath: `${tempDir()}/delivery.sqlite` }, { metrics });
  t.after(() => server.close());
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map((name) => user(server.server, name)),
  );
  t.after(async () => {
    for (const u of [alice, bob, carol]) await u?.close();
  });
  if (!alice || !bob || !carol) throw new Error('three users expected');
  // Every registered client fetches its batch (10) by itself, before it needs one.
  await until(
    async () => (await counter(metrics, 'umbra_delivery_tokens_issued_total')) >= 30,
    'wallets filled',
  );
  const issued = await counter(metrics, 'umbra_delivery_tokens_issued_total');

  const chat = await alice.client.createConversation(['bob']);
  await joined(bob.client, chat.id);
  assert.equal(
    await counter(metrics, 'umbra_delivery_tokens_redeemed_total'),
    2,
    'one claim, one Welcome post',
  );

  await alice.restart();
  const other = await alice.client.createConversation(['carol']);
  await joined(carol.client, other.id);
  assert.equal(await counter(metrics, 'umbra_delivery_tokens_redeemed_total'), 4);
  assert.equal(
    await counter(metrics, 'umbra_delivery_tokens_issued_total'),
    issued,
    'the tokens fetched before the restart were kept in the vault and spent',
  );
});

test('after a key rotation the refused token is dropped and the request retried with a fresh one', async (t) => {
  const metrics = new MetricsRegistry();
  const minute = 60_000;
  let skew = 0;
  const server = await startServer(
    { sqlitePath: `${tempDir()}/delivery.sqlite` },
    {
      metrics,
      clock: () => Date.now() + skew,
      tokenKeyRotationMs: 2 * minute,
      tokenKeyLifetimeMs: 4 * minute,
    },
  );
  t.after(() => server.close());
  const alice = await user(server.server, 'alice');
  const bob = await user(server.server, 'bob');
  t.after(() => Promise.all([alice.close(), bob.close()]).then(() => undefined));
  await until(
    async () => (await counter(metrics, 'umbra_delivery_tokens_issued_total')) >= 20,
    'wallets filled',
  );

  // Every key alice's tokens were issued under is past its lifetime (her clock cannot tell).
  skew = 5 * minute;
  const chat = await alice.client.createConversation(['bob']);
  await joined(bob.client, chat.id);
  const text = await metrics.render();
  assert.match(text, /umbra_delivery_tokens_refused_total\{reason="bad"\} [1-9]/);
  assert.equal(await counter(metrics, 'umbra_delivery_tokens_redeemed_total'), 2);
});

test('the issuer keys fetched ahead serve the fills after them, until a refused token says the key rotated', async (t) => {
  const server = await startServer({ sqlitePath: `${tempDir()}/delivery.sqlite` });
  t.after(() => server.close());
  const dora = await connect(server.server, IdentityKeyPair.generate());
  t.after(() => dora.close());
  let keyFetches = 0;
  const issuerKeys = () => {
    keyFetches++;
    return dora.client.issuerKeys();
  };
  let registered = false;
  const wallet = await TokenWallet.load(memoryVault(), {
    issuer: () =>
      registered
        ? { issuerKeys, issueTokens: (requests) => dora.client.issueTokens('dora', requests) }
        : undefined,
    batch: 2,
    lowWatermark: 1,
  });
  // Fetched beside the registration, before the identity may ask for tokens.
  wallet.prepareKeys(issuerKeys);
  assert.equal((await dora.client.register('dora')).ok, true);
  registered = true;
  assert.equal(await wallet.fill(), 2);
  const token = await wallet.take();
  assert.ok(token !== undefined);
  await wallet.take();
  assert.equal(await wallet.fill(), 2);
  assert.equal(keyFetches, 1, 'one fetch of the keys for the fills');
  wallet.refused(token, 'bad_token');
  assert.equal(wallet.size, 0, 'a refused key takes its tokens with it');
  assert.equal(await wallet.fill(), 2);
  assert.equal(keyFetches, 2, 'after a bad_token the keys are asked for again');
});
