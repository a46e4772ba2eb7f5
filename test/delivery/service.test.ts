// The delivery service's hostile-input, privacy and transport rules: `handle` answers any bytes with a
// decodable response and never throws; identifiers reach the database only as keyed hashes; a full
// scenario leaves no handle, routing ID, mailbox ID or blob content in the logs or the metrics' labels; the
// HTTP endpoint the mixnet gateway calls and the WebSocket endpoint refuse what they must.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { toBase64Url, toHex, utf8 } from '../../src/bytes.ts';
import { DeliveryError } from '../../src/errors.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { MetricsRegistry } from '../../src/ops/metrics.ts';
import { DeliveryClient } from '../../src/protocol/client.ts';
import { decodeFrame, encodeFrame } from '../../src/protocol/frames.ts';
import { IdentityKeyPair, mailboxIdOf } from '../../src/protocol/identity.ts';
import {
  type DeliveryResponse,
  decodeResponse,
  encodeRequest,
  PROTOCOL_VERSION,
} from '../../src/protocol/messages.ts';
import {
  type Backend,
  connect,
  describeOnBackends,
  dumpDatabase,
  id32,
  sqliteBackend,
  startServer,
  type TestServer,
  tag,
} from './support.ts';

const SECRET_CONTENT = utf8('MEET-AT-THE-OLD-MILL-AT-NOON');

function errorCode(bytes: Uint8Array): string | undefined {
  const response: DeliveryResponse = decodeResponse(bytes);
  return response.kind === 'error' ? response.value.code : undefined;
}

function postRequest(url: string, body: Uint8Array, type = 'application/octet-stream'): Promise<Response> {
  return fetch(`${url}/v1/request`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: Uint8Array.from(body),
  });
}

/** Everything a scenario touches that must never appear in logs or, unhashed, in the database. */
interface Secrets {
  readonly handles: string[];
  readonly ids: Uint8Array[];
}

