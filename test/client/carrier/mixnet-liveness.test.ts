// What the mixnet carrier's status and receipts rest on (docs/mixnet-carrier.md, "Liveness"), against the
// in-test network of support.ts: a gateway that hangs with its connection open (as under SIGSTOP) takes the
// status out of up with the reason while requests wait, and its return brings the status back and answers
// each of them once; a request is reported sent only once the gateway's frames count its packets; a stall
// of the client's own event loop is not taken for a hung gateway; loops lost through every node of a layer
// take the status out of up while cover keeps flowing, and their return brings it back; loops that come
// back late teach the timeout instead (and a request's default deadline with it), but loops held across an
// outage (a stopped node's queue) do not stretch it; a gateway that keeps pausing raises the silence a hang takes; a request pending when the
// connection drops goes again on the new connection without waiting for its retransmission timer.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { toHex } from '../../../src/bytes.ts';
import {
  DEFAULT_MIXNET_TIMEOUT_MS,
  MixnetCarrier,
  type MixnetCarrierOptions,
} from '../../../src/client/carrier/mixnet.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import type { CarrierStatus } from '../../../src/protocol/carrier.ts';
import { ECHO_SERVICE } from '../../../src/protocol/service-framing.ts';
import { geometry, TestGateway, TestNetwork, until, VirtualClock } from './support.ts';

/**
 * The test gateway pads every 50 ms; a second without a frame is then a hang, not a gap between ticks (nor
 * this busy machine keeping the test process, gateway included, off the CPU for a while).
 */
const HEARTBEAT_MS = 50;
const SILENCE_MS = 1_000;
/** A silence bound virtual time never reaches between two frames. */
const DAY_MS = 86_400_000;

const open: MixnetCarrier[] = [];
const gateways: TestGateway[] = [];

// Each test's carriers and gateway stop with it: one left sending cover at λ = 50 slows the next.
afterEach(async () => {
  await Promise.all(open.splice(0).map((carrier) => carrier.close()));
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop()));
});

async function setup(
  options: Partial<MixnetCarrierOptions> = {},
  network = new TestNetwork(),
): Promise<{ gateway: TestGateway; carrier: MixnetCarrier; statuses: CarrierStatus[] }> {
  const gateway = await new TestGateway(network).start();
  gateways.push(gateway);
  gateway.heartbeat(HEARTBEAT_MS);
  const carrier = await MixnetCarrier.connect({
    gatewayUrl: gateway.url,
    geometry,
    fetchDocument: async () => network.document,
    service: ECHO_SERVICE,
    silenceMs: SILENCE_MS,
    ...options,
  });
  open.push(carrier);
  const statuses: CarrierStatus[] = [];
  carrier.onStatus((status) => statuses.push(status));
  return { gateway, carrier, statuses };
}

const reasonOf = (status: CarrierStatus): string => (status.state === 'up' ? '' : status.reason);

