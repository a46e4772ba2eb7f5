// The mixnet carrier on the real development network (src/devnet: directory authority, 3 layers × 2 mix
// nodes and a gateway, each its own process, TLS links, batch mixing): the document is fetched and verified
// from the directory; an echo request crosses gateway → three layers → exit and comes back over SURBs; a
// request of several fragments and its response of several SURBs; with nothing to send, the gateway sees
// the carrier's packets at rate λ, its loops come back and no request reaches the service; a mix node
// killed mid-stream: requests still answered; the gateway killed (SIGKILL): status down and requests
// refused, then restarted: up and answering again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MixnetCarrier } from '../../../src/client/carrier/mixnet.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { type Devnet, startDevnet } from '../../../src/devnet/index.ts';
import { CarrierError } from '../../../src/errors.ts';
import { replyCapacity, requestCapacity } from '../../../src/protocol/service-framing.ts';
import { metric } from '../../gateway/support.ts';
import { until } from './support.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-carrier-devnet-'));
let net: Devnet;
let carrier: MixnetCarrier;

before(async () => {
  net = await startDevnet({
    dataDir: root,
    mode: 'child-processes',
    nodesPerLayer: 2,
    gateways: 1,
    roundPeriodMs: 100,
    batchSize: 4,
    clientSendRate: 10,
  });
  const gateway = net.gateways[0];
  assert.ok(gateway?.clientUrl);
  carrier = await MixnetCarrier.connect({
    gatewayUrl: gateway.clientUrl,
    geometry: net.geometry,
    directoryUrl: net.directoryUrl,
    authorityPublicKeys: net.authorityKeys,
    service: 'echo',
  });
});

after(async () => {
  await carrier?.close();
  await net?.stop();
  rmSync(root, { recursive: true, force: true });
});

function gatewayOps(): string {
  const gateway = net.gateways[0];
  assert.ok(gateway);
  return gateway.opsUrl;
}

describe('MixnetCarrier on the devnet', () => {
  test('with nothing to send the gateway still sees λ packets per second, loops come back', async () => {
    const ops = gatewayOps();
    const packets = () => metric(ops, 'gateway_client_packets_total');
    const services = () => metric(ops, 'gateway_service_requests_total', 'service="echo",outcome="ok"');
    const startPackets = await packets();
    // First test: no request was ever made, so the service has been called by nothing.
    assert.equal(await services(), 0);
    const startStats = carrier.stats();
    await until(() => carrier.stats().loops.returned >= startStats.loops.returned + 5, 'loops back', 30_000);
    const stats = carrier.stats();
    const sent = stats.sent.loop + stats.sent.drop - startStats.sent.loop - startStats.sent.drop;
    assert.ok(sent >= 5);
    assert.equal(stats.sent.real, startStats.sent.real, 'no real packet while idle');
    await until(async () => (await packets()) - startPackets >= sent, 'the gateway to count them', 10_000);
    assert.equal(await services(), 0, 'cover never reaches the service');
    assert.ok((await metric(ops, 'gateway_inbox_stored_total', 'kind="message"')) > 0, 'loops stored');
  });

  test('an echo request crosses the three layers and comes back over SURBs', async () => {
    assert.deepEqual(carrier.status(), { state: 'up' });
    assert.equal(carrier.stats().ratePerSecond, 10);
    const before = await metric(gatewayOps(), 'gateway_replies_total');
    const request = randomBytes(500);
    assert.deepEqual(await carrier.request(request), request);
    assert.ok((await metric(gatewayOps(), 'gateway_replies_total')) > before, 'the reply rode a SURB');
  });

  test('a request of several fragments and a response of several SURBs', async () => {
    const request = randomBytes(3 * requestCapacity(net.geometry) + 100);
    assert.ok(request.length > 2 * replyCapacity(net.geometry));
    assert.deepEqual(await carrier.request(request), request);
  });

  test('a mix node killed mid-stream: every request is still answered', async () => {
    const victim = net.mixes[1]?.[0];
    assert.ok(victim);
    const requests = Array.from({ length: 4 }, () => randomBytes(200));
    const answers = Promise.all(requests.map((request) => carrier.request(request, { timeoutMs: 90_000 })));
    await victim.kill();
    assert.deepEqual(await answers, requests);
    await victim.restart();
  });

  test('gateway killed: down and refusing; restarted: up and answering', async () => {
    const gateway = net.gateways[0];
    assert.ok(gateway);
    await gateway.kill();
    await until(() => carrier.status().state === 'down', 'status down', 20_000);
    const status = carrier.status();
    assert.match(status.state === 'down' ? status.reason : '', /gateway/);
    await assert.rejects(
      carrier.request(Uint8Array.of(1)),
      (error: unknown) => error instanceof CarrierError && error.reason === 'unreachable',
    );
    await gateway.restart();
    await until(() => carrier.status().state === 'up', 'status up again', 30_000);
    const request = randomBytes(100);
    assert.deepEqual(await carrier.request(request, { timeoutMs: 90_000 }), request);
  });
});
