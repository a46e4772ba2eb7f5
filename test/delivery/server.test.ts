// The delivery service over real WebSockets, on SQLite and on PostgreSQL: the ordering rule under real
// concurrency (many connections racing commits; on PostgreSQL through two service instances on one
// database), Welcomes released only for the winning commit, duplicates stored once, quotas and TTL, signed
// uploads, exactly-once one-time KeyPackages under concurrent claims, and pushes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryError } from '../../src/errors.ts';
import type { DeliveryPush, LogPostResult, TokenSource } from '../../src/protocol/api.ts';
import { DeliveryClient } from '../../src/protocol/client.ts';
import { IdentityKeyPair, mailboxIdOf } from '../../src/protocol/identity.ts';
import {
  connect,
  describeOnBackends,
  id32,
  startServer,
  type TestClient,
  type TestServer,
  tag,
  tokenWallet,
} from './support.ts';

const RACERS = 24;
const HOUR = 60 * 60 * 1000;

async function rejectsWith(promise: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(
    promise,
    (error: unknown) => error instanceof DeliveryError && error.reason === reason,
  );
}

/** Resolves with the first push `listener` accepts. */
function nextPush(client: DeliveryClient, accept: (push: DeliveryPush) => boolean): Promise<DeliveryPush> {
  return new Promise((resolve) => {
    const off = client.onPush((push) => {
      if (accept(push)) {
        off();
        resolve(push);
      }
    });
  });
}

