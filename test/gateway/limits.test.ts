// What one client can make a gateway hold (issue 12), on a real network (single-process devnet: a
// directory, 3 mix layers, one gateway, real TLS links and WebSockets) with small limits: connections from
// one address past the cap are refused with a `closed` error while other addresses (127.0.0.2) connect; a
// client that never reads its downstream frames is dropped once their bytes pass the buffer limit; service
// calls past the cap are answered `failed` at once instead of being held; packets asking for a node delay
// past the held-packet cap are dropped. (Sending faster than the rate: `rate_limited`, network.test.ts.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { type Devnet, startDevnet } from '../../src/devnet/index.ts';
import type { DocumentNode, NetworkDocument } from '../../src/directory/document.ts';
import { newRequestId, serviceId, splitRequest } from '../../src/protocol/service-framing.ts';
import { encodeForwardPayload } from '../../src/sphinx/index.ts';
import { eventually, gatewayNode, metric, path, RawClient, until } from './support.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-gateway-limits-'));
let net: Devnet;
let document: NetworkDocument;
let gateway: DocumentNode;
let opsUrl: string;
/** The `slow` service tells when it is called, and answers only once released. */
let release: () => void = () => undefined;
let slowCalled: () => void = () => undefined;
const slowStarted = new Promise<void>((resolve) => {
  slowCalled = resolve;
});
const clients: RawClient[] = [];

before(async () => {
  net = await startDevnet({
    dataDir: root,
    gateways: 1,
    roundPeriodMs: 50,
    batchSize: 4,
    serviceHandlers: {
      slow: async (request) => {
        slowCalled();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return request;
      },
    },
    gatewayLimits: {
      maxClientsPerAddress: 2,
      maxClientBufferedBytes: 64 * 1024,
      maxServiceCalls: 1,
      maxDelayedPackets: 1,
      downstreamRate: 500,
      sendRate: 200,
      burst: 50,
    },
  });
  document = await net.document();
  const node = net.gateways[0] ?? assert.fail();
  gateway = gatewayNode(document, node.id);
  opsUrl = node.opsUrl;
});

after(async () => {
  release();
  for (const each of clients) await each.close();
  await net?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function client(localAddress = '127.0.0.1'): Promise<RawClient> {
  const raw = new RawClient(net.geometry);
  clients.push(raw);
  await raw.connect(net.gateways[0]?.clientUrl as string, undefined, { localAddress });
  return raw;
}

/** Waits for the reply to `requestId` and returns its status. */
async function replyStatus(raw: RawClient, requestId: Uint8Array): Promise<string> {
  const id = toHex(requestId);
  let status: string | undefined;
  await until(() => {
    status = raw.replies().find((reply) => toHex(reply.requestId) === id)?.status;
    return status !== undefined;
  }, 'the reply');
  return status as string;
}

function request(raw: RawClient, service: string): Uint8Array {
  const { requestId, packets } = raw.requestPackets(document, service, randomBytes(40), {
    entry: gateway,
    exit: gateway,
    home: gateway,
  });
  for (const packet of packets) raw.sendPacket(packet);
  return requestId;
}

describe('gateway limits per client', () => {
  test('past the per-address cap a connection is refused; other addresses connect', async () => {
    const [first, second] = [await client(), await client()];
    const third = new RawClient(net.geometry);
    clients.push(third);
    await assert.rejects(third.connect(net.gateways[0]?.clientUrl as string), /refused: closed/);
    assert.equal(third.errors[0]?.message, 'too many connections from this address');
    const elsewhere = await client('127.0.0.2');
    assert.ok(elsewhere.welcome);
    assert.equal(await metric(opsUrl, 'gateway_client_refused_total', 'reason="per_address"'), 1);
    // A closed connection makes room again.
    await first.close();
    const again = await client();
    assert.ok(again.welcome);
    for (const each of [second, elsewhere, again]) await each.close();
  });

  test('a client that never reads its frames is dropped once they pass the buffer limit', async () => {
    const reader = await client();
    const watcher = await client('127.0.0.2');
    reader.socket?.pause();
    await eventually(
      () => metric(opsUrl, 'gateway_client_refused_total', 'reason="slow_consumer"'),
      (dropped) => dropped === 1,
      'the reader to be dropped',
      120_000,
    );
    // The others are served on: the watcher still gets its frames.
    const seen = watcher.frames.length;
    await until(() => watcher.frames.length > seen + 10, 'more frames for the watcher');
    reader.socket?.terminate();
    await watcher.close();
  });

  test('service calls past the cap are answered failed at once, not held', async () => {
    const raw = await client();
    const slow = request(raw, 'slow');
    await slowStarted;
    const busy = request(raw, 'echo');
    assert.equal(await replyStatus(raw, busy), 'failed');
    assert.equal(await metric(opsUrl, 'gateway_service_requests_total', 'service="echo",outcome="busy"'), 1);
    release();
    assert.equal(await replyStatus(raw, slow), 'ok');
    assert.equal(await replyStatus(raw, request(raw, 'echo')), 'ok');
    await raw.close();
  });

  test('packets asking for a node delay past the held-packet cap are dropped', async () => {
    const raw = await client();
    const ids: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) {
      const requestId = newRequestId();
      ids.push(requestId);
      const [fragment] = splitRequest(net.geometry, requestId, randomBytes(40), 1);
      const hops = path(document, gateway, gateway, [{ type: 'recipient', id: serviceId('echo') }]);
      const entry = hops[0] ?? assert.fail();
      hops[0] = { ...entry, commands: [{ type: 'node_delay', delay: 500 }] };
      const surb = raw.surb(document, gateway, gateway);
      raw.sendPacket(
        raw.sphinx.newPacket(hops, encodeForwardPayload(net.geometry, fragment ?? assert.fail(), surb)),
      );
    }
    await eventually(
      () => metric(opsUrl, 'gateway_dropped_total', 'reason="delay_queue_full"'),
      (dropped) => dropped === 2,
      'two dropped packets',
    );
    // The one held is forwarded after its delay and answered.
    await until(() => raw.replies().length === 1, 'the held request’s reply');
    await raw.close();
  });
});
