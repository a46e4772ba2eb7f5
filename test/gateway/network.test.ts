// Gateways in a real network (single-process devnet: a directory, 3 mix layers, 2 gateways, real TLS links
// and WebSockets; every node unwraps in one crypto worker thread, the other gateway tests inline): a raw client's message crosses entry gateway → 3 layers → exit gateway into another
// client's inbox and is deleted once acknowledged; an echo request with SURBs comes back to its sender,
// split over several SURBs; an offline client's inbox survives a restart of its gateway; the inbox quota
// refuses items with a clear error and tells the owner; a client over its rate is told so and its excess
// dropped, while seconds of a client at its rate read at once (a stalled gateway) all pass; a replayed
// packet is forwarded once; hostile clients get fatal protocol errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { type Devnet, startDevnet } from '../../src/devnet/index.ts';
import type { NetworkDocument } from '../../src/directory/document.ts';
import { CLIENT_BURST_SECONDS } from '../../src/gateway/gateway.ts';
import { CLIENT_PROTOCOL_VERSION, helloMessage } from '../../src/protocol/gateway-protocol.ts';
import { replyCapacity } from '../../src/protocol/service-framing.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import { eventually, gatewayNode, metric, RawClient, until } from './support.ts';

const QUOTA = 3;
/** Packets per second a client may send; its burst is the default, `CLIENT_BURST_SECONDS` of it. */
const RATE = 50;
const BURST = RATE * CLIENT_BURST_SECONDS;
const root = mkdtempSync(join(tmpdir(), 'umbra-gateway-network-'));
let net: Devnet;
let document: NetworkDocument;
const clients: RawClient[] = [];

function client(): RawClient {
  const created = new RawClient(net.geometry);
  clients.push(created);
  return created;
}

function url(index: number): string {
  return net.gateways[index]?.clientUrl as string;
}

function gateway(index: number) {
  return gatewayNode(document, net.gateways[index]?.id as Uint8Array);
}

before(async () => {
  net = await startDevnet({
    dataDir: root,
    gateways: 2,
    roundPeriodMs: 50,
    batchSize: 4,
    gatewayLimits: { inboxQuota: QUOTA, sendRate: RATE },
    workers: 1,
  });
  document = await net.document();
});