describeOnBackends('delivery service', (backend) => {
  /** One server on SQLite; two instances on one database for PostgreSQL, so races cross processes' pools. */
  async function startServers(t: { after(fn: () => Promise<void>): void }): Promise<TestServer[]> {
    const location = backend.fresh();
    const first = await startServer(location);
    t.after(() => first.close());
    if (backend.name === 'SQLite') return [first];
    const second = await startServer(location);
    t.after(() => second.close());
    return [first, second];
  }

  async function clients(
    servers: TestServer[],
    n: number,
    t: { after(fn: () => Promise<void>): void },
    tokens?: TokenSource,
  ) {
    const all: TestClient[] = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        connect((servers[i % servers.length] as TestServer).server, undefined, {}, tokens),
      ),
    );
    t.after(async () => {
      await Promise.all(all.map((c) => c.close()));
    });
    return all;
  }

  test('exactly one commit per routing ID when many connections race, and only its Welcome is released', async (t) => {
    const servers = await startServers(t);
    const racers = await clients(servers, RACERS, t);
    for (let round = 0; round < 3; round++) {
      const routingId = id32();
      const commits = racers.map(() => tag());
      // Every racer posts its Welcome, its commit and an application message at once.
      const results = await Promise.all(
        racers.map(async ({ client }, i) => {
          const commitMessageId = commits[i] as Uint8Array;
          const [welcome, commit, application] = await Promise.all([
            client.postToLog(routingId, {
              kind: 'welcome',
              messageId: tag(),
              blob: new Uint8Array([i]),
              bucket: 1,
              commitMessageId,
            }),
            client.postToLog(routingId, {
              kind: 'commit',
              messageId: commitMessageId,
              blob: new Uint8Array([i]),
              bucket: 1,
            }),
            client.postToLog(routingId, {
              kind: 'application',
              messageId: tag(),
              blob: new Uint8Array([i]),
              bucket: 1,
            }),
          ]);
          return { welcome, commit, application };
        }),
      );
      const winners = results.flatMap((r, i) => (r.commit.ok ? [i] : []));
      assert.equal(winners.length, 1, 'exactly one commit accepted');
      const winner = winners[0] as number;
      const winning = results[winner]?.commit as LogPostResult & { seq: number };
      for (const [i, r] of results.entries()) {
        if (i === winner) continue;
        assert.deepEqual(r.commit, { ok: false, error: 'stale_epoch', winningSeq: winning.seq });
        assert.ok(r.welcome.ok ? r.welcome.status === 'held' : r.welcome.error === 'stale_epoch');
      }
      const page = await (racers[0] as TestClient).client.fetchLog(routingId, 0);
      assert.equal(page.winningSeq, winning.seq);
      const seqs = page.entries.map((entry) => entry.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'sequence numbers increase',
      );
      assert.equal(new Set(seqs).size, seqs.length);
      const commitsInLog = page.entries.filter((entry) => entry.kind === 'commit');
      assert.equal(commitsInLog.length, 1);
      const welcomes = page.entries.filter((entry) => entry.kind === 'welcome');
      assert.equal(welcomes.length, 1, 'only the winning commit’s Welcome is readable');
      assert.deepEqual(welcomes[0]?.commitMessageId, commits[winner]);
      assert.deepEqual(welcomes[0]?.blob, new Uint8Array([winner]));
      // Nothing is accepted after the commit except that Welcome.
      for (const entry of page.entries) {
        if (entry.seq > winning.seq) assert.equal(entry.kind, 'welcome');
      }
    }
  });

  test('a post retried from several connections is stored once', async (t) => {
    const servers = await startServers(t);
    const racers = await clients(servers, 8, t);
    const routingId = id32();
    const post = { kind: 'application' as const, messageId: tag(), blob: new Uint8Array([7, 7]), bucket: 2 };
    const results = await Promise.all(racers.map(({ client }) => client.postToLog(routingId, post)));
    const seqs = new Set(results.map((r) => (r.ok && 'seq' in r ? r.seq : -1)));
    assert.deepEqual([...seqs], [1]);
    assert.equal(results.filter((r) => r.ok && r.status === 'stored').length, 1);
    const page = await (racers[0] as TestClient).client.fetchLog(routingId, 0);
    assert.equal(page.entries.length, 1);
  });

  test('each one-time KeyPackage is handed out exactly once under concurrent claims', async (t) => {
    const servers = await startServers(t);
    const bob = IdentityKeyPair.generate();
    const owner = await connect((servers[0] as TestServer).server, bob);
    t.after(() => owner.close());
    assert.deepEqual(await owner.client.register('bob'), { ok: true, created: true });
    const deviceId = tag();
    const oneTime = Array.from({ length: 10 }, (_, i) => ({
      id: new Uint8Array([1, i]),
      data: new Uint8Array([i]),
    }));
    const lastResort = { id: new Uint8Array([2]), data: new Uint8Array([99]) };
    assert.deepEqual(
      await owner.client.publishKeyPackages({ handle: 'bob', deviceId, oneTime, lastResort }),
      {
        ok: true,
        added: 10,
      },
    );
    // The claimers spend tokens someone registered fetched (claims are anonymous: whose does not matter).
    const claimers = await clients(servers, RACERS, t, await tokenWallet(owner.client, 'bob', RACERS));
    const claims = await Promise.all(claimers.map(({ client }) => client.claimKeyPackages('bob')));
    const handedOut: string[] = [];
    let lastResorts = 0;
    for (const claim of claims) {
      assert.ok(claim.ok);
      assert.deepEqual(claim.identityKey, bob.publicKey, 'the claim carries the identity to authenticate');
      assert.equal(claim.packages.length, 1);
      const [pkg] = claim.packages;
      if (pkg?.lastResort) lastResorts++;
      else handedOut.push(String(pkg?.id));
    }
    assert.equal(handedOut.length, 10);
    assert.equal(new Set(handedOut).size, 10, 'no one-time KeyPackage twice');
    assert.equal(lastResorts, RACERS - 10);
    assert.deepEqual(await owner.client.countKeyPackages('bob', deviceId), { oneTime: 0, lastResort: true });
  });

  test('nobody can register, publish or count for another identity’s handle', async (t) => {
    const [server] = await startServers(t);
    const alice = IdentityKeyPair.generate();
    const mallory = IdentityKeyPair.generate();
    const a = await connect((server as TestServer).server, alice);
    const m = await connect((server as TestServer).server, mallory, {}, 'mallory');
    t.after(() => Promise.all([a.close(), m.close()]).then(() => undefined));
    assert.deepEqual(await a.client.register('alice'), { ok: true, created: true });
    assert.deepEqual(await m.client.register('alice'), { ok: false, error: 'handle_taken' });
    assert.deepEqual(await m.client.register('mallory'), { ok: true, created: true });
    const deviceId = tag();
    const upload = { handle: 'alice', deviceId, oneTime: [{ id: tag(), data: new Uint8Array(3) }] };
    await rejectsWith(m.client.publishKeyPackages(upload), 'bad_signature');
    await rejectsWith(m.client.countKeyPackages('alice', deviceId), 'bad_signature');
    await rejectsWith(m.client.publishKeyPackages({ ...upload, handle: 'nobody' }), 'not_registered');
    // A signed request from too long ago is refused, so a captured upload cannot be replayed later.
    const stale = new DeliveryClient({
      carrier: a.carrier,
      identity: alice,
      clock: () => Date.now() - 2 * HOUR,
    });
    await rejectsWith(stale.publishKeyPackages(upload), 'expired');
    stale.close();
    assert.deepEqual(await a.client.publishKeyPackages(upload), { ok: true, added: 1 });
    const claim = await m.client.claimKeyPackages('alice');
    assert.ok(claim.ok);
    assert.deepEqual(claim.identityKey, alice.publicKey);
    const lookup = await m.client.lookup('alice');
    assert.ok(lookup.ok);
    assert.deepEqual(lookup.identityKey, alice.publicKey);
    assert.deepEqual(await m.client.lookup('carol'), { ok: false, error: 'not_found' });
  });

  test('a registration carries the first KeyPackages, published only for its own handle once bound', async (t) => {
    const [server] = await startServers(t);
    const carol = IdentityKeyPair.generate();
    const c = await connect((server as TestServer).server, carol, {}, 'carol');
    const m = await connect((server as TestServer).server, IdentityKeyPair.generate(), {}, 'mallory');
    t.after(() => Promise.all([c.close(), m.close()]).then(() => undefined));
    const deviceId = tag();
    const upload = (handle: string) => ({
      handle,
      deviceId,
      oneTime: [{ id: tag(), data: new Uint8Array(3) }],
      lastResort: { id: tag(), data: new Uint8Array(4) },
    });
    assert.deepEqual(await c.client.register('carol', upload('carol')), {
      ok: true,
      created: true,
      published: { ok: true, added: 1 },
    });
    assert.deepEqual(await c.client.countKeyPackages('carol', deviceId), { oneTime: 1, lastResort: true });
    // The same registration again (a retransmission, or a resumed sign-up) publishes the new ones.
    const again = await c.client.register('carol', upload('carol'));
    assert.deepEqual(again, { ok: true, created: false, published: { ok: true, added: 1 } });
    // Taken: nothing is published. KeyPackages for another handle are not published by a registration.
    assert.deepEqual(await m.client.register('carol', upload('carol')), { ok: false, error: 'handle_taken' });
    assert.deepEqual(await m.client.register('mallory', upload('carol')), { ok: true, created: true });
    assert.deepEqual(await c.client.countKeyPackages('carol', deviceId), { oneTime: 2, lastResort: true });
  });

  test('quotas, size limits and TTL are enforced with typed results', async (t) => {
    let now = Date.now();
    const location = backend.fresh();
    const limits = {
      maxItemsPerStream: 3,
      maxBytesPerStream: 100,
      ttlMs: HOUR,
      maxKeyPackagesPerDevice: 2,
      maxKeyPackageBytes: 50,
    };
    const running = await startServer(location, { clock: () => now, limits, purgeIntervalMs: 0 });
    t.after(() => running.close());
    const { client, close } = await connect(running.server, IdentityKeyPair.generate(), {}, 'erin');
    t.after(close);

    await client.register('erin');
    const deviceId = tag();
    const keyPackage = (size: number) => ({ id: tag(), data: new Uint8Array(size) });
    const publish = (oneTime: { id: Uint8Array; data: Uint8Array }[]) =>
      client.publishKeyPackages({ handle: 'erin', deviceId, oneTime });
    assert.deepEqual(await publish([keyPackage(51)]), { ok: false, error: 'too_large', maxBytes: 50 });
    assert.deepEqual(await publish([keyPackage(1), keyPackage(1)]), { ok: true, added: 2 });
    assert.deepEqual(await publish([keyPackage(1)]), {
      ok: false,
      error: 'quota_exceeded',
      limit: 'key_packages',
    });
    assert.deepEqual(await client.countKeyPackages('erin', deviceId), { oneTime: 2, lastResort: false });
    const routingId = id32();
    const post = (size: number) => ({
      kind: 'application' as const,
      messageId: tag(),
      blob: new Uint8Array(size),
      bucket: 0,
    });
    assert.deepEqual(await client.postToLog(routingId, post(101)), {
      ok: false,
      error: 'too_large',
      maxBytes: 100,
    });
    assert.equal((await client.postToLog(routingId, post(60))).ok, true);
    assert.deepEqual(await client.postToLog(routingId, post(60)), {
      ok: false,
      error: 'quota_exceeded',
      limit: 'bytes',
    });
    assert.equal((await client.postToLog(routingId, post(1))).ok, true);
    assert.equal((await client.postToLog(routingId, post(1))).ok, true);
    assert.deepEqual(await client.postToLog(routingId, post(1)), {
      ok: false,
      error: 'quota_exceeded',
      limit: 'messages',
    });

    const secret = id32();
    const mailboxId = mailboxIdOf(secret);
    for (let i = 0; i < 3; i++) assert.equal((await client.postToMailbox(mailboxId, post(1))).ok, true);
    assert.deepEqual(await client.postToMailbox(mailboxId, post(1)), {
      ok: false,
      error: 'quota_exceeded',
      limit: 'messages',
    });
    const items = await client.fetchMailbox(secret, 0);
    assert.equal(items.length, 3);
    // Only the owner's secret reads or deletes; deleting frees the quota.
    assert.deepEqual(await client.fetchMailbox(id32(), 0), []);
    assert.equal(await client.deleteFromMailbox(id32(), [items[0]?.messageId as Uint8Array]), 0);
    assert.equal(await client.deleteFromMailbox(secret, [items[0]?.messageId as Uint8Array]), 1);
    assert.equal((await client.postToMailbox(mailboxId, post(1))).ok, true);

    now += HOUR + 1;
    assert.deepEqual((await client.fetchLog(routingId, 0)).entries, [], 'expired items are not served');
    assert.deepEqual(await client.fetchMailbox(secret, 0), []);
    await running.server.service.purge();
    assert.equal((await client.postToLog(routingId, post(60))).ok, true, 'expired items no longer count');
  });

  test('subscribers are pushed positions of new log entries and mailbox items', async (t) => {
    const servers = await startServers(t);
    const [watcher] = await clients(servers, 1, t);
    if (watcher === undefined) throw new Error('a client expected');
    const poster = await connect(
      (servers[servers.length - 1] as TestServer).server,
      IdentityKeyPair.generate(),
      {},
      'poster',
    );
    t.after(() => poster.close());
    await poster.client.register('poster');
    const routingId = id32();
    const secret = id32();
    await watcher.client.subscribe({ routingIds: [routingId], mailboxSecrets: [secret] });
    const logPush = nextPush(watcher.client, (push) => push.type === 'log');
    await poster.client.postToLog(routingId, {
      kind: 'application',
      messageId: tag(),
      blob: new Uint8Array(1),
      bucket: 0,
    });
    assert.deepEqual(await logPush, { type: 'log', routingId, seq: 1, kind: 'application' });
    const mailboxPush = nextPush(watcher.client, (push) => push.type === 'mailbox');
    await poster.client.postToMailbox(mailboxIdOf(secret), {
      messageId: tag(),
      blob: new Uint8Array(1),
      bucket: 0,
    });
    assert.deepEqual(await mailboxPush, { type: 'mailbox', mailboxId: mailboxIdOf(secret), seq: 1 });
  });
});
