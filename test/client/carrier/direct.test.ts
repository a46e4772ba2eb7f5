// The direct carrier over real sockets: its reachability states, requests multiplexed by id, pushes,
// timeouts, aborts, size limits and close; reconnecting with backoff after the service restarts, with the
// DeliveryClient subscribing again and telling its listeners to re-poll; and a peer breaking the framing.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type WebSocket, WebSocketServer } from 'ws';
import { DirectCarrier } from '../../../src/client/carrier/direct.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { startDeliveryServer } from '../../../src/delivery/server.ts';
import { openStore } from '../../../src/delivery/store/index.ts';
import { CarrierError } from '../../../src/errors.ts';
import type { DeliveryPush } from '../../../src/protocol/api.ts';
import type { CarrierStatus } from '../../../src/protocol/carrier.ts';
import { DeliveryClient } from '../../../src/protocol/client.ts';
import { decodeFrame, encodeFrame } from '../../../src/protocol/frames.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-direct-'));
after(() => rmSync(root, { recursive: true, force: true }));
const FAST = { minReconnectDelayMs: 20, maxReconnectDelayMs: 200, connectTimeoutMs: 2_000 };

function isCarrierError(reason: string) {
  return (error: unknown) => error instanceof CarrierError && error.reason === reason;
}

function until(carrier: DirectCarrier, state: CarrierStatus['state']): Promise<CarrierStatus> {
  if (carrier.status().state === state) return Promise.resolve(carrier.status());
  return new Promise((resolve) => {
    const off = carrier.onStatus((status) => {
      if (status.state === state) {
        off();
        resolve(status);
      }
    });
  });
}

