// The mixnet carrier against an in-test network (support.ts): a real WebSocket gateway speaking the client
// protocol, real Sphinx packets unwrapped at every hop with the nodes' keys, the echo service at the exit,
// replies over the client's SURBs. Covered: request/response; requests and responses of several fragments;
// a response larger than the SURBs sent (too_large, then more SURBs); cover traffic at rate λ with nothing
// to send, loops returning; a dead mix node (loss measured by loops, requests still answered exactly once
// through retransmission over fresh paths); gateway killed and restarted; no valid document; timeout,
// abort and close. Downstream: padding frames are discarded and counted apart from items and from the
// packets the carrier sent; every ack has one length whatever it acknowledges.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { toHex } from '../../../src/bytes.ts';
import {
  ACK_SLOTS,
  DEFAULT_MIXNET_TIMEOUT_MS,
  MAX_SURB_HINT,
  MixnetCarrier,
  type MixnetCarrierOptions,
  type TrafficSecond,
} from '../../../src/client/carrier/mixnet.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { CarrierError, DirectoryError } from '../../../src/errors.ts';
import type { CarrierStatus } from '../../../src/protocol/carrier.ts';
import { ECHO_SERVICE, replyCapacity, requestCapacity } from '../../../src/protocol/service-framing.ts';
import { geometry, seededRandom, TestGateway, TestNetwork, until, VirtualClock } from './support.ts';

/** A silence bound virtual time never reaches between two frames. */
const DAY_MS = 86_400_000;
const open: MixnetCarrier[] = [];
const gateways: TestGateway[] = [];

after(async () => {
  await Promise.all(open.map((carrier) => carrier.close()));
  await Promise.all(gateways.map((gateway) => gateway.stop()));
});

async function setup(
  options: Partial<MixnetCarrierOptions> = {},
  network = new TestNetwork(),
): Promise<{ gateway: TestGateway; carrier: MixnetCarrier }> {
  const gateway = await new TestGateway(network).start();
  gateways.push(gateway);
  const carrier = await MixnetCarrier.connect({
    gatewayUrl: gateway.url,
    geometry,
    fetchDocument: async () => network.document,
    service: ECHO_SERVICE,
    ...options,
  });
  open.push(carrier);
  return { gateway, carrier };
}

function isCarrierError(reason: string) {
  return (error: unknown) => error instanceof CarrierError && error.reason === reason;
}

