// The gateway's downstream clock (src/gateway/gateway.ts, docs/gateway.md "Downstream") in virtual time: a
// real gateway and a real WebSocket client, but the ticks fire only when the test moves the clock, so the
// rules are checked tick by tick rather than as rates measured in wall time: no frame before the first
// tick; one frame per tick per client, padding when nothing waits; and after a stall (time moves on with no
// timer firing, as in a blocked event loop) the missed ticks are skipped, never sent as a burst.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { silentLogger } from '../../src/ops/logger.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import { VirtualClock } from '../support/virtual-clock.ts';
import { RawClient, temporaryDirectory, until } from './support.ts';

const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 256,
  withSurb: true,
  nrHops: 5,
});
/** Frames per second: one tick every 100 ms. */
const RATE = 10;
const TICK_MS = 1000 / RATE;
const EPOCH_MS = 3_600_000;

const clock = new VirtualClock();
let gateway: Gateway;
let dispose: () => Promise<void>;

before(async () => {
  const directory = await temporaryDirectory();
  gateway = await Gateway.start({
    id: randomBytes(32),
    geometry,
    dataDir: directory.path,
    topology: { peer: () => undefined, isAllowedSender: () => false, hopsAfter: () => [] },
    epochs: clock.epochs(EPOCH_MS),
    graceMs: 60_000,
    logger: silentLogger,
    workers: 0,
    clock,
    linkListen: { host: '127.0.0.1', port: 0 },
    clientListen: { host: '127.0.0.1', port: 0 },
    services: new Map(),
    limits: { downstreamRate: RATE },
  });
  dispose = () => directory[Symbol.asyncDispose]();
});

after(async () => {
  await gateway?.stop();
  await dispose?.();
});

/** Moves the clock by `ms`, firing every timer due on the way, and waits for `count` frames at `client`. */
async function ticks(client: RawClient, ms: number, count: number): Promise<void> {
  clock.advance(ms);
  await until(() => client.frames.length >= count, `${count} frames`);
}

describe('the downstream clock in virtual time', () => {
  test('one frame per tick per client, padding when nothing waits; none before the first tick', async () => {
    const first = new RawClient(geometry);
    const second = new RawClient(geometry);
    after(() => first.close());
    after(() => second.close());
    await first.connect(gateway.clientUrl);
    await second.connect(gateway.clientUrl);
    // The welcome round trip takes real time; virtual time has not moved, so no tick has fired.
    assert.equal(first.frames.length + second.frames.length, 0);
    await ticks(first, 5 * TICK_MS, 5);
    await until(() => second.frames.length >= 5, 'the second client’s frames');
    // A frame from a sixth tick would have been sent in the same turn as the fifth, before anything of the
    // next ticks: move one more tick and check that exactly one more frame comes to each.
    await ticks(first, TICK_MS, 6);
    await until(() => second.frames.length >= 6, 'the second client’s sixth frame');
    assert.equal(first.frames.length, 6);
    assert.equal(second.frames.length, 6);
    assert.ok(first.frames.every((frame) => frame.kind === 'padding'));
    assert.equal(new Set([...first.frames, ...second.frames].map((frame) => frame.bytes)).size, 1);
  });

  test('after a stall the missed ticks are skipped, not sent in a burst', async () => {
    const client = new RawClient(geometry);
    after(() => client.close());
    await client.connect(gateway.clientUrl);
    const before = client.frames.length;
    // Ten ticks' worth of time with no timer firing, then the overdue tick: one frame, not ten.
    clock.jump(10 * TICK_MS);
    await until(() => client.frames.length >= before + 1, 'the overdue tick');
    await ticks(client, TICK_MS, before + 2);
    assert.equal(client.frames.length, before + 2, 'the schedule resumes one frame per tick');
  });
});
