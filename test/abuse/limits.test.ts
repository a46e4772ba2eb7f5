// Abuse without identification (issue 12, item 3), against real delivery servers over real sockets on both
// databases: a squatter's burst of sign-ups is refused after the limits with `rate_limited` and a retry delay
// (per WebSocket connection, per HTTP peer i.e. per exit gateway, and in total), and accepted again after
// that delay on the service's clock; the SDK's sign-up reports it as a retryable error and keeps its keys;
// posts to random mailboxes stop at the store-wide quota with `quota_exceeded storage` while existing
// streams still read and delete; past the per-address and total connection caps an upgrade gets 429 (from
// several 127.x source addresses), and a client that never reads its responses is dropped.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import { Client } from '../../src/client/client.ts';
import { ClientError } from '../../src/errors.ts';
import { MetricsRegistry } from '../../src/ops/metrics.ts';
import type { MailboxPostResult, RegisterResult } from '../../src/protocol/api.ts';
import { encodeFrame } from '../../src/protocol/frames.ts';
import { createRegistration, IdentityKeyPair, mailboxIdOf } from '../../src/protocol/identity.ts';
import { decodeResponse, encodeRequest } from '../../src/protocol/messages.ts';
import { clientOptions, directCarrier, eventually, removeTempDirs, tempDir } from '../client/support.ts';
import { connect, describeOnBackends, id32, startServer, type TestServer, tag } from '../delivery/support.ts';

after(removeTempDirs);

const T0 = 1_760_000_000_000;
const MINUTE = 60_000;

/** The service's clock, moved by hand. */
class ManualClock {
  now = T0;
  readonly read = (): number => this.now;
}

type After = { after(fn: () => Promise<void>): void };