describe('MixnetCarrier', () => {
  test('is up once connected, and a request comes back from the echo service over SURBs', async () => {
    const { gateway, carrier } = await setup();
    assert.deepEqual(carrier.status(), { state: 'up' });
    assert.equal(carrier.kind, 'mixnet');
    const request = randomBytes(200);
    const response = await carrier.request(request);
    assert.deepEqual(response, request);
    assert.equal(gateway.serviceCalls.length, 1);
    const stats = carrier.stats();
    assert.ok(stats.sent.real >= 2, 'a request carries at least two SURB-bearing fragments by default');
    assert.equal(stats.ratePerSecond, 50);
    assert.equal(stats.epoch, 1);
    assert.equal(stats.requestTimeoutMs, DEFAULT_MIXNET_TIMEOUT_MS, 'a fast network: the default deadline');
  });

  test('requests and responses of several fragments reassemble', async () => {
    const { gateway, carrier } = await setup();
    gateway.handler = async (request) => Uint8Array.from([...request, ...request, ...request]);
    const request = randomBytes(3 * requestCapacity(geometry) + 17);
    const response = await carrier.request(request);
    assert.equal(response.length, 3 * request.length);
    assert.deepEqual(response.subarray(0, request.length), request);
    assert.deepEqual(response.subarray(2 * request.length), request);
    assert.ok(response.length > 3 * replyCapacity(geometry), 'the response needed several SURBs');
    assert.equal(toHex(gateway.serviceCalls[0] ?? new Uint8Array()), toHex(request));
  });

  test('a response larger than the SURBs sent comes back after a retry with more SURBs; one expected that large needs no retry', async () => {
    const { gateway, carrier } = await setup({ minReplySurbs: 1 });
    const big = randomBytes(6 * replyCapacity(geometry));
    gateway.handler = async () => big;
    const response = await carrier.request(Uint8Array.of(1));
    assert.deepEqual(response, big);
    assert.ok(gateway.serviceCalls.length >= 2, 'the first attempt was answered too_large');
    const { retransmissions, tooLargeRetries } = carrier.stats();
    assert.ok(retransmissions >= 1);
    assert.equal(tooLargeRetries, 3, '1 → 2 → 4 → 8 SURBs');
    // A request whose caller expects the large response carries enough SURBs: no too_large round trip.
    const calls = gateway.serviceCalls.length;
    const sent = carrier.stats().sent.real;
    assert.deepEqual(await carrier.request(Uint8Array.of(2), { expectedResponseBytes: big.length }), big);
    assert.equal(gateway.serviceCalls.length, calls + 1);
    assert.equal(carrier.stats().retransmissions, retransmissions);
    assert.equal(carrier.stats().sent.real - sent, 6, 'one packet per SURB the response needs');
    // The hint is capped: a wrong one costs at most MAX_SURB_HINT packets.
    gateway.handler = async (request) => request;
    const before = carrier.stats().sent.real;
    await carrier.request(Uint8Array.of(3), { expectedResponseBytes: 1_000_000 });
    assert.equal(carrier.stats().sent.real - before, MAX_SURB_HINT);
    assert.throws(() => carrier.request(Uint8Array.of(4), { expectedResponseBytes: -1 }), {
      name: 'ArgumentError',
    });
  });

  test('with nothing to send it keeps sending at λ: loops and drops, and the loops come back', async () => {
    const { gateway, carrier } = await setup();
    const events: string[] = [];
    carrier.onPacket((event) => events.push(event.kind));
    await until(() => carrier.stats().loops.returned >= 10 && gateway.count('drop') >= 10, 'cover traffic');
    assert.ok(events.every((kind) => kind === 'loop' || kind === 'drop'));
    assert.equal(gateway.count('request'), 0);
    const { loops, sent } = carrier.stats();
    assert.equal(loops.lost, 0);
    assert.equal(loops.lossRate, 0);
    assert.ok((loops.lastRoundTripMs ?? -1) >= 0);
    assert.equal(sent.real, 0);
    // What the gateway received is exactly what the carrier reports sending.
    await until(() => gateway.received.length >= sent.loop + sent.drop, 'packets to arrive');
  });

  test('padding frames are discarded and counted apart; every ack has one length, whatever it acknowledges', async () => {
    const { gateway, carrier } = await setup();
    await until(() => carrier.stats().loops.returned >= 3, 'loops back');
    for (let i = 0; i < 20; i++) gateway.pad();
    await until(() => carrier.stats().received.padding === 20, 'the padding counted');
    // Padding opens nothing and breaks nothing: every returned loop came as an item, requests still work.
    assert.deepEqual(await carrier.request(randomBytes(50)).then((bytes) => bytes.length), 50);
    const { received, loops } = carrier.stats();
    assert.equal(received.padding, 20);
    assert.ok(received.items >= loops.returned + 1, 'loops and the reply came as items');
    assert.equal(loops.lost, 0);
    // One ack per upstream tick, each ACK_SLOTS sequence numbers long: 1 tag, a 2-byte length, 8 bytes each.
    await until(() => gateway.ackLengths.length >= 10, 'acks');
    assert.deepEqual([...new Set(gateway.ackLengths)], [1 + 2 + 8 * ACK_SLOTS]);
  });

  test('in virtual time: the per-second packet count is λ whether requests are made or not', async () => {
    const clock = new VirtualClock(Math.floor(Date.now() / 1000) * 1000);
    const network = new TestNetwork({ parameters: { clientSendRate: 20 } });
    // Virtual time runs ahead of the socket's frames: no silence verdicts here (see the hung-gateway test).
    const { gateway, carrier } = await setup({ clock, random: seededRandom(9), silenceMs: DAY_MS }, network);
    const run = async (ms: number): Promise<void> => {
      for (let elapsed = 0; elapsed < ms; elapsed += 100) {
        clock.advance(100);
        // Let the socket deliver replies and loops between steps of virtual time.
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await run(20_000);
    const idle = carrier.traffic().slice(-20);
    let busy = true;
    let answered = 0;
    const requests = (async () => {
      while (busy) {
        const request = randomBytes(300);
        assert.deepEqual(await carrier.request(request), request);
        answered++;
      }
    })();
    await run(20_000);
    busy = false;
    const active = carrier.traffic().slice(-20);
    await run(3_000);
    await requests;

    const total = (second: TrafficSecond) => second.real + second.loop + second.drop;
    const mean = (seconds: TrafficSecond[]) =>
      seconds.reduce((sum, second) => sum + total(second), 0) / seconds.length;
    assert.equal(carrier.traffic().length, 60);
    assert.equal((active[19]?.time ?? 0) - (active[0]?.time ?? 0), 19_000, 'consecutive whole seconds');
    assert.ok(idle.every((second) => second.real === 0));
    const realPackets = active.reduce((sum, second) => sum + second.real, 0);
    assert.ok(answered > 5 && realPackets > 10, `${answered} requests, ${realPackets} real packets`);
    // λ = 20/s; over 20 s the mean's standard error is 1 packet per second.
    assert.ok(Math.abs(mean(idle) - 20) < 4, `idle ${mean(idle)}`);
    assert.ok(Math.abs(mean(active) - 20) < 4, `active ${mean(active)}`);
    await until(
      () => gateway.received.length === total({ time: 0, ...carrier.stats().sent }),
      'every packet',
    );
  });

  test('a dead mix node loses packets: loops measure it, retransmission over fresh paths then routes around it', async () => {
    const network = new TestNetwork();
    const dead = toHex((network.mixes(2)[0] as { id: Uint8Array }).id);
    const { gateway, carrier } = await setup({}, network);
    gateway.lose = (hop) => toHex(hop) === dead;
    const requests = Array.from({ length: 6 }, () => randomBytes(100));
    assert.deepEqual(await Promise.all(requests.map((request) => carrier.request(request))), requests);
    await until(() => carrier.stats().loops.lost >= 8, 'loops counted lost', 20_000);
    const stats = carrier.stats();
    assert.ok(stats.retransmissions > 0, 'some attempt went through the dead node');
    assert.ok(gateway.count('lost') > 0);
    assert.ok((stats.loops.lossRate ?? 0) > 0);

    // Every lost loop crossed the dead node: real packets and SURBs now avoid it, so nothing is lost.
    const later = Array.from({ length: 6 }, () => randomBytes(100));
    assert.deepEqual(await Promise.all(later.map((request) => carrier.request(request))), later);
    assert.equal(carrier.stats().retransmissions, stats.retransmissions);
  });

  test('gateway killed: status down, requests refused as unreachable; restarted: up and working again', async () => {
    const { gateway, carrier } = await setup();
    const statuses: CarrierStatus[] = [];
    carrier.onStatus((status) => statuses.push(status));
    await gateway.stop();
    await until(() => carrier.status().state === 'down', 'status down');
    const status = carrier.status();
    assert.equal(status.state, 'down');
    assert.match(status.state === 'down' ? status.reason : '', /gateway/);
    await assert.rejects(carrier.request(Uint8Array.of(1)), isCarrierError('unreachable'));
    const sentWhileDown = carrier.stats().sent;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(carrier.stats().sent, sentWhileDown, 'nothing is sent while the gateway is down');

    await gateway.start();
    await until(() => carrier.status().state === 'up', 'status up again', 20_000);
    const request = randomBytes(64);
    assert.deepEqual(await carrier.request(request), request);
    assert.ok(statuses.some((entry) => entry.state === 'connecting'));
  });

  test('without a valid network document it is down and sends nothing', async () => {
    const network = new TestNetwork();
    const gateway = await new TestGateway(network).start();
    gateways.push(gateway);
    const carrier = await MixnetCarrier.connect({
      gatewayUrl: gateway.url,
      geometry,
      fetchDocument: async () => {
        throw new DirectoryError('bad_signature', 'the Ed25519 signature does not verify');
      },
    });
    open.push(carrier);
    const status = carrier.status();
    assert.equal(status.state, 'down');
    assert.match(status.state === 'down' ? status.reason : '', /no valid network document/);
    await assert.rejects(carrier.request(Uint8Array.of(1)), isCarrierError('unreachable'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(gateway.received.length, 0);
  });

  test('when the document expires and no fresh one verifies it goes down; a fresh one brings it back', async () => {
    const network = new TestNetwork({ parameters: { clientSendRate: 0.05 } });
    const clock = new VirtualClock(Date.now());
    let directoryUp = true;
    const { carrier } = await setup(
      {
        clock,
        silenceMs: DAY_MS,
        documentRefreshMs: 60_000,
        fetchDocument: async () => {
          if (!directoryUp) throw new DirectoryError('unavailable', 'cannot reach the directory');
          return network.document;
        },
      },
      network,
    );
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(carrier.status(), { state: 'up' });
    directoryUp = false;
    // Refreshes fail, but the held document stays valid until its validUntil (an hour after it was made).
    for (let minute = 0; minute < 50; minute++) {
      clock.advance(60_000);
      await settle();
    }
    assert.deepEqual(carrier.status(), { state: 'up' });
    for (let minute = 0; minute < 15; minute++) {
      clock.advance(60_000);
      await settle();
    }
    const status = carrier.status();
    assert.equal(status.state, 'down');
    assert.match(status.state === 'down' ? status.reason : '', /no valid network document/);
    await assert.rejects(carrier.request(Uint8Array.of(1)), isCarrierError('unreachable'));
    directoryUp = true;
    clock.advance(60_000);
    await settle();
    assert.deepEqual(carrier.status(), { state: 'up' });
  });

  test('timeout, abort and close reject with their reasons', async () => {
    const { gateway, carrier } = await setup();
    gateway.handler = () => new Promise(() => undefined);
    await assert.rejects(carrier.request(Uint8Array.of(1), { timeoutMs: 300 }), isCarrierError('timeout'));
    const controller = new AbortController();
    const aborted = carrier.request(Uint8Array.of(2), { signal: controller.signal });
    controller.abort(new Error('stop'));
    await assert.rejects(aborted, /stop/);
    const pending = carrier.request(Uint8Array.of(3));
    await carrier.close();
    await assert.rejects(pending, isCarrierError('closed'));
    await assert.rejects(carrier.request(Uint8Array.of(4)), isCarrierError('closed'));
    assert.deepEqual(carrier.status(), { state: 'down', reason: 'closed' });
  });

  test('a request beyond 256 fragments is too large', async () => {
    const { carrier } = await setup();
    await assert.rejects(
      carrier.request(new Uint8Array(257 * requestCapacity(geometry))),
      isCarrierError('too_large'),
    );
  });
});
