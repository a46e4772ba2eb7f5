// The gateway's downstream discipline on a real network (single-process devnet: a directory, 3 mix layers,
// one gateway, real TLS links and WebSockets), seen from a tap on each client's WebSocket: after the welcome,
// every message the gateway sends a client is a frame of `ClientProtocol.frameLength` bytes, item or
// padding; and a client that receives a burst of SURB replies gets exactly as many frames, tick for tick, as
// an idle client connected at the same time — the replies take the place of padding, nothing is added.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { type Devnet, startDevnet } from '../../src/devnet/index.ts';
import type { NetworkDocument } from '../../src/directory/document.ts';
import { GlobalObserver } from '../../src/privacy/index.ts';
import { gatewayNode, RawClient, until } from './support.ts';

/** Frames per second to each client. */
const RATE = 40;
/** Echo requests of one fragment: each is answered with one reply item. */
const REQUESTS = 20;

const root = mkdtempSync(join(tmpdir(), 'umbra-gateway-downstream-'));
const observer = new GlobalObserver();
let net: Devnet;
let document: NetworkDocument;
const clients: RawClient[] = [];

before(async () => {
  net = await startDevnet({
    dataDir: root,
    gateways: 1,
    roundPeriodMs: 50,
    batchSize: 4,
    gatewayLimits: { downstreamRate: RATE, sendRate: 100, burst: 50 },
  });
  document = await net.document();
});

after(async () => {
  for (const each of clients) await each.close();
  await observer.close();
  await net?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A raw client whose link to the gateway runs through the observer's tap. */
async function tappedClient(name: string): Promise<RawClient> {
  const url = new URL(net.gateways[0]?.clientUrl as string);
  const tap = await observer.tapWebSocket(name, 'gateway', () => ({
    host: url.hostname,
    port: Number(url.port),
  }));
  const client = new RawClient(net.geometry);
  clients.push(client);
  const welcome = await client.connect(`ws://127.0.0.1:${tap.port}${url.pathname}`);
  assert.equal(welcome.downstreamRate, RATE * 1000, 'the welcome announces the downstream rate');
  return client;
}

describe('the downstream link of a client', () => {
  test('one frame length, and as many frames with replies arriving as without', async () => {
    const active = await tappedClient('active');
    const idle = await tappedClient('idle');
    await until(() => active.frames.length > 0 && idle.frames.length > 0, 'the first frames');
    // Both counts are read at one instant: from here on the gateway's ticks reach both clients alike.
    const start = { active: active.frames.length, idle: idle.frames.length };
    const gateway = gatewayNode(document, net.gateways[0]?.id as Uint8Array);
    const route = { entry: gateway, exit: gateway, home: gateway };
    for (let i = 0; i < REQUESTS; i++) {
      const { packets } = active.requestPackets(document, 'echo', randomBytes(40), route);
      for (const packet of packets) active.sendPacket(packet);
    }
    await until(() => active.replies().length === REQUESTS, 'every reply');
    // A few more ticks, so that the window ends in padding for both.
    const settled = idle.frames.length + 5;
    await until(() => idle.frames.length >= settled, 'more ticks');
    const end = { active: active.frames.length, idle: idle.frames.length };

    const activeWindow = active.frames.slice(start.active, end.active);
    const idleWindow = idle.frames.slice(start.idle, end.idle);
    const items = (frames: typeof activeWindow) => frames.filter((frame) => frame.kind === 'item').length;
    console.log(
      `frames in the window: active ${activeWindow.length} (${items(activeWindow)} items), ` +
        `idle ${idleWindow.length} (${items(idleWindow)} items); frame length ${active.protocol.frameLength}`,
    );
    assert.equal(items(activeWindow), REQUESTS, 'the replies came as frames');
    assert.equal(items(idleWindow), 0);
    // One tick's frame may be on the wire to one client and not yet to the other when the counts are read.
    assert.ok(
      Math.abs(activeWindow.length - idleWindow.length) <= 2,
      `the same number of frames (${activeWindow.length} and ${idleWindow.length})`,
    );
    assert.ok(activeWindow.length >= REQUESTS, 'one item per frame: a burst waits for its ticks');

    // On the wire: after the welcome, one length only, both clients alike.
    await observer.collect();
    for (const name of ['active', 'idle']) {
      const down = observer.messages.filter((message) => message.to === name);
      const [welcome, ...frames] = down;
      assert.ok(welcome && welcome.bytes < active.protocol.frameLength, 'the welcome comes first');
      assert.ok(frames.length >= (name === 'active' ? end.active : end.idle) - 1);
      assert.deepEqual(
        [...new Set(frames.map((message) => message.bytes))],
        [active.protocol.frameLength],
        `one frame length on ${name}'s link`,
      );
    }
  });
});