describeOnBackends('registration limits', (backend) => {
  async function server(
    t: After,
    clock: ManualClock,
    limits = {},
    metrics = new MetricsRegistry(),
  ): Promise<TestServer> {
    const started = await startServer(backend.fresh(), {
      clock: clock.read,
      registrationLimits: limits,
      metrics,
    });
    t.after(() => started.close());
    return started;
  }

  test('50 sign-ups in a burst on one connection: refused after the limit with a delay, accepted after it', async (t) => {
    const clock = new ManualClock();
    const { server: delivery } = await server(t, clock);
    // A squatter's script: one key, one connection, 50 handles as fast as the socket takes them.
    const squatter = await connect(delivery, IdentityKeyPair.generate());
    t.after(() => squatter.close());
    const handles = Array.from({ length: 50 }, (_, i) => `squat${i}`);
    const results = await Promise.all(handles.map((handle) => squatter.client.register(handle)));
    const created = results.filter((result) => result.ok && result.created);
    const refused = results.filter(
      (result): result is Extract<RegisterResult, { error: 'rate_limited' }> =>
        !result.ok && result.error === 'rate_limited',
    );
    assert.equal(created.length, 10, 'the default per-connection burst');
    assert.equal(refused.length, 40);
    assert.ok(refused.every((result) => result.retryAfterMs > 0 && result.retryAfterMs <= MINUTE));

    // Nothing was stored for the refused ones.
    const others = await connect(delivery);
    t.after(() => others.close());
    const stored = await Promise.all(handles.map((handle) => others.client.lookup(handle)));
    assert.equal(stored.filter((result) => result.ok).length, 10);

    // A handle already bound is answered even over the limit: finishing one's own sign-up never waits.
    const firstCreated = handles[results.indexOf(created[0] ?? assert.fail())] ?? assert.fail();
    assert.deepEqual(await squatter.client.register(firstCreated), { ok: true, created: false });

    const wait = Math.max(...refused.map((result) => result.retryAfterMs));
    clock.now += wait - 1;
    const early = await squatter.client.register('late0');
    assert.equal(early.ok, false);
    clock.now += 1;
    assert.deepEqual(await squatter.client.register('late0'), { ok: true, created: true });
    assert.equal((await squatter.client.register('late1')).ok, false, 'one token per interval, no more');
  });

  test('a family sign-up burst on one connection passes with the defaults', async (t) => {
    const clock = new ManualClock();
    const { server: delivery } = await server(t, clock);
    const family = await connect(delivery, IdentityKeyPair.generate());
    t.after(() => family.close());
    const names = ['mum', 'dad', 'gran', 'grandad', 'ana', 'ben', 'cleo', 'dora'];
    for (const name of names)
      assert.deepEqual(await family.client.register(name), { ok: true, created: true });
  });

  test('the exit gateway is one HTTP peer: its clients share a bucket, and the global bucket binds everyone', async (t) => {
    const clock = new ManualClock();
    const { server: delivery } = await server(t, clock, {
      perPeer: { burst: 3, refillMs: MINUTE },
      global: { burst: 5, refillMs: 10 * MINUTE },
    });
    const identity = IdentityKeyPair.generate();
    /** What a gateway does for each client behind it: one POST /v1/request. */
    const viaGateway = async (handle: string): Promise<RegisterResult> => {
      const registration = await createRegistration(identity, handle, clock.now);
      const response = await fetch(`${delivery.url}/v1/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(
          encodeRequest({ kind: 'register', value: { handle, registration, keyPackages: undefined } }),
        ),
      });
      const decoded = decodeResponse(new Uint8Array(await response.arrayBuffer()));
      assert.equal(decoded.kind, 'register');
      return decoded.value as RegisterResult;
    };
    const viaGatewayResults = [];
    for (let i = 0; i < 5; i++) viaGatewayResults.push(await viaGateway(`mix${i}`));
    assert.deepEqual(
      viaGatewayResults.map((result) => (result.ok ? 'created' : result.error)),
      ['created', 'created', 'created', 'rate_limited', 'rate_limited'],
    );
    assert.deepEqual(viaGatewayResults[3], { ok: false, error: 'rate_limited', retryAfterMs: MINUTE });

    // Two direct connections take the last two global tokens; a third connection, fresh, is refused.
    const direct = await Promise.all([0, 1, 2].map(() => connect(delivery, identity)));
    t.after(async () => {
      for (const client of direct) await client.close();
    });
    assert.deepEqual(await direct[0]?.client.register('ws0'), { ok: true, created: true });
    assert.deepEqual(await direct[1]?.client.register('ws1'), { ok: true, created: true });
    assert.deepEqual(await direct[2]?.client.register('ws2'), {
      ok: false,
      error: 'rate_limited',
      retryAfterMs: 10 * MINUTE,
    });
    clock.now += MINUTE;
    assert.equal((await viaGateway('mix5')).ok, false, 'the global bucket is still empty');
    clock.now += 9 * MINUTE;
    assert.deepEqual(await viaGateway('mix5'), { ok: true, created: true });
  });

  test('a registration that binds nothing costs no token: bad signatures, the same key again, a taken handle', async (t) => {
    const clock = new ManualClock();
    const { server: delivery } = await server(t, clock, { perConnection: { burst: 1, refillMs: MINUTE } });
    const identity = IdentityKeyPair.generate();
    const owner = await connect(delivery, identity);
    const other = await connect(delivery, IdentityKeyPair.generate());
    t.after(async () => {
      await owner.close();
      await other.close();
    });
    assert.deepEqual(await other.client.register('taken'), { ok: true, created: true });
    // Tampered registrations: refused before anything is stored, five times over.
    for (let i = 0; i < 5; i++) {
      const registration = await createRegistration(identity, `forged${i}`, clock.now);
      registration[registration.length - 1] = (registration[registration.length - 1] ?? 0) ^ 1;
      const answer = decodeResponse(
        await owner.carrier.request(
          encodeRequest({
            kind: 'register',
            value: { handle: `forged${i}`, registration, keyPackages: undefined },
          }),
        ),
      );
      assert.deepEqual(answer, { kind: 'error', value: { code: 'bad_signature' } });
    }
    assert.deepEqual(await owner.client.register('taken'), { ok: false, error: 'handle_taken' });
    assert.deepEqual(await owner.client.register('mine'), { ok: true, created: true });
    assert.deepEqual(await owner.client.register('mine'), { ok: true, created: false });
    assert.deepEqual(await owner.client.register('more'), {
      ok: false,
      error: 'rate_limited',
      retryAfterMs: MINUTE,
    });
  });

  test("the SDK's sign-up reports rate_limited with its delay, keeps the keys, and finishes after it", async (t) => {
    const clock = new ManualClock();
    clock.now = Date.now(); // The SDK signs its KeyPackage uploads with its own clock.
    const metrics = new MetricsRegistry();
    const { server: delivery } = await server(t, clock, { global: { burst: 1, refillMs: MINUTE } }, metrics);
    const refusals = async () =>
      /umbra_delivery_requests_total\{kind="register",outcome="rate_limited"\} (\d+)/.exec(
        await metrics.render(),
      )?.[1];
    const carriers = await Promise.all([0, 1].map(() => directCarrier(delivery)));
    const [first, second] = await Promise.all(
      carriers.map((carrier) =>
        Client.open(clientOptions(tempDir(), [carrier], { pollIntervalMs: 60 * MINUTE })),
      ),
    );
    t.after(async () => {
      await first?.close();
      await second?.close();
      for (const carrier of carriers) await carrier.close();
    });
    await first?.register('ann');
    const refused = await second?.register('bob').then(
      () => assert.fail('expected rate_limited'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof ClientError);
    assert.equal(refused.reason, 'rate_limited');
    assert.equal(refused.retryAfterMs, MINUTE);
    assert.match(refused.message, /try again in 60 s/);
    assert.equal(second?.registration, 'pending', 'the keys are kept for the retry');
    assert.equal(second?.handle, 'bob');
    // Its own polls wait for the delay instead of asking again.
    await second?.sync();
    assert.equal(await refusals(), '1');

    clock.now += MINUTE;
    await second?.register('bob');
    assert.equal(second?.registration, 'registered');
  });
});

describeOnBackends('store-wide quota', (backend) => {
  test('40 random mailboxes of 1 MiB each stop at the quota; existing streams still read and delete', async (t) => {
    const location = backend.fresh();
    const maxTotalBytes = 8 * 1024 * 1024;
    // Tokens off: the quota must hold on its own, whatever budget of tokens an abuser gathers.
    const delivery = await startServer(location, { limits: { maxTotalBytes }, tokens: false });
    t.after(() => delivery.close());
    const victim = await connect(delivery.server);
    t.after(() => victim.close());
    const secret = id32();
    const mine = { messageId: tag(), blob: new Uint8Array(1000).fill(7), bucket: 0 };
    assert.equal((await victim.client.postToMailbox(mailboxIdOf(secret), mine)).ok, true);

    // The abuser of issue 12: random mailboxes, the largest blob each (1 MiB), 40 of them.
    const abuser = await connect(delivery.server);
    t.after(() => abuser.close());
    const blob = new Uint8Array(1024 * 1024).fill(1);
    const results: MailboxPostResult[] = [];
    for (let i = 0; i < 40; i++) {
      results.push(await abuser.client.postToMailbox(id32(), { messageId: tag(), blob, bucket: 0 }));
    }
    const stored = results.filter((result) => result.ok).length;
    assert.equal(stored, 7, 'what fits beside the victim’s item under 8 MiB');
    assert.ok(
      results
        .slice(stored)
        .every((result) => !result.ok && result.error === 'quota_exceeded' && result.limit === 'storage'),
    );
    if ('sqlitePath' in location) {
      const files = ['', '-wal'].map((suffix) =>
        join(dirname(location.sqlitePath), `delivery.sqlite${suffix}`),
      );
      const onDisk = files.reduce(
        (sum, file) => sum + (statSync(file, { throwIfNoEntry: false })?.size ?? 0),
        0,
      );
      t.diagnostic(`SQLite file + WAL after the flood: ${(onDisk / 1024 / 1024).toFixed(1)} MiB`);
    }

    // The victim still reads and deletes, and what it frees is usable again.
    const items = await victim.client.fetchMailbox(secret, 0);
    assert.deepEqual(
      items.map((item) => item.messageId),
      [mine.messageId],
    );
    assert.equal(await victim.client.deleteFromMailbox(secret, [mine.messageId]), 1);
    const again = { messageId: tag(), blob: new Uint8Array(1000), bucket: 0 };
    assert.equal((await victim.client.postToMailbox(mailboxIdOf(secret), again)).ok, true);
    const full = await abuser.client.postToMailbox(id32(), { messageId: tag(), blob, bucket: 0 });
    assert.deepEqual(full, { ok: false, error: 'quota_exceeded', limit: 'storage' });
  });
});

/** A raw WebSocket from `localAddress` (any 127.x address is this host): open, or the refusal's status. */
function openSocket(
  url: string,
  localAddress = '127.0.0.1',
): Promise<{ ws: WebSocket } | { refused: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_request, response) => {
      resolve({ refused: response.statusCode ?? 0 });
      response.resume();
    });
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => ws.once('close', () => resolve()));
}

describeOnBackends('connection caps and backpressure', (backend) => {
  test('past the per-address cap an upgrade gets 429; other addresses still connect, up to the total cap', async (t) => {
    const metrics = new MetricsRegistry();
    const delivery = await startServer(backend.fresh(), {
      maxConnectionsPerIp: 3,
      maxConnections: 5,
      metrics,
    });
    t.after(() => delivery.close());
    const url = delivery.server.webSocketUrl;
    const sockets: WebSocket[] = [];
    t.after(async () => {
      for (const ws of sockets) ws.terminate();
    });
    const accept = async (from: string) => {
      const result = await openSocket(url, from);
      assert.ok('ws' in result, `a connection from ${from} is accepted`);
      sockets.push(result.ws);
      return result.ws;
    };
    for (let i = 0; i < 3; i++) await accept('127.0.0.1');
    assert.deepEqual(await openSocket(url, '127.0.0.1'), { refused: 429 });
    await accept('127.0.0.2');
    // A refused upgrade took nothing: closing one connection makes room for exactly one.
    const first = sockets.shift() ?? assert.fail();
    first.close();
    await closed(first);
    await eventually(() => (delivery.server.openConnections === 3 ? true : undefined), 'the close to count');
    await accept('127.0.0.1');
    assert.deepEqual(await openSocket(url, '127.0.0.1'), { refused: 429 });
    await accept('127.0.0.3');
    assert.deepEqual(await openSocket(url, '127.0.0.4'), { refused: 429 }, 'the total cap');
    const text = await metrics.render();
    assert.match(text, /umbra_delivery_websocket_refused_total\{reason="per_address"\} 2/);
    assert.match(text, /umbra_delivery_websocket_refused_total\{reason="total"\} 1/);
  });

  test('a client that never reads its responses is dropped before its buffer passes the limit', async (t) => {
    const metrics = new MetricsRegistry();
    const delivery = await startServer(backend.fresh(), { metrics, tokens: false });
    t.after(() => delivery.close());
    // A mailbox holding 1 MiB: every fetch of it answers about 1 MiB.
    const owner = await connect(delivery.server);
    t.after(() => owner.close());
    const secret = id32();
    const blob = new Uint8Array(1024 * 1024 - 1024).fill(3);
    await owner.client.postToMailbox(mailboxIdOf(secret), { messageId: tag(), blob, bucket: 0 });

    const opened = await openSocket(delivery.server.webSocketUrl);
    assert.ok('ws' in opened);
    const reader = opened.ws;
    t.after(() => reader.terminate());
    reader.pause(); // Reads nothing from now on.
    const fetch = encodeRequest({
      kind: 'fetchMailbox',
      value: { mailboxSecret: secret, afterSeq: 0, limit: 100 },
    });
    // 64 requests ask for 64 MiB of answers: far more than the socket buffers and the 4.25 MiB limit.
    for (let id = 0; id < 64; id++) reader.send(encodeFrame({ type: 'request', id, payload: fetch }));

    await eventually(
      () => (delivery.server.openConnections === 1 ? true : undefined),
      'the reader to be dropped',
    );
    assert.match(await metrics.render(), /umbra_delivery_websocket_closed_total\{reason="slow_consumer"\} 1/);
    // The service is unharmed: the owner, who reads, still fetches.
    assert.equal((await owner.client.fetchMailbox(secret, 0)).length, 1);
  });
});
