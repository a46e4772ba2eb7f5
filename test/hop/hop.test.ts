// The hop core (src/hop/hop.ts) on its own, with a pipeline of the test's in place of a mix node's rounds or
// a gateway's inboxes: a packet from an allowed link arrives through the crypto engine (inline and one worker)
// with the link's context, one from a client-like push with its own, and what the pipeline forwards leaves on
// egress to the next hop; the hop holds keys for this epoch and the next, refuses bad options, and closes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { Topology, UnwrapBatch } from '../../src/hop/index.ts';
import { Hop } from '../../src/hop/index.ts';
import { Link, LinkServer, TlsIdentity } from '../../src/links/index.ts';
import { geometry, MemoryLogger, sphinx, TestClock, temporaryDirectory, until } from '../mixnode/support.ts';

const clock = new TestClock(60_000);
const sender = TlsIdentity.generate();
const next = { id: randomBytes(32), identity: TlsIdentity.generate() };

describe('the hop core', () => {
  for (const workers of [0, 1]) {
    test(`unwraps what links and pushes bring (workers: ${workers}), and its pipeline's output leaves`, async () => {
      await using directory = await temporaryDirectory();
      const received: Uint8Array[] = [];
      const sink = await LinkServer.listen({
        identity: next.identity,
        host: '127.0.0.1',
        port: 0,
        frameLength: geometry.packetLength,
        preamble: geometry.hash(),
        authorize: () => true,
        onFrame: (frame) => received.push(frame),
      });
      const topology: Topology = {
        peer: (id) =>
          toHex(id) === toHex(next.id)
            ? { address: sink.address, tlsFingerprint: next.identity.fingerprint }
            : undefined,
        isAllowedSender: (fingerprint) => toHex(fingerprint) === toHex(sender.fingerprint),
        hopsAfter: () => [],
      };
      const hop = await Hop.open<string>({
        id: randomBytes(32),
        geometry,
        dataDir: directory.path,
        topology,
        epochs: clock,
        graceMs: 0,
        logger: new MemoryLogger(),
        workers,
      });
      const batches: UnwrapBatch<string>[] = [];
      let frames = 0;
      try {
        await hop.start({
          listen: { host: '127.0.0.1', port: 0 },
          linkContext: 'link',
          onLinkFrame: () => frames++,
          onBatch: (batch) => {
            batches.push(batch);
            for (const { outcome } of batch.outcomes) {
              if (outcome.kind !== 'forward' || !hop.replay.admit(outcome.epoch, outcome.replayTag)) continue;
              const peer = topology.peer(outcome.nextHop);
              if (!peer) continue;
              hop.replay.commit();
              hop.egress.send([{ packet: outcome.packet, nextHop: outcome.nextHop, peer }]);
            }
          },
          onFailure: (error) => assert.fail(String(error)),
          onLinkDropped: () => {},
          maxInFlight: 16,
        });
        const epoch = clock.epochAt(clock.now());
        assert.deepEqual(
          hop.publicKeys().map((key) => key.epoch),
          [epoch, epoch + 1],
        );
        assert.deepEqual(hop.rotation.liveEpochs, [epoch]);
        assert.equal(hop.engine.threads, workers);
        hop.checkStore();

        const publicKey = await hop.publicKeyFor(epoch);
        const path = [
          { id: randomBytes(32), publicKey },
          { id: next.id, publicKey: nodeBackend.x25519.generateKeyPair().publicKey },
        ];
        const address = hop.listening;
        assert.ok(address);
        const link = new Link({
          identity: sender,
          peer: { ...address, fingerprint: hop.tlsFingerprint },
          frameLength: geometry.packetLength,
          preamble: geometry.hash(),
        });
        const replayed = sphinx.newPacket(path, new Uint8Array(4));
        link.send([replayed, replayed.slice()]);
        hop.push(sphinx.newPacket(path, new Uint8Array(4)), 'client');
        await until(() => received.length === 2, 'two packets at the next hop');
        await link.close();
        await hop.drain();
        assert.equal(frames, 2);
        const contexts = batches.flatMap((batch) => batch.outcomes.map(({ context }) => context)).sort();
        assert.deepEqual(contexts, ['client', 'link', 'link']);
        assert.ok(
          batches.every((batch) => batch.outcomes.every(({ outcome }) => outcome.kind === 'forward')),
        );
        assert.equal(hop.replay.size(epoch), 2, 'the replayed copy was refused');
        assert.deepEqual(hop.links, { open: 1, connected: 1 });
      } finally {
        await hop.close();
        await sink.close();
      }
    });
  }

  test('refuses a bad id, grace period or worker count before opening anything', async () => {
    await using directory = await temporaryDirectory();
    const options = {
      id: randomBytes(32),
      geometry,
      dataDir: directory.path,
      topology: { peer: () => undefined, isAllowedSender: () => false, hopsAfter: () => [] },
      epochs: clock,
      graceMs: 0,
      logger: new MemoryLogger(),
    };
    await assert.rejects(Hop.open({ ...options, id: randomBytes(31) }), /id/);
    await assert.rejects(Hop.open({ ...options, graceMs: -1 }), /graceMs/);
    await assert.rejects(Hop.open({ ...options, workers: 1.5 }), /workers/);
  });
});
