// The observer on the real, multi-process development network (src/devnet 'child-processes': a directory,
// 2 gateways, 3 layers × 2 mix nodes) with 20 real mixnet carriers (src/client/carrier/mixnet.ts), 10 of
// them in conversation with a service behind the exit gateways, 10 idle. The observer taps every client ↔
// gateway WebSocket link (the links between nodes dial addresses from the signed network document, so they
// cannot be tapped here; test/privacy/adversary.test.ts covers them on real MixNodes in one process).
//
// What holds: every client sends at its constant rate, active or idle, in packets of one size; every request
// is answered; the gateway sends each client one frame size at one rate whatever it receives (protocol
// version 2), and acks have one size, so reply timing links requests to their senders no better than chance
// within the stated margin. (Version 1 pushed replies on arrival, 48 bytes longer than loops: 37 % linked.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import { MixnetCarrier } from '../../src/client/carrier/mixnet.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { Devnet } from '../../src/devnet/index.ts';
import { exponential, GlobalObserver, replyLinkAttack, wallClock } from '../../src/privacy/index.ts';
import { type EchoService, startEchoService, startMultiProcessDevnet } from '../support/devnet.ts';

const CLIENTS = 20;
const ACTIVE = 10;
const RATE = 2;
/** Requests per second per active client: each takes two packets (two SURBs), half of λ. */
const REQUEST_RATE = 0.5;
const DURATION_MS = 15_000;
/** A generous cap on a loaded machine: the carriers retry their gateway with backoff. */
const UP_TIMEOUT_MS = 120_000;

const root = mkdtempSync(join(tmpdir(), 'umbra-privacy-devnet-'));
const observer = new GlobalObserver();
const arrivals: { at: number; body: string }[] = [];
const senders = new Map<string, string>();
let net: Devnet;
let service: EchoService | undefined;
let carriers: MixnetCarrier[] = [];
let measured = { from: 0, to: 0 };
let answered = 0;
let requested = 0;

/** Resolves once `carrier` is up; rejects with its status after `UP_TIMEOUT_MS`. */
function whenUp(carrier: MixnetCarrier, name: string): Promise<void> {
  if (carrier.status().state === 'up') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${name} not up within ${UP_TIMEOUT_MS} ms: ${JSON.stringify(carrier.status())}`));
    }, UP_TIMEOUT_MS);
    const stop = carrier.onStatus((status) => {
      if (status.state !== 'up') return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

before(async () => {
  const counting = await startEchoService((body) =>
    arrivals.push({ at: wallClock(), body: body.toString('hex') }),
  );
  service = counting;
  net = await startMultiProcessDevnet(root, {
    roundPeriodMs: 250,
    batchSize: 32,
    clientSendRate: RATE,
    services: [`count=${counting.url}`],
  });
  const network = net;
  carriers = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const gateway = network.gateways[i % network.gateways.length];
      assert.ok(gateway?.clientUrl);
      const url = new URL(gateway.clientUrl);
      const tap = await observer.tapWebSocket(`client${i}`, gateway.name, () => ({
        host: url.hostname,
        port: Number(url.port),
      }));
      return MixnetCarrier.connect({
        gatewayUrl: `ws://127.0.0.1:${tap.port}${url.pathname}`,
        geometry: network.geometry,
        directoryUrl: network.directoryUrl,
        authorityPublicKeys: network.authorityKeys,
        service: 'count',
      });
    }),
  );
  // As an app waits for its indicator to turn green: a carrier whose first connection failed (a gateway slow
  // to answer on a loaded machine) is down and fails requests at once, until its next try succeeds.
  await Promise.all(carriers.map((carrier, i) => whenUp(carrier, `client${i}`)));
  // Traffic: the active clients issue requests as Poisson processes; everyone else sends cover only.
  measured = { from: wallClock(), to: 0 };
  const end = Date.now() + DURATION_MS;
  await Promise.all(
    carriers.slice(0, ACTIVE).map(async (carrier, i) => {
      const pending: Promise<void>[] = [];
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, exponential(REQUEST_RATE)));
        if (Date.now() > end) break;
        const body = randomBytes(16);
        senders.set(toHex(body), `client${i}`);
        requested++;
        pending.push(
          carrier.request(body, { timeoutMs: 60_000 }).then((answer) => {
            assert.deepEqual(answer, body);
            answered++;
          }),
        );
      }
      await Promise.all(pending);
    }),
  );
  measured = { ...measured, to: wallClock() };
  await observer.collect();
});

