// A three-layer chain of real mix nodes (one per layer) over real TLS links on 127.0.0.1, with a gateway in
// front and an exit sink behind: real Sphinx packets cross it end to end, and a wire tap in front of every
// hop after the first sees each node send whole batches of B packets per round, real and dummy alike.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { MixNode, type RoundReport } from '../../src/mixnode/index.ts';
import {
  Gateway,
  indexedPayload,
  nodeOptions,
  payloadIndex,
  Sink,
  sphinx,
  TestClock,
  TestNetwork,
  temporaryDirectory,
  until,
  WireTap,
} from './support.ts';

const BATCH = 8;
const PERIOD_MS = 120;
const LAYERS = 3;

test('three layers forward real packets end to end, each node sending whole batches of B per round', async () => {
  const network = new TestNetwork();
  const sink = await Sink.start(network);
  const gateway = new Gateway(network);
  const clock = new TestClock(3_600_000);
  const nodes: MixNode[] = [];
  const reports: RoundReport[][] = [[], [], []];
  const taps: WireTap[] = [];
  const directories = await Promise.all(Array.from({ length: LAYERS }, () => temporaryDirectory()));
  try {
    for (let layer = 0; layer < LAYERS; layer++) {
      const id = randomBytes(32);
      network.addMix(layer, id, () => nodes[layer]);
      const options = nodeOptions(network, layer, (directories[layer] as { path: string }).path, {
        id,
        epochs: clock,
        round: { roundPeriodMs: PERIOD_MS, batchSize: BATCH },
        // The middle node unwraps in worker threads, the others inline: both engines carry the chain.
        workers: layer === 1 ? 2 : 0,
      });
      const node = await MixNode.start(options);
      nodes.push(node);
      node.onRound((report) => (reports[layer] as RoundReport[]).push(report));
    }
    // Observe what nodes 1, 2 and 3 send: taps in front of nodes 2, 3 and the sink.
    for (const [index, target] of [...nodes.slice(1), sink].entries()) {
      const tap = await WireTap.start(() => ('tlsFingerprint' in target ? target.address : sink.address));
      taps.push(tap);
      const member = index < LAYERS - 1 ? network.layers[index + 1]?.[0] : network.exits[0];
      network.tap((member as { id: Uint8Array }).id, tap);
    }
    await until(() => reports.every((list) => list.length >= 2), 'every node to send rounds');

    const epoch = clock.epochAt(clock.time);
    const recipient = randomBytes(32);
    const sent = 24;
    for (let burst = 0; burst < 3; burst++) {
      gateway.send(
        nodes[0] as MixNode,
        Array.from({ length: sent / 3 }, (_, i) =>
          sphinx.newPacket(network.path(epoch, sink, recipient), indexedPayload(burst * (sent / 3) + i)),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, PERIOD_MS));
    }
    await until(() => sink.real.length === sent, 'every real packet at the exit');
    const roundsBefore = reports.map((list) => list.length);
    await until(
      () => reports.every((list, i) => list.length >= (roundsBefore[i] as number) + 2),
      'two more rounds',
    );

    assert.deepEqual(
      sink.real.map((arrival) => payloadIndex(arrival.payload as Uint8Array)).sort((a, b) => a - b),
      Array.from({ length: sent }, (_, i) => i),
      'every real packet arrives once, intact',
    );
    assert.deepEqual(sink.failures, []);
    assert.ok(sink.arrivals.length > sent, 'dummies reach the exit too');

    for (const [layer, list] of reports.entries()) {
      assert.ok(
        list.every((report) => {
          const size = report.real + report.dummies;
          return (size === BATCH || size === 2 * BATCH) && (report.dummies === 0 || size === BATCH);
        }),
        `node ${layer + 1}: one or two batches per round, dummies only topping up one`,
      );
      const real = list.reduce((sum, report) => sum + report.real, 0);
      assert.ok(real >= sent, `node ${layer + 1} forwarded every real packet`);
    }
    for (const [index, tap] of taps.entries()) {
      const bursts = tap.burstSizes(PERIOD_MS / 2);
      assert.ok(bursts.length >= 4, `node ${index + 1}: bursts observed`);
      // A burst is one round; two rounds only merge if a timer is late by half a period.
      for (const size of bursts)
        assert.ok(size > 0 && size % BATCH === 0, `node ${index + 1}: burst of ${size}`);
    }
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    await gateway.close();
    await sink.close();
    await Promise.all(taps.map((tap) => tap.close()));
    await Promise.all(directories.map((directory) => directory[Symbol.asyncDispose]()));
  }
});