/** A WebSocket server whose behaviour each test scripts: echo, silence, pushes or garbage. */
async function fakeService(onFrame: (ws: WebSocket, id: number, payload: Uint8Array) => void) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  server.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data));
      if (frame.type === 'request') onFrame(ws, frame.id, frame.payload);
    });
  });
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/v1/ws`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/** The next push of this type that `client` receives. */
function nextPush(client: DeliveryClient, type: DeliveryPush['type']): Promise<DeliveryPush> {
  return new Promise((resolve) => {
    const off = client.onPush((push) => {
      if (push.type === type) {
        off();
        resolve(push);
      }
    });
  });
}

/** A post to `routingId` through another connection to `url`, and the push it causes at `client`. */
async function assertPostPushed(
  client: DeliveryClient,
  url: string,
  routingId: Uint8Array,
  kind: 'commit' | 'application',
): Promise<void> {
  const pushed = nextPush(client, 'log');
  const other = new DeliveryClient({ carrier: new DirectCarrier({ url, ...FAST }) });
  await other.postToLog(routingId, { kind, messageId: randomBytes(8), blob: Uint8Array.of(1), bucket: 1 });
  assert.deepEqual(await pushed, { type: 'log', routingId, seq: 1, kind });
  await other.carrier.close();
}

/**
 * An unreachable service: a port the OS gave a listener that resets every connection before any byte, held
 * until `release` hands it to a real service (never a port picked free and listened on later by someone else).
 */
async function deadPort(): Promise<{ port: number; release(): Promise<void> }> {
  const server = createServer((socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  let released: Promise<void> | undefined;
  const release = () => {
    released ??= new Promise<void>((resolve) => server.close(() => resolve()));
    return released;
  };
  after(release);
  return { port, release };
}

describe('DirectCarrier', () => {
  test('connects, multiplexes requests by id, delivers pushes and closes', async () => {
    const fake = await fakeService((ws, id, payload) => {
      // Answers out of order: the later request first.
      setTimeout(() => ws.send(encodeFrame({ type: 'response', id, payload })), payload[0] === 1 ? 30 : 0);
      ws.send(encodeFrame({ type: 'push', payload: Uint8Array.of(9, payload[0] ?? 0) }));
    });
    after(() => fake.close());
    const carrier = new DirectCarrier({ url: fake.url, ...FAST });
    assert.equal(carrier.kind, 'direct');
    assert.equal(carrier.status().state, 'connecting');
    const pushes: Uint8Array[] = [];
    carrier.onPush((push) => pushes.push(push));
    const [first, second] = await Promise.all([
      carrier.request(Uint8Array.of(1)),
      carrier.request(Uint8Array.of(2)),
    ]);
    assert.deepEqual([first, second], [Uint8Array.of(1), Uint8Array.of(2)]);
    assert.equal(carrier.status().state, 'up');
    assert.equal(pushes.length, 2);
    const pending = assert.rejects(carrier.request(Uint8Array.of(1)), isCarrierError('closed'));
    await carrier.close();
    await pending;
    await assert.rejects(carrier.request(Uint8Array.of(3)), isCarrierError('closed'));
    assert.deepEqual(carrier.status(), { state: 'down', reason: 'closed' });
  });

  test('times out, aborts and refuses oversized requests', async () => {
    const fake = await fakeService(() => undefined);
    after(() => fake.close());
    const carrier = new DirectCarrier({ url: fake.url, maxRequestBytes: 100, ...FAST });
    after(() => carrier.close());
    await until(carrier, 'up');
    await assert.rejects(carrier.request(Uint8Array.of(1), { timeoutMs: 50 }), isCarrierError('timeout'));
    const controller = new AbortController();
    const aborted = carrier.request(Uint8Array.of(1), { signal: controller.signal });
    controller.abort(new Error('user gave up'));
    await assert.rejects(aborted, /user gave up/);
    await assert.rejects(carrier.request(new Uint8Array(101)), isCarrierError('too_large'));
    assert.equal(carrier.status().state, 'up', 'a timeout does not drop the connection');
  });

  test('is down with a reason while the service is unreachable, and fails requests at once', async () => {
    const { port } = await deadPort();
    const carrier = new DirectCarrier({ url: `ws://127.0.0.1:${port}/v1/ws`, ...FAST });
    after(() => carrier.close());
    const waiting = carrier.request(Uint8Array.of(1));
    await assert.rejects(waiting, isCarrierError('unreachable'));
    const status = await until(carrier, 'down');
    assert.equal(status.state === 'down' && status.reason, 'the delivery service is unreachable');
    if (carrier.status().state === 'down') {
      await assert.rejects(carrier.request(Uint8Array.of(1)), isCarrierError('unreachable'));
    }
    // It keeps trying.
    await until(carrier, 'connecting');
  });

  test('reconnects after the service restarts; the client subscribes again and asks for a re-poll', async () => {
    const store = await openStore({ sqlitePath: join(root, 'restart', 'delivery.sqlite') });
    after(() => store.close());
    const identifierKey = randomBytes(32);
    let server = await startDeliveryServer({ store, identifierKey });
    // It comes back where it was.
    const { port } = server;
    const carrier = new DirectCarrier({ url: server.webSocketUrl, ...FAST });
    after(() => carrier.close());
    const client = new DeliveryClient({ carrier });
    const routingId = randomBytes(32);
    await until(carrier, 'up');
    await client.subscribe({ routingIds: [routingId], mailboxSecrets: [] });

    await server.close();
    await until(carrier, 'down');
    const resynced = nextPush(client, 'resync');
    server = await startDeliveryServer({ store, identifierKey, port });
    after(() => server.close());
    await until(carrier, 'up');
    await resynced;
    // The subscription was renewed on the new connection: a post elsewhere is pushed here.
    await assertPostPushed(client, server.webSocketUrl, routingId, 'application');
  });

  test('subscriptions asked for while the service is unreachable are sent once it is up', async () => {
    const { port, release } = await deadPort();
    const carrier = new DirectCarrier({ url: `ws://127.0.0.1:${port}/v1/ws`, ...FAST });
    after(() => carrier.close());
    const client = new DeliveryClient({ carrier });
    const routingId = randomBytes(32);
    await until(carrier, 'down');
    await assert.rejects(
      client.subscribe({ routingIds: [routingId], mailboxSecrets: [] }),
      isCarrierError('unreachable'),
    );
    const resynced = nextPush(client, 'resync');
    const store = await openStore({ sqlitePath: join(root, 'late', 'delivery.sqlite') });
    after(() => store.close());
    await release();
    const server = await startDeliveryServer({ store, identifierKey: randomBytes(32), port });
    after(() => server.close());
    await resynced;
    await assertPostPushed(client, server.webSocketUrl, routingId, 'commit');
  });

  test('a peer that breaks the framing is disconnected and in-flight requests fail as unreachable', async () => {
    let connections = 0;
    const fake = await fakeService((ws) => ws.send(Uint8Array.of(77)));
    fake.server.on('connection', () => {
      connections++;
    });
    after(() => fake.close());
    const carrier = new DirectCarrier({ url: fake.url, ...FAST });
    after(() => carrier.close());
    await assert.rejects(carrier.request(Uint8Array.of(1)), isCarrierError('unreachable'));
    await until(carrier, 'up');
    assert.ok(connections >= 2, 'it reconnected');
  });
});
