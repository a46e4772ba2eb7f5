// The development network with every role as its own process (`umbra directory`, three `umbra mix`, two
// `umbra gateway`, each `node src/<role>/main.ts`): every node reports healthy on /health and ready on
// /ready (its named checks), a raw client's message and an echo request cross the three layers, and a gateway
// killed with SIGKILL while its client is offline comes back with the inbox intact; a killed mix node rejoins
// after a restart and traffic flows again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { type Devnet, startDevnet } from '../../src/devnet/index.ts';
import type { NetworkDocument } from '../../src/directory/document.ts';
import { eventually, gatewayNode, metric, RawClient, until } from '../gateway/support.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-devnet-'));
let net: Devnet;
let document: NetworkDocument;
const clients: RawClient[] = [];

function client(): RawClient {
  const created = new RawClient(net.geometry);
  clients.push(created);
  return created;
}

before(async () => {
  net = await startDevnet({
    dataDir: root,
    mode: 'child-processes',
    gateways: 2,
    roundPeriodMs: 100,
    batchSize: 4,
  });
  document = await net.document();
});

after(async () => {
  for (const each of clients) await each.close();
  await net?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('devnet of child processes', () => {
  test('every node runs as its own process, is in the document and healthy', async () => {
    assert.equal(net.nodes.length, 5);
    const pids = new Set(net.nodes.map((node) => node.pid));
    assert.equal(pids.size, 5);
    assert.ok(!pids.has(process.pid) && !pids.has(undefined));
    assert.equal(document.nodes.length, 5);
    for (const node of net.nodes) {
      const health = (await (await fetch(`${node.opsUrl}/health`)).json()) as {
        status: string;
        role: string;
      };
      assert.deepEqual([health.status, health.role], ['ok', node.role]);
      // Ready: listed in the current document, keys for this epoch and the next, links up, store answering.
      const ready = await eventually(
        async () => {
          const response = await fetch(`${node.opsUrl}/ready`);
          return { status: response.status, body: (await response.json()) as Record<string, unknown> };
        },
        (answer) => answer.status === 200,
        `${node.name} ready`,
      );
      assert.deepEqual(ready.body.notReady, []);
      assert.deepEqual(Object.keys(ready.body.checks as object).sort(), [
        'document',
        'keys',
        'links',
        'store',
      ]);
    }
  });

  test('a message and an echo request cross the three layers', async () => {
    const [first, second] = net.gateways.map((node) => gatewayNode(document, node.id));
    assert.ok(first && second);
    const alice = client();
    const bob = client();
    await alice.connect(net.gateways[0]?.clientUrl as string);
    await bob.connect(net.gateways[1]?.clientUrl as string);
    const body = randomBytes(64);
    alice.sendPacket(alice.messagePacket(document, first, second, bob.inbox, body));
    await until(() => bob.items.length === 1, 'the message');
    assert.deepEqual(bob.messages()[0]?.subarray(0, 64), body);
    const request = randomBytes(300);
    const { packets } = alice.requestPackets(document, 'echo', request, {
      entry: first,
      exit: second,
      home: first,
    });
    for (const packet of packets) alice.sendPacket(packet);
    await until(() => alice.replies().length === 1, 'the echo');
    assert.deepEqual(alice.replies()[0]?.data, request);
  });

  test('a gateway killed while its client is offline restarts with the inbox intact', async () => {
    const [first, second] = net.gateways.map((node) => gatewayNode(document, node.id));
    assert.ok(first && second);
    const alice = client();
    const bob = client();
    await alice.connect(net.gateways[0]?.clientUrl as string);
    await bob.connect(net.gateways[1]?.clientUrl as string);
    await bob.close();
    const exit = net.gateways[1];
    assert.ok(exit);
    const stored = () => metric(exit.opsUrl, 'gateway_inbox_stored_total', 'kind="message"');
    const before = await stored();
    const body = randomBytes(48);
    alice.sendPacket(alice.messagePacket(document, first, second, bob.inbox, body));
    await eventually(stored, (n) => n === before + 1, 'stored');
    const pid = exit.pid;
    await exit.kill();
    await exit.restart();
    assert.notEqual(exit.pid, pid);
    const back = client();
    back.secret.set(bob.secret);
    const welcome = await back.connect(exit.clientUrl as string);
    assert.equal(welcome.pending, 1);
    await until(() => back.items.length === 1, 'the kept message');
    assert.deepEqual(back.messages()[0]?.subarray(0, 48), body);
  });

  test('a killed mix node restarts, rejoins the document and carries traffic again', async () => {
    const mix = net.mixes[1]?.[0];
    assert.ok(mix);
    await mix.kill();
    await mix.restart();
    document = await net.waitForDocument();
    // Layer 1 reconnects with backoff; once the restarted node counts input, its links are up.
    await eventually(
      () => metric(mix.opsUrl, 'mix_packets_in_total'),
      (n) => n > 0,
      'layer 1 reconnected',
      30_000,
    );
    const [first, second] = net.gateways.map((node) => gatewayNode(document, node.id));
    assert.ok(first && second);
    const alice = client();
    const bob = client();
    await alice.connect(net.gateways[0]?.clientUrl as string);
    await bob.connect(net.gateways[1]?.clientUrl as string);
    // The frames layer 1 queued while the node was down arrive at once and overflow its round queue, which
    // stays full (its input is exactly one batch a round): a packet may be dropped there, so the client
    // retransmits, as the carrier does, until one arrives.
    const resend = setInterval(
      () => alice.sendPacket(alice.messagePacket(document, first, second, bob.inbox, randomBytes(8))),
      1_000,
    );
    alice.sendPacket(alice.messagePacket(document, first, second, bob.inbox, randomBytes(8)));
    try {
      await until(() => bob.items.length >= 1, 'a message through the restarted node', 30_000);
    } catch (error) {
      // Say where it stuck: the nodes' counters of packets lost, and their last log lines.
      const lost =
        /^(mix|gateway)_(dropped|mac_failures|replays|rounds_held|inbox_stored|forwarded|packets_in)/;
      const lines = await Promise.all(
        net.nodes.map(async (node) => {
          const text = await (await fetch(`${node.opsUrl}/metrics`)).text();
          const counters = text.split('\n').filter((line) => lost.test(line) && !line.endsWith(' 0'));
          return `${node.name}: ${counters.join(', ')} | ${node.logs.slice(-2).join(' | ')}`;
        }),
      );
      throw new Error([(error as Error).message, ...lines].join('\n'));
    } finally {
      clearInterval(resend);
    }
  });
});