/** Registers, publishes, claims, races, posts, polls, subscribes and deletes: every request kind. */
async function scenario(running: TestServer, secrets: Secrets): Promise<void> {
  const alice = IdentityKeyPair.generate();
  const bob = IdentityKeyPair.generate();
  const aliceHandle = `alice-${toHex(tag())}`;
  const bobHandle = `bob-${toHex(tag())}`;
  const a = await connect(running.server, alice, {}, aliceHandle);
  const b = await connect(running.server, bob);
  try {
    secrets.handles.push(aliceHandle, bobHandle);
    await a.client.register(aliceHandle);
    await b.client.register(bobHandle);
    await b.client.register(aliceHandle);
    const deviceId = tag();
    const keyPackageId = tag();
    await b.client.publishKeyPackages({
      handle: bobHandle,
      deviceId,
      oneTime: [{ id: keyPackageId, data: SECRET_CONTENT }],
      lastResort: { id: tag(), data: SECRET_CONTENT },
    });
    await b.client.countKeyPackages(bobHandle, deviceId);
    await a.client.claimKeyPackages(bobHandle);
    await a.client.lookup(bobHandle);
    await a.client.lookup(`nobody-${toHex(tag())}`);
    await assert.rejects(
      a.client.publishKeyPackages({ handle: bobHandle, deviceId, oneTime: [] }),
      DeliveryError,
    );

    const routingId = id32();
    const mailboxSecret = id32();
    const mailboxId = mailboxIdOf(mailboxSecret);
    secrets.ids.push(routingId, mailboxSecret, mailboxId, alice.publicKey.ed25519, deviceId, keyPackageId);
    await b.client.subscribe({ routingIds: [routingId], mailboxSecrets: [mailboxSecret] });
    const commitId = tag();
    await a.client.postToLog(routingId, {
      kind: 'welcome',
      messageId: tag(),
      blob: SECRET_CONTENT,
      bucket: 64,
      commitMessageId: commitId,
    });
    await a.client.postToLog(routingId, {
      kind: 'commit',
      messageId: commitId,
      blob: SECRET_CONTENT,
      bucket: 64,
    });
    await b.client.postToLog(routingId, {
      kind: 'commit',
      messageId: tag(),
      blob: SECRET_CONTENT,
      bucket: 64,
    });
    await b.client.fetchLog(routingId, 0);
    await a.client.postToMailbox(mailboxId, { messageId: tag(), blob: SECRET_CONTENT, bucket: 64 });
    const items = await b.client.fetchMailbox(mailboxSecret, 0);
    await b.client.deleteFromMailbox(
      mailboxSecret,
      items.map((item) => item.messageId),
    );
    await postRequest(
      running.server.url,
      encodeRequest({ kind: 'fetchLog', value: { routingId, afterSeq: 0, limit: 5 } }),
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

function assertNothingLeaks(text: string, secrets: Secrets, where: string): void {
  const haystack = text.toLowerCase();
  for (const handle of secrets.handles) {
    assert.ok(!haystack.includes(handle.toLowerCase()), `a handle in ${where}`);
    assert.ok(!haystack.includes(toHex(utf8(handle))), `a handle in ${where}`);
  }
  for (const id of secrets.ids) {
    for (const form of [
      toHex(id),
      toBase64Url(id).toLowerCase(),
      Buffer.from(id).toString('base64').toLowerCase(),
    ]) {
      assert.ok(!haystack.includes(form), `an identifier in ${where}`);
    }
  }
}

describeOnBackends('delivery service privacy', (backend: Backend) => {
  test('a full scenario leaves no handles, identifiers or contents in the logs (debug level) or metrics', async (t) => {
    const lines: string[] = [];
    const logger = createLogger({ role: 'delivery', level: 'debug', sink: (line) => lines.push(line) });
    const metrics = new MetricsRegistry();
    const running = await startServer(backend.fresh(), { logger, metrics });
    t.after(() => running.close());
    const secrets: Secrets = { handles: [], ids: [] };
    await scenario(running, secrets);
    // A store failure is logged too: it must not carry the request either.
    await running.store.close();
    const { client, close } = await connect(running.server);
    await assert.rejects(
      client.fetchLog(secrets.ids[0] as Uint8Array, 0),
      (error: unknown) => error instanceof DeliveryError && error.reason === 'internal',
    );
    await close();
    await assert.rejects(running.store.ping(), DeliveryError, '/ready reports the store not answering');
    const text = lines.join('\n');
    assert.ok(lines.length > 20, 'the scenario was logged');
    assert.ok(text.includes('"request failed"'));
    assertNothingLeaks(text, secrets, 'the logs');
    // Nor in the metrics: label values name kinds and outcomes, never a user or an identifier.
    const exposition = await metrics.render();
    assert.match(exposition, /^umbra_delivery_requests_total\{kind="postToLog",outcome="ok"\} \d+$/m);
    assertNothingLeaks(exposition, secrets, 'the metrics');
    assert.ok(!text.includes(Buffer.from(SECRET_CONTENT).toString()), 'blob contents in the logs');
    assert.ok(!text.toLowerCase().includes(toHex(SECRET_CONTENT)), 'blob contents in the logs');
  });

  test('identifiers are stored only as keyed hashes', async () => {
    const location = backend.fresh();
    const running = await startServer(location);
    const secrets: Secrets = { handles: [], ids: [] };
    try {
      await scenario(running, secrets);
    } finally {
      await running.close();
    }
    const dump = await dumpDatabase(location);
    assert.ok(dump.length > 0);
    // Raw bytes too (SQLite): the identifiers themselves as well as their text forms.
    for (const id of secrets.ids.slice(0, 4)) {
      assert.ok(!dump.includes(Buffer.from(id).toString('latin1')), 'a raw identifier');
    }
    for (const handle of secrets.handles) assert.ok(!dump.includes(handle), 'a raw handle');
    // Routing ID, mailbox secret, mailbox ID and identity key must not be stored as given (the device and
    // KeyPackage IDs are: they are random upload IDs).
    assertNothingLeaks(dump, { handles: secrets.handles, ids: secrets.ids.slice(0, 4) }, 'the database');
  });
});

describe('delivery service transport rules', () => {
  let running: TestServer;
  before(async () => {
    running = await startServer(sqliteBackend.fresh());
  });
  after(() => running.close());

  test('any bytes get a decodable response and never an exception', async () => {
    const { service } = running.server;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        decodeResponse(await service.handle(bytes));
      }),
      { numRuns: 300 },
    );
    // With the right version and a real kind in front, random bodies reach every decoder.
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 11 }),
        fc.uint8Array({ maxLength: 200 }),
        async (kind, body) => {
          const code = errorCode(await service.handle(new Uint8Array([PROTOCOL_VERSION, kind, ...body])));
          assert.ok(code === undefined || code === 'bad_request' || code === 'push_unavailable', code);
        },
      ),
      { numRuns: 500 },
    );
    assert.equal(errorCode(await service.handle(new Uint8Array(0))), 'bad_request');
    assert.equal(errorCode(await service.handle(new Uint8Array([2, 2, 1, 0x61]))), 'unsupported_version');
    assert.equal(errorCode(await service.handle(new Uint8Array(service.maxRequestBytes + 1))), 'too_large');
    // Without a push session (the mixnet), subscribing is refused, not ignored.
    const subscribe = encodeRequest({
      kind: 'subscribe',
      value: { routingIds: [id32()], mailboxSecrets: [] },
    });
    assert.equal(errorCode(await service.handle(subscribe)), 'push_unavailable');
  });

  test('the purge timer deletes expired items', async (t) => {
    let now = Date.now();
    const lines: string[] = [];
    const logger = createLogger({ role: 'delivery', level: 'debug', sink: (line) => lines.push(line) });
    const purging = await startServer(sqliteBackend.fresh(), {
      clock: () => now,
      limits: { ttlMs: 1_000 },
      purgeIntervalMs: 10,
      logger,
      // About the purge, not about tokens: the mailbox post goes without one.
      tokens: false,
    });
    t.after(() => purging.close());
    const { client, close } = await connect(purging.server);
    t.after(close);
    await client.postToLog(id32(), {
      kind: 'application',
      messageId: tag(),
      blob: new Uint8Array(1),
      bucket: 1,
    });
    await client.postToMailbox(id32(), { messageId: tag(), blob: new Uint8Array(1), bucket: 1 });
    now += 1_001;
    const purged = () =>
      lines
        .map((line) => JSON.parse(line) as { msg: string; fields?: { items?: number } })
        .find((line) => line.msg === 'purged');
    while (purged() === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(purged()?.fields?.items, 2);
  });

  test('POST /v1/request answers encoded responses and refuses other requests', async () => {
    const { url } = running.server;
    const routingId = id32();
    const post = encodeRequest({
      kind: 'postToLog',
      value: {
        routingId,
        post: { kind: 'application', messageId: tag(), blob: new Uint8Array(4), bucket: 4 },
      },
    });
    const ok = await postRequest(url, post);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(decodeResponse(new Uint8Array(await ok.arrayBuffer())), {
      kind: 'postToLog',
      value: { ok: true, status: 'stored', seq: 1 },
    });
    // A cross-site form can send text/plain without a preflight; it is refused.
    assert.equal((await postRequest(url, post, 'text/plain')).status, 415);
    const tooLarge = await postRequest(url, new Uint8Array(running.server.service.maxRequestBytes + 1));
    assert.equal(errorCode(new Uint8Array(await tooLarge.arrayBuffer())), 'too_large');
    assert.equal((await fetch(`${url}/v1/request`)).status, 405);
    assert.equal((await fetch(`${url}/elsewhere`)).status, 404);
    const subscribe = encodeRequest({ kind: 'subscribe', value: { routingIds: [], mailboxSecrets: [] } });
    assert.equal(
      errorCode(new Uint8Array(await (await postRequest(url, subscribe)).arrayBuffer())),
      'push_unavailable',
    );
  });

  test('the WebSocket answers bad payloads with errors and closes on broken framing', async () => {
    const ws = new WebSocket(running.server.webSocketUrl);
    await once(ws, 'open');
    const answer = once(ws, 'message');
    ws.send(encodeFrame({ type: 'request', id: 42, payload: new Uint8Array([PROTOCOL_VERSION, 200]) }));
    const [data] = (await answer) as [Buffer];
    const frame = decodeFrame(new Uint8Array(data));
    assert.equal(frame.type, 'response');
    assert.equal(frame.type === 'response' ? frame.id : -1, 42);
    assert.equal(errorCode(frame.payload), 'bad_request');
    const closed = once(ws, 'close');
    ws.send(new Uint8Array([9, 9, 9]));
    const [code] = (await closed) as [number];
    assert.equal(code, 1002);

    const text = new WebSocket(running.server.webSocketUrl);
    await once(text, 'open');
    const textClosed = once(text, 'close');
    text.send('hello');
    assert.equal(((await textClosed) as [number])[0], 1002);

    const refused = new WebSocket(`${running.server.url.replace('http', 'ws')}/not-here`);
    await assert.rejects(once(refused, 'open'));
  });

  test('a client refuses an identity whose registration does not bind the handle asked for', async () => {
    const alice = IdentityKeyPair.generate();
    const { client, carrier, close } = await connect(running.server, alice);
    try {
      await client.register('alice-real');
      // A lying service answers a lookup of "bob" with alice's (valid) registration.
      const liar = new DeliveryClient({
        carrier: {
          ...carrier,
          kind: 'direct',
          status: () => carrier.status(),
          onStatus: (listener) => carrier.onStatus(listener),
          close: () => carrier.close(),
          request: (bytes) => {
            const lookup = encodeRequest({ kind: 'lookup', value: { handle: 'alice-real' } });
            return carrier.request(bytes.length > 0 ? lookup : bytes);
          },
        },
      });
      await assert.rejects(
        liar.lookup('bob'),
        (error: unknown) => error instanceof DeliveryError && error.reason === 'bad_signature',
      );
      liar.close();
    } finally {
      await close();
    }
  });
});