describe('MixnetCarrier liveness', () => {
  test('a hung gateway (connection open, nothing read or sent) takes the status out of up; its return, back', async () => {
    const { gateway, carrier, statuses } = await setup();
    assert.deepEqual(await carrier.request(Uint8Array.of(1)), Uint8Array.of(1));
    const events: string[] = [];
    gateway.hang();
    const inFlight = randomBytes(40);
    const first = carrier.request(inFlight, { onSent: () => events.push('first sent') });
    await until(() => statuses.length > 0, 'the hang seen', 20_000);
    const status = carrier.status();
    assert.equal(status.state, 'connecting');
    assert.match(
      reasonOf(status),
      /reconnecting to the gateway \(the gateway has sent nothing for .* s \(hung/,
    );
    assert.equal(events.length, 0, 'packets the gateway never read were not reported sent');
    // Requests wait for the gateway, and nothing is lost or answered twice when it is back.
    const later = randomBytes(50);
    const second = carrier.request(later, { onSent: () => events.push('second sent') });

    gateway.resume();
    assert.deepEqual(await first, inFlight);
    assert.deepEqual(await second, later);
    assert.deepEqual(events.sort(), ['first sent', 'second sent']);
    assert.equal(carrier.status().state, 'up');
  });

  test('onSent comes once the gateway has counted every packet of the request, before the response', async () => {
    // No silence verdict here: the gateway stays hung, its connection open, for as long as the test needs.
    const { gateway, carrier } = await setup({ silenceMs: DAY_MS });
    const events: string[] = [];
    gateway.hang();
    const request = randomBytes(3 * 400);
    const response = carrier.request(request, { onSent: () => events.push('sent') }).then((bytes) => {
      events.push('response');
      return bytes;
    });
    await until(() => carrier.stats().sent.real >= 3, 'the request written to the socket');
    assert.deepEqual(events, [], 'written to the socket is not sent');
    gateway.resume();
    assert.deepEqual(await response, request);
    assert.deepEqual(events, ['sent', 'response']);
  });

  test('a gateway that keeps pausing raises the silence bound; a real hang is still seen', async () => {
    const { gateway, carrier, statuses } = await setup();
    assert.deepEqual(await carrier.request(Uint8Array.of(1)), Uint8Array.of(1));
    const pause = async (ms: number) => {
      gateway.hang();
      await new Promise((resolve) => setTimeout(resolve, ms));
      gateway.resume();
      await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    };
    // A starved host: pauses just under the bound, then one over it that the pauses before make ordinary.
    for (let i = 0; i < 3; i++) await pause(0.9 * SILENCE_MS);
    await pause(1.4 * SILENCE_MS);
    assert.deepEqual(statuses, [], 'no pause was taken for a hang');
    assert.deepEqual(await carrier.request(Uint8Array.of(2)), Uint8Array.of(2));
    // A hang is a silence well past those pauses.
    gateway.hang();
    await until(() => carrier.status().state !== 'up', 'the hang seen', 30_000);
    assert.match(reasonOf(carrier.status()), /the gateway has sent nothing for/);
    gateway.resume();
    await until(() => carrier.status().state === 'up', 'back up', 30_000);
  });

  test("a stall of the client's own event loop is not taken for a hung gateway", async () => {
    const { carrier, statuses } = await setup();
    assert.deepEqual(await carrier.request(Uint8Array.of(1)), Uint8Array.of(1));
    // Nothing runs in this process for well over the silence bound: the gateway's frames wait in the
    // socket (here the gateway itself stalls too), then arrive before the second look.
    const end = performance.now() + 2 * SILENCE_MS;
    while (performance.now() < end) {
      // Busy: timers and sockets wait.
    }
    assert.deepEqual(await carrier.request(Uint8Array.of(2)), Uint8Array.of(2));
    assert.deepEqual(statuses, [], 'the status never changed');
  });

  test('loops lost through every node of a layer: not up, with the reason, cover flowing; back: up', async () => {
    const network = new TestNetwork();
    const layer2 = new Set(network.mixes(2).map((node) => toHex(node.id)));
    const { gateway, carrier } = await setup({}, network);
    assert.deepEqual(await carrier.request(Uint8Array.of(1)), Uint8Array.of(1));
    gateway.lose = (hop) => layer2.has(toHex(hop));
    await until(() => carrier.status().state !== 'up', 'no path seen', 20_000);
    assert.equal(carrier.status().state, 'connecting');
    assert.match(
      reasonOf(carrier.status()),
      /no path through the mix layers: .*loop packets stopped coming back/,
    );
    const waiting = randomBytes(64);
    const answer = carrier.request(waiting);
    const loops = carrier.stats().sent.loop;
    await until(() => carrier.stats().sent.loop >= loops + 5, 'loops sent while there is no path');
    assert.notEqual(carrier.status().state, 'up');

    gateway.lose = () => false;
    assert.deepEqual(await answer, waiting, 'the request waited for the path and went when it was back');
    assert.equal(carrier.status().state, 'up');
  });

  test('loops slower than their timeout are late, not lost: the timeout learns the round trip; back up', async () => {
    const { gateway, carrier } = await setup();
    assert.deepEqual(await carrier.request(Uint8Array.of(1)), Uint8Array.of(1));
    await until(() => carrier.stats().loops.returned >= 20, 'round trips measured');
    const before = carrier.stats().retransmitTimeoutMs;
    // The network slows down well past the loops' timeout: the first slow loops count as lost (and if
    // enough do before any is back, there is no path for a while).
    const transitMs = before;
    gateway.transitMs = transitMs;
    await until(() => carrier.stats().loops.lost > 0, 'slow loops counted lost', 60_000);
    // They come back late: their losses are undone, and their round trips raise the timeout (only the
    // onset, when none came back for longer than a timeout, is discounted as an outage).
    await until(
      () => carrier.stats().retransmitTimeoutMs > transitMs,
      'the timeout grown past the new round trip',
      120_000,
    );
    await until(() => carrier.status().state === 'up', 'the status up', 120_000);
    // A request's default deadline follows: its first attempt and one retransmission wait out their timeouts.
    const { retransmitTimeoutMs, requestTimeoutMs } = carrier.stats();
    assert.ok(
      requestTimeoutMs >= retransmitTimeoutMs + Math.min(60_000, 1.5 * retransmitTimeoutMs) - 1,
      `deadline ${requestTimeoutMs} ms, retransmission timeout ${retransmitTimeoutMs} ms`,
    );
    assert.ok(requestTimeoutMs >= DEFAULT_MIXNET_TIMEOUT_MS);
    assert.deepEqual(await carrier.request(Uint8Array.of(7), { timeoutMs: 300_000 }), Uint8Array.of(7));
  });

  test('loops held across an outage (a stopped node) do not stretch the timeouts when they come back', async () => {
    const network = new TestNetwork();
    const layer2 = new Set(network.mixes(2).map((node) => toHex(node.id)));
    const { gateway, carrier } = await setup({}, network);
    assert.deepEqual(await carrier.request(Uint8Array.of(1)), Uint8Array.of(1));
    await until(() => carrier.stats().loops.returned >= 20, 'round trips measured');
    const before = carrier.stats().retransmitTimeoutMs;
    gateway.hold = (hop) => layer2.has(toHex(hop));
    await until(() => carrier.status().state !== 'up', 'no path seen', 60_000);
    // Enough loops wait, for long enough, that their round trips would stretch every timeout severalfold.
    await until(() => gateway.heldCount >= 300, 'loops held at the stopped layer', 60_000);
    const returned = carrier.stats().loops.returned;
    gateway.release();
    // The held loops come back first, in one burst.
    await until(() => carrier.stats().loops.returned >= returned + 30, 'the held loops back', 60_000);
    const after = carrier.stats().retransmitTimeoutMs;
    await until(() => carrier.status().state === 'up', 'the status back up', 60_000);
    assert.ok(after < 2 * before, `the retransmission timeout went from ${before} to ${after} ms`);
    assert.deepEqual(await carrier.request(Uint8Array.of(2)), Uint8Array.of(2));
  });

  test('a request pending when the connection drops goes again on the new one, before its timer', async () => {
    const clock = new VirtualClock(Date.now());
    const { gateway, carrier, statuses } = await setup({ clock, silenceMs: DAY_MS });
    let calls = 0;
    gateway.handler = async (request) => {
      calls++;
      // The first attempt reaches the service and is never answered (lost with the connection).
      return calls === 1 ? new Promise<Uint8Array>(() => undefined) : request;
    };
    const step = async (): Promise<void> => {
      clock.advance(10);
      await new Promise((resolve) => setImmediate(resolve));
    };
    const request = randomBytes(64);
    let answer: Uint8Array | undefined;
    void carrier.request(request).then((bytes) => {
      answer = bytes;
    });
    while (calls < 1) await step();
    const timer = carrier.stats().retransmitTimeoutMs;
    const dropped = clock.now();
    const seen = statuses.length;
    gateway.dropClients();
    // Reconnecting takes no virtual time: the welcome comes over the socket.
    await until(
      () => statuses.length > seen && carrier.status().state === 'up',
      'the drop seen and the connection back',
    );
    while (answer === undefined) await step();
    assert.deepEqual(answer, request);
    assert.equal(carrier.stats().retransmissions, 1);
    assert.ok(
      clock.now() - dropped < timer,
      `sent again ${clock.now() - dropped} virtual ms after the drop, before the ${timer} ms timer`,
    );
  });
});