after(async () => {
  await Promise.all(carriers.map((carrier) => carrier.close()));
  await net?.stop();
  await observer.close();
  await service?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('the observer on the client links of the multi-process devnet', () => {
  const packetMessage = () => 1 + net.geometry.packetLength;

  test('every request is answered', () => {
    assert.ok(requested >= 30, `requests made (${requested})`);
    assert.equal(answered, requested);
  });

  test('every client, active or idle, sends packets of one size at its constant rate', () => {
    const seconds = (measured.to - measured.from) / 1000;
    const up = observer.messages.filter(
      (message) =>
        message.from.startsWith('client') && message.at >= measured.from && message.at <= measured.to,
    );
    const sizes = new Set(up.filter((message) => message.bytes > 1000).map((message) => message.bytes));
    assert.deepEqual([...sizes], [packetMessage()], 'one packet size');
    const rate = (clients: number[]) =>
      clients.reduce(
        (sum, i) =>
          sum + up.filter((m) => m.from === `client${i}` && m.bytes === packetMessage()).length / seconds,
        0,
      ) / clients.length;
    const active = rate(Array.from({ length: ACTIVE }, (_, i) => i));
    const idle = rate(Array.from({ length: CLIENTS - ACTIVE }, (_, i) => ACTIVE + i));
    console.log(
      `packets per second per client: active ${active.toFixed(2)}, idle ${idle.toFixed(2)}, λ ${RATE}`,
    );
    // Each mean is over ten Poisson counts of ~30: its standard error is about 6 % of λ.
    assert.ok(Math.abs(active - idle) < 0.3 * RATE, 'the same rate whether the user sends or not');
    // Never above λ; below it only when this machine starves the clients (the carrier does not catch up late
    // ticks, which would be bursts).
    assert.ok(idle < 1.3 * RATE && idle > 0.5 * RATE, 'the document’s rate');
  });

  test('the gateway → client link carries one message size, and reply timing links no request to its sender', () => {
    // Items (not the one welcome per connection): forward messages and SURB replies.
    const down = observer.messages.filter(
      (message) => message.to.startsWith('client') && message.bytes > 1000,
    );
    const itemSizes = [...new Set(down.map((message) => message.bytes))].sort((a, b) => a - b);
    const upSizes = [
      ...new Set(observer.messages.filter((m) => m.from.startsWith('client')).map((m) => m.bytes)),
    ].sort((a, b) => a - b);
    const first = new Map<string, number>();
    for (const arrival of arrivals) if (!first.has(arrival.body)) first.set(arrival.body, arrival.at);
    const deliveries = [...first].flatMap(([body, at]) => {
      const sender = senders.get(body);
      return sender ? [{ at, sender }] : [];
    });
    const pushes = down.map((message) => ({ at: message.at, client: message.to, bytes: message.bytes }));
    const attack = replyLinkAttack({ deliveries, pushes });
    console.log(
      `gateway → client message sizes: ${itemSizes.join(', ')}; client → gateway: ${upSizes.join(', ')}; ` +
        `reply-timing attacker ${attack.correct}/${attack.messages} = ${attack.successRate.toFixed(3)} ` +
        `beside 1/k = ${(1 / CLIENTS).toFixed(3)} (all ${CLIENTS} clients send at λ)`,
    );
    assert.equal(itemSizes.length, 1, 'one item size');
    const chance = 1 / CLIENTS;
    const margin = 3 * Math.sqrt((chance * (1 - chance)) / attack.messages);
    assert.ok(attack.successRate <= chance + margin, 'reply timing does not link requests');
  });
});
