/**
 * The packet worker: the body of the dedicated Web Worker in which a browser page builds its mixnet packets
 * (docs/mixnet-carrier.md, "Where packets are built"). A client sends λ packets per second whatever its user
 * does, each a full Sphinx packet (20 X25519 operations for five hops), and a request fragment two headers
 * (its SURB's and its own). On the page's thread that work competes with rendering, input and MLS: a slow
 * phone spent most of its main thread on cover and its ticks came late. Here it runs beside the page.
 *
 * src/up/bundle.ts (`workerScriptsPlugin`) builds `servePackets(self)` over this module as a separate module
 * script and, in the page's bundle, replaces this module by one exporting only that script's text as
 * `packetWorkerSource`. Unbundled (Node, tests) or bundled without the plugin, the text is undefined and the
 * carrier builds on its own thread (packet-thread.ts).
 */
import { backend } from '#default-backend';
import { Geometry, type GeometryChoices, Sphinx } from '../../sphinx/index.ts';
import { buildPackets, type PacketOrder } from './packets.ts';

/** The worker's bundled script, when a bundler put it here; see the header. */
export const packetWorkerSource: string | undefined = undefined;

/** From the page: the geometry first (once), then numbered batches of orders. */
export type PacketWorkerRequest =
  | { readonly geometry: GeometryChoices }
  | { readonly id: number; readonly orders: readonly PacketOrder[] };

/** To the page: each batch's packets, with their SURB keys' bytes, or why the batch failed. */
export type PacketWorkerReply =
  | {
      readonly id: number;
      readonly built: readonly { readonly packet: Uint8Array; readonly surbKeys?: Uint8Array }[];
    }
  | { readonly id: number; readonly error: string };

/** What the worker needs of its global scope. */
export interface PacketWorkerScope {
  onmessage: ((event: MessageEvent<PacketWorkerRequest>) => void) | null;
  postMessage(message: PacketWorkerReply, transfer: Transferable[]): void;
}

/** Answers each batch with its packets (transferred), or the error's message; needs the geometry first. */
export function servePackets(scope: PacketWorkerScope): void {
  let sphinx: Sphinx | undefined;
  scope.onmessage = ({ data }) => {
    if ('geometry' in data) {
      sphinx = new Sphinx(Geometry.create(data.geometry), backend);
      return;
    }
    try {
      if (sphinx === undefined) throw new Error('no geometry yet');
      const built = buildPackets(sphinx, data.orders).map(({ packet, surbKeys }) =>
        surbKeys === undefined ? { packet } : { packet, surbKeys: surbKeys.bytes },
      );
      const buffers = new Set<ArrayBuffer>();
      for (const { packet, surbKeys } of built) {
        buffers.add(packet.buffer as ArrayBuffer);
        if (surbKeys !== undefined) buffers.add(surbKeys.buffer as ArrayBuffer);
      }
      scope.postMessage({ id: data.id, built }, [...buffers]);
    } catch (error) {
      scope.postMessage(
        { id: data.id, error: error instanceof Error ? error.message : 'unknown failure' },
        [],
      );
    }
  };
}