after(async () => {
  for (const each of clients) await each.close();
  await net?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('gateways in a 3-layer network', () => {
  test('a message crosses entry → 3 layers → exit into another client’s inbox, and an ack deletes it', async () => {
    const alice = client();
    const bob = client();
    await alice.connect(url(0));
    const welcome = await bob.connect(url(1));
    assert.deepEqual(welcome.gatewayId, net.gateways[1]?.id);
    assert.deepEqual(welcome.inboxId, bob.inbox);
    assert.equal(welcome.pending, 0);
    const body = randomBytes(100);
    alice.sendPacket(alice.messagePacket(document, gateway(0), gateway(1), bob.inbox, body));
    await until(() => bob.items.length === 1, 'the message in bob’s inbox');
    assert.deepEqual(bob.messages()[0]?.subarray(0, 100), body);
    assert.ok((bob.messages()[0] as Uint8Array).subarray(100).every((byte) => byte === 0));
    bob.ack([bob.items[0]?.sequence as bigint]);
    await eventually(
      () => metric(net.gateways[1]?.opsUrl as string, 'gateway_inbox_acked_total'),
      (n) => n >= 1,
      'the ack',
    );
    await bob.close();
    const again = client();
    again.secret.set(bob.secret);
    assert.equal((await again.connect(url(1))).pending, 0);
  });

  test('an echo request with SURBs comes back to its sender, split over several SURBs', async () => {
    const alice = client();
    await alice.connect(url(0));
    const request = randomBytes(replyCapacity(net.geometry) + 500);
    const { requestId, packets } = alice.requestPackets(
      document,
      'echo',
      request,
      { entry: gateway(0), exit: gateway(1), home: gateway(0) },
      3,
    );
    for (const packet of packets) alice.sendPacket(packet);
    await until(() => alice.replies().length === 2, 'two reply fragments');
    const fragments = alice.replies().sort((a, b) => a.index - b.index);
    for (const fragment of fragments) {
      assert.deepEqual(fragment.requestId, requestId);
      assert.equal(fragment.status, 'ok');
      assert.equal(fragment.count, 2);
    }
    const echoed = new Uint8Array([...(fragments[0]?.data ?? []), ...(fragments[1]?.data ?? [])]);
    assert.deepEqual(echoed, request);
    // The exit gateway answers through its own first hop too: it was the SURBs' first hop.
    assert.equal(
      await metric(
        net.gateways[1]?.opsUrl as string,
        'gateway_service_requests_total',
        'service="echo",outcome="ok"',
      ),
      1,
    );
  });

  test('a request for a service this gateway does not offer is answered unknown_service', async () => {
    const alice = client();
    await alice.connect(url(0));
    const { packets } = alice.requestPackets(document, 'delivery', randomBytes(10), {
      entry: gateway(0),
      exit: gateway(0),
      home: gateway(0),
    });
    for (const packet of packets) alice.sendPacket(packet);
    await until(() => alice.replies().length === 1, 'the refusal');
    assert.equal(alice.replies()[0]?.status, 'unknown_service');
  });

  test('an offline client’s inbox survives a gateway restart; the quota refuses the excess and says so', async () => {
    const alice = client();
    const bob = client();
    await alice.connect(url(0));
    await bob.connect(url(1));
    await bob.close();
    const stored = () =>
      metric(net.gateways[1]?.opsUrl as string, 'gateway_inbox_stored_total', 'kind="message"');
    const refused = () =>
      metric(net.gateways[1]?.opsUrl as string, 'gateway_dropped_total', 'reason="inbox_full"');
    const [storedBefore, refusedBefore] = [await stored(), await refused()];
    const bodies = Array.from({ length: QUOTA + 1 }, () => randomBytes(32));
    for (const body of bodies)
      alice.sendPacket(alice.messagePacket(document, gateway(0), gateway(1), bob.inbox, body));
    await eventually(stored, (n) => n === storedBefore + QUOTA, 'the quota filled');
    await eventually(refused, (n) => n === refusedBefore + 1, 'one item refused');

    await net.gateways[1]?.restart();
    document = await net.waitForDocument();
    const back = client();
    back.secret.set(bob.secret);
    const welcome = await back.connect(url(1));
    assert.equal(welcome.pending, QUOTA);
    assert.equal(welcome.dropped, 1);
    assert.equal(welcome.inboxQuota, QUOTA);
    assert.equal(welcome.itemTtlSeconds, 72 * 3600);
    await until(() => back.items.length === QUOTA, 'the kept items');
    const received = back.messages().map((body) => body.subarray(0, 32));
    assert.equal(
      received.filter((body) => bodies.some((sent) => Buffer.compare(sent, body) === 0)).length,
      QUOTA,
    );

    // Full while connected: the owner is told at once.
    alice.sendPacket(alice.messagePacket(document, gateway(0), gateway(1), bob.inbox, randomBytes(8)));
    await until(
      () => back.errors.some((error) => error.reason === 'inbox_full' && !error.fatal),
      'inbox_full',
    );
    back.ack(back.items.map((item) => item.sequence));
  });

  test('a replayed packet is forwarded once', async () => {
    const alice = client();
    const bob = client();
    await alice.connect(url(0));
    await bob.connect(url(1));
    const packet = alice.messagePacket(document, gateway(0), gateway(1), bob.inbox, randomBytes(16));
    const replays = () => metric(net.gateways[0]?.opsUrl as string, 'gateway_replays_total');
    const before = await replays();
    alice.sendPacket(packet);
    alice.sendPacket(packet);
    await until(() => bob.items.length === 1, 'the message');
    await eventually(replays, (n) => n === before + 1, 'the replay counted');
    bob.ack(bob.items.map((item) => item.sequence));
  });

  test('a client over its rate is told, and its excess dropped', async () => {
    const flooder = client();
    await flooder.connect(url(0));
    const limited = () => metric(net.gateways[0]?.opsUrl as string, 'gateway_rate_limited_total');
    const before = await limited();
    const junk = randomBytes(net.geometry.packetLength);
    const sent = BURST + 150;
    for (let i = 0; i < sent; i++) flooder.sendPacket(junk);
    await until(
      () => flooder.errors.some((error) => error.reason === 'rate_limited' && !error.fatal),
      'rate_limited',
    );
    // The refill while the lump is read lets a few more through; most of the excess is dropped.
    const dropped = await eventually(limited, (n) => n - before >= 150 - RATE, 'the excess dropped');
    assert.ok(dropped - before <= 150, 'the burst passed');
    assert.equal(flooder.closed, false);
  });

  test('seconds of a client at its rate, read at once after the gateway stalled, all pass', async () => {
    // A busy host's gateway reads its sockets in lumps: after its event loop was held up for four seconds,
    // a client that kept to its rate has four seconds of packets waiting, and none of them is over the rate.
    const steady = client();
    await steady.connect(url(0));
    const limited = () => metric(net.gateways[0]?.opsUrl as string, 'gateway_rate_limited_total');
    const before = await limited();
    const junk = randomBytes(net.geometry.packetLength);
    for (let i = 0; i < 4 * RATE; i++) steady.sendPacket(junk);
    await until(
      () => (steady.frames.at(-1)?.packetsRead ?? 0n) >= BigInt(4 * RATE),
      'the gateway counting every packet read',
    );
    assert.equal(await limited(), before, 'none was rate-limited');
    assert.equal(steady.errors.length, 0);
  });

  test('hostile clients get fatal errors: wrong geometry, packet before hello, garbage, text', async () => {
    const other = Geometry.create({
      scheme: 'x25519',
      userForwardPayloadLength: 100,
      withSurb: true,
      nrHops: 5,
    });
    const wrong = client();
    await assert.rejects(wrong.connect(url(0), helloMessage(other, wrong.secret)), /wrong_geometry/);
    const version = client();
    const hello = helloMessage(net.geometry, version.secret);
    await assert.rejects(
      version.connect(url(0), {
        kind: 'hello',
        value: { ...hello.value, version: CLIENT_PROTOCOL_VERSION + 1 },
      } as typeof hello),
      /unsupported_version/,
    );

    const cases: [string, (raw: RawClient) => void][] = [
      ['unauthorized', (raw) => raw.sendPacket(randomBytes(net.geometry.packetLength))],
      ['unauthorized', (raw) => raw.ack([1n])],
      ['protocol', (raw) => raw.sendRaw(randomBytes(50))],
      ['protocol', (raw) => raw.socket?.send('hello')],
    ];
    for (const [reason, send] of cases) {
      const raw = client();
      await raw.open(url(0));
      send(raw);
      await until(() => raw.closed, 'the gateway to close the connection');
      assert.equal(raw.errors[0]?.reason, reason);
      assert.equal(raw.errors[0]?.fatal, true);
    }
    // An ack naming no possible item (SQLite holds 63-bit integers) is harmless.
    const acker = client();
    await acker.connect(url(0));
    acker.ack([2n ** 64n - 1n, 0n]);
    const sequences = Array.from({ length: 1024 }, (_, i) => BigInt(i));
    acker.ack(sequences);
    const second = client();
    await second.connect(url(0));
    assert.equal(acker.closed, false);
    // A second hello on the same connection is a protocol error too.
    const twice = client();
    await twice.connect(url(0));
    twice.sendRaw(twice.protocol.encodeClientMessage(helloMessage(net.geometry, twice.secret)));
    await until(() => twice.closed, 'the second hello refused');
    assert.equal(twice.errors[0]?.reason, 'protocol');
  });
});
