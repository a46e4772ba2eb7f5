/**
 * A crypto worker thread of a hop (see crypto-engine.ts): unwraps batches of packets with the epoch keys the
 * main thread last sent, and builds dummy packets, with the node backend. Packets the reply carries
 * are transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { wipe } from '../bytes.ts';
import { nodeBackend } from '../crypto/backends/node.ts';
import { SphinxError } from '../errors.ts';
import { Geometry, type GeometryFields, Sphinx } from '../sphinx/index.ts';
import { transferable, type WorkerReply, type WorkerRequest } from './crypto-engine.ts';
import type { EpochKey } from './epoch-keys.ts';
import { buildDummy, unwrapWithKeys } from './unwrap.ts';

const sphinx = new Sphinx(
  Geometry.fromFields((workerData as { geometry: GeometryFields }).geometry),
  nodeBackend,
);
let keys: readonly EpochKey[] = [];

function reply(message: WorkerReply, packets: readonly Uint8Array[] = []): void {
  parentPort?.postMessage(message, transferable(packets));
}

parentPort?.on('message', (request: WorkerRequest) => {
  switch (request.type) {
    case 'keys':
      // The previous copies die with this message: wipe the ones that are not carried over.
      for (const old of keys) if (!request.keys.some((key) => key.epoch === old.epoch)) wipe(old.secretKey);
      keys = request.keys;
      return;
    case 'unwrap': {
      const outcomes = request.packets.map((packet) => unwrapWithKeys(sphinx, keys, packet));
      const carried = outcomes.flatMap((outcome) => {
        switch (outcome.kind) {
          case 'forward':
            return [outcome.packet];
          case 'final':
          case 'reply':
            return [outcome.payload];
          default:
            return [];
        }
      });
      reply({ type: 'unwrapped', id: request.id, outcomes }, carried);
      return;
    }
    case 'dummies':
      try {
        const packets = request.routes.map((route) => buildDummy(sphinx, route));
        reply({ type: 'dummies', id: request.id, packets }, packets);
      } catch (error) {
        const sphinxReason = error instanceof SphinxError ? error.reason : undefined;
        const message = error instanceof Error ? error.message : String(error);
        // A SphinxError's message starts with its reason, which the main thread's copy will add again.
        reply({
          type: 'failed',
          id: request.id,
          sphinxReason,
          message: sphinxReason ? message.slice(sphinxReason.length + 2) : message,
        });
      }
      return;
  }
});
