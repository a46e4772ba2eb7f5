// Faults on the real development network, every role its own process (src/devnet 'child-processes': a
// directory, 2 gateways, 3 layers × 2 mix nodes, over TLS links and WebSockets on 127.0.0.1), in this order:
// - the exit gateway killed (SIGKILL) while the recipient of an inbox message is offline, then restarted:
//   the message is still in the inbox when the recipient comes back;
// - a mix node killed (SIGKILL) in the middle of a stream of requests from three clients' mixnet carriers:
//   every request reaches the service and every client gets each answer exactly once (the carriers
//   retransmit over other paths; the service de-duplicates by message id, as the delivery service does);
// - the killed node restarted on its data directory: a packet it had forwarded before the kill is refused
//   as a replay (its persisted replay filter);
// - its sibling in layer 2 hung (SIGSTOP) while clients make requests: they keep being answered, each
//   exactly once, over the live node (the carriers' loops find the hung one and their packets avoid it), and
//   nothing is lost when it resumes (SIGCONT). With a live node in every layer a hang leaves a path, so the
//   carriers need not report none (test/faults/liveness.test.ts hangs the only node of a layer).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import { MixnetCarrier } from '../../src/client/carrier/mixnet.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { Devnet } from '../../src/devnet/index.ts';
import type { DocumentNode, NetworkDocument } from '../../src/directory/document.ts';
import { Link, TlsIdentity } from '../../src/links/index.ts';
import { Sphinx } from '../../src/sphinx/index.ts';
import { eventually, metric, RawClient } from '../gateway/support.ts';
import { type EchoService, startEchoService, startMultiProcessDevnet } from '../support/devnet.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-faults-'));
let net: Devnet;
let service: EchoService | undefined;
/** Every request body the counting service received, as hex, in arrival order (duplicates kept). */
const received: string[] = [];

before(async () => {
  service = await startEchoService((body) => received.push(body.toString('hex')));
  net = await startMultiProcessDevnet(root, {
    roundPeriodMs: 100,
    batchSize: 8,
    clientSendRate: 10,
    services: ['echo', `count=${service.url}`],
  });
});

after(async () => {
  await net?.stop();
  await service?.close();
  rmSync(root, { recursive: true, force: true });
});

function node(document: NetworkDocument, id: Uint8Array): DocumentNode {
  const found = document.nodes.find((candidate) => toHex(candidate.id) === toHex(id));
  assert.ok(found, 'the node is in the document');
  return found;
}

