/**
 * The page's side of the packet worker (packet-worker.ts): starts it from the script the bundler carried in
 * the app, sends it batches of packet orders and hands back what it built. Where there is no such script
 * (Node, tests, a bundle without the plugin) or no `Worker`, `start` gives undefined and the mixnet carrier
 * builds on its own thread; a worker that fails is closed, its batches fail, and the carrier builds on its
 * own thread from then on.
 */

import type { Geometry } from '../../sphinx/index.ts';
import { SurbKeys } from '../../sphinx/index.ts';
import { type PacketWorkerReply, type PacketWorkerRequest, packetWorkerSource } from './packet-worker.ts';
import type { BuiltPacket, PacketOrder } from './packets.ts';

interface Batch {
  readonly resolve: (built: BuiltPacket[]) => void;
  readonly reject: (error: Error) => void;
}

export class PacketThread {
  readonly #worker: Worker;
  readonly #url: string;
  readonly #batches = new Map<number, Batch>();
  #nextId = 0;
  #failure: Error | undefined;

  /** A packet worker for `geometry`, or undefined where pages cannot have one (see the header). */
  static start(geometry: Geometry): PacketThread | undefined {
    if (packetWorkerSource === undefined || typeof Worker === 'undefined') return undefined;
    return new PacketThread(packetWorkerSource, geometry);
  }

  private constructor(source: string, geometry: Geometry) {
    this.#url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    this.#worker = new Worker(this.#url, { type: 'module', name: 'umbra-packets' });
    this.#worker.onmessage = ({ data }: MessageEvent<PacketWorkerReply>) => this.#onReply(data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#stop(new Error(`the packet worker failed: ${event.message}`));
    };
    const { scheme, userForwardPayloadLength, withSurb, nrHops } = geometry;
    this.#post({ geometry: { scheme, userForwardPayloadLength, withSurb, nrHops } });
  }

  /** Whether batches can still go to the worker. */
  get usable(): boolean {
    return this.#failure === undefined;
  }

  /** Builds `orders` in the worker, in order; rejects when the worker failed or could not build them. */
  build(orders: readonly PacketOrder[]): Promise<BuiltPacket[]> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#batches.set(id, { resolve, reject });
      this.#post({ id, orders });
    });
  }

  close(): void {
    this.#stop(new Error('the packet worker was closed'));
  }

  #post(request: PacketWorkerRequest): void {
    this.#worker.postMessage(request);
  }

  #onReply(reply: PacketWorkerReply): void {
    const batch = this.#batches.get(reply.id);
    if (batch === undefined) return;
    this.#batches.delete(reply.id);
    if ('error' in reply) {
      batch.reject(new Error(`the packet worker could not build: ${reply.error}`));
      return;
    }
    batch.resolve(
      reply.built.map(({ packet, surbKeys }) =>
        surbKeys === undefined ? { packet } : { packet, surbKeys: new SurbKeys(surbKeys) },
      ),
    );
  }

  #stop(failure: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = failure;
    this.#worker.terminate();
    URL.revokeObjectURL(this.#url);
    for (const batch of this.#batches.values()) batch.reject(failure);
    this.#batches.clear();
  }
}