describe('faults on the multi-process devnet', () => {
  const victim = () => net.mixes[1]?.[0];
  let replayable: Uint8Array | undefined;
  let link: Link | undefined;

  after(async () => {
    await link?.close();
  });

  test('the exit gateway killed while the recipient is offline, then restarted: the inbox is intact', async () => {
    const document = await net.document();
    const entry = node(document, (net.gateways[0] ?? assert.fail('gateway 0')).id);
    const exitNode = net.gateways[1];
    assert.ok(exitNode?.clientUrl);
    const exit = node(document, exitNode.id);
    const alice = new RawClient(net.geometry);
    const bob = new RawClient(net.geometry);
    try {
      await alice.connect(net.gateways[0]?.clientUrl ?? assert.fail('gateway 0 URL'));
      await bob.connect(exitNode.clientUrl);
      await bob.close();
      const stored = () => metric(exitNode.opsUrl, 'gateway_inbox_stored_total', 'kind="message"');
      const before = await stored();
      const body = randomBytes(32);
      alice.sendPacket(alice.messagePacket(document, entry, exit, bob.inbox, body));
      await eventually(stored, (n) => n === before + 1, 'the message stored for offline Bob');

      await exitNode.kill();
      await exitNode.restart();
      await net.waitForDocument();

      const back = new RawClient(net.geometry);
      back.secret.set(bob.secret);
      try {
        const welcome = await back.connect(exitNode.clientUrl);
        assert.equal(welcome.pending, 1);
        await eventually(
          async () => back.messages().length,
          (n) => n === 1,
          'the kept message',
        );
        assert.deepEqual(back.messages()[0]?.subarray(0, 32), body);
      } finally {
        await back.close();
      }
    } finally {
      await alice.close();
    }
  });

  test('a mix node killed mid-stream: every message arrives, each answer exactly once', async () => {
    const target = victim();
    assert.ok(target);
    const document = await net.document();
    const geometry = net.geometry;

    // First, a packet through the victim that the replay test sends again after the restart: sent as the
    // layer-1 node it trusts would (its TLS identity is in that node's data directory), towards layer 3 and
    // an exit, with no recipient (the exit drops it).
    const sender = net.mixes[0]?.[0];
    assert.ok(sender);
    const identity = await TlsIdentity.loadOrCreate(join(sender.dataDir, 'tls'));
    const hop = (entry: DocumentNode) => ({ id: entry.id, publicKey: entry.sphinxKeys.current });
    const layer3 = node(document, (net.mixes[2]?.[0] ?? assert.fail('layer 3')).id);
    const exit = node(document, (net.gateways[0] ?? assert.fail('gateway')).id);
    replayable = new Sphinx(geometry, nodeBackend).newPacket(
      [hop(node(document, target.id)), hop(layer3), hop(exit)],
      new Uint8Array(0),
    );
    const entry = node(document, target.id);
    const [host, port] = [target.linkAddress.host, target.linkAddress.port];
    link = new Link({
      identity,
      peer: { host, port, fingerprint: entry.tlsFingerprint },
      frameLength: geometry.packetLength,
      preamble: geometry.hash(),
    });
    const packetsIn = () => metric(target.opsUrl, 'mix_packets_in_total');
    const before = await packetsIn();
    link.send([replayable]);
    await eventually(packetsIn, (n) => n > before, 'the victim received the packet');
    // Its round commits the filter before the batch leaves; two rounds later it has surely left.
    await new Promise((resolve) => setTimeout(resolve, 3 * 100));

    // Three clients, on both gateways, each with ten requests to the counting service.
    const carriers = await Promise.all(
      [0, 1, 0].map((index) =>
        MixnetCarrier.connect({
          gatewayUrl: net.gateways[index]?.clientUrl ?? assert.fail('gateway URL'),
          geometry,
          directoryUrl: net.directoryUrl,
          authorityPublicKeys: net.authorityKeys,
          service: 'count',
        }),
      ),
    );
    try {
      const messages = carriers.map(() => Array.from({ length: 10 }, () => randomBytes(24)));
      let answered = 0;
      const answers = Promise.all(
        carriers.map((carrier, c) =>
          Promise.all(
            (messages[c] as Uint8Array[]).map(async (message) => {
              const answer = await carrier.request(message, { timeoutMs: 120_000 });
              answered++;
              return answer;
            }),
          ),
        ),
      );
      // Mid-stream: some answers are back, most are not.
      await eventually(
        async () => answered,
        (n) => n >= 3,
        'the first answers',
      );
      const answeredAtKill = answered;
      await target.kill();
      const results = await answers;
      assert.deepEqual(results, messages, 'every client got each of its answers, intact');

      const sent = new Set(messages.flat().map((message) => toHex(message)));
      const distinct = new Set(received.filter((body) => sent.has(body)));
      assert.equal(distinct.size, sent.size, 'every message reached the service');
      const retransmissions = carriers.reduce((sum, carrier) => sum + carrier.stats().retransmissions, 0);
      console.log(
        `killed ${target.name} after ${answeredAtKill} answers: ${sent.size} messages, ` +
          `${received.filter((body) => sent.has(body)).length} arrivals at the service ` +
          `(duplicates from retransmission are the service's to drop), ${retransmissions} retransmissions`,
      );
    } finally {
      await Promise.all(carriers.map((carrier) => carrier.close()));
    }
  });

  test('the killed node, restarted, refuses a packet it forwarded before as a replay', async () => {
    const target = victim();
    assert.ok(target && replayable && link);
    await target.restart();
    await net.waitForDocument();
    const replays = () => metric(target.opsUrl, 'mix_replays_total');
    assert.equal(await replays(), 0);
    link.send([replayable]);
    await eventually(replays, (n) => n === 1, 'the replay refused');
  });

  test('a mix node hung (SIGSTOP) beside a live sibling: requests keep being answered, each exactly once', async () => {
    const hung = net.mixes[1]?.[1];
    assert.ok(hung?.pid !== undefined);
    const carriers = await Promise.all(
      [0, 1].map((index) =>
        MixnetCarrier.connect({
          gatewayUrl: net.gateways[index]?.clientUrl ?? assert.fail('gateway URL'),
          geometry: net.geometry,
          directoryUrl: net.directoryUrl,
          authorityPublicKeys: net.authorityKeys,
          service: 'count',
        }),
      ),
    );
    const reasons: string[] = [];
    for (const carrier of carriers) {
      carrier.onStatus((status) => {
        if (status.state !== 'up') reasons.push(status.reason);
      });
    }
    process.kill(hung.pid, 'SIGSTOP');
    try {
      const messages = carriers.map(() => Array.from({ length: 8 }, () => randomBytes(24)));
      // One request at a time per client, all of them while the node is stopped.
      const results = await Promise.all(
        carriers.map(async (carrier, c) => {
          const answers: Uint8Array[] = [];
          for (const message of messages[c] as Uint8Array[]) {
            answers.push(await carrier.request(message, { timeoutMs: 180_000 }));
          }
          return answers;
        }),
      );
      assert.deepEqual(results, messages, 'every client got each of its answers while the node was stopped');
      const sent = new Set(messages.flat().map((message) => toHex(message)));
      assert.equal(new Set(received.filter((body) => sent.has(body))).size, sent.size);
      console.log(
        `hung ${hung.name}: ${sent.size} requests answered while it was stopped, ` +
          `${carriers.reduce((sum, carrier) => sum + carrier.stats().retransmissions, 0)} retransmissions; ` +
          `status changes: ${reasons.length === 0 ? 'none' : reasons.join('; ')}`,
      );
    } finally {
      process.kill(hung.pid, 'SIGCONT');
      await Promise.all(carriers.map((carrier) => carrier.close()));
    }
  });
});
