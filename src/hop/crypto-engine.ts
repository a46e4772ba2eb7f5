/**
 * Where a hop's crypto runs (a mix node's or a gateway's): inline on the main thread, or in a pool of worker
 * threads (one per core by default) so that unwrapping uses every core while the main thread keeps reading
 * sockets, running rounds and serving clients. Both implement one interface, so the hops and their tests do
 * not care which; bench/mixnode.ts
 * measures the difference. Batches are split across workers by their pending load; packets cross threads
 * by transfer, not copy.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { nodeBackend } from '../crypto/backends/node.ts';
import { ArgumentError, MixnetError, SphinxError, type SphinxErrorReason } from '../errors.ts';
import { type Geometry, type PathHop, Sphinx } from '../sphinx/index.ts';
import type { EpochKey } from './epoch-keys.ts';
import { buildDummy, type UnwrapOutcome, unwrapWithKeys } from './unwrap.ts';

export interface CryptoEngine {
  /** Worker threads it runs on; 0 when it runs on the main thread. */
  readonly threads: number;
  /** The keys to try, newest epoch first. Applies to every batch submitted after this call. */
  setKeys(keys: readonly EpochKey[]): void;
  /** Unwraps `packets` (taking ownership of their buffers); outcomes are in the same order. */
  unwrap(packets: readonly Uint8Array[]): Promise<UnwrapOutcome[]>;
  buildDummies(routes: readonly (readonly PathHop[])[]): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

export type WorkerRequest =
  | { readonly type: 'keys'; readonly keys: readonly EpochKey[] }
  | { readonly type: 'unwrap'; readonly id: number; readonly packets: readonly Uint8Array[] }
  | { readonly type: 'dummies'; readonly id: number; readonly routes: readonly (readonly PathHop[])[] };

export type WorkerReply =
  | { readonly type: 'unwrapped'; readonly id: number; readonly outcomes: UnwrapOutcome[] }
  | { readonly type: 'dummies'; readonly id: number; readonly packets: Uint8Array[] }
  | {
      readonly type: 'failed';
      readonly id: number;
      /** Set when the request failed on its inputs (a malformed key in a route), not in the worker. */
      readonly sphinxReason: SphinxErrorReason | undefined;
      readonly message: string;
    };

/** The buffers of `arrays` that can move to another thread: those each array spans entirely. */
export function transferable(arrays: readonly Uint8Array[]): ArrayBuffer[] {
  return arrays.flatMap((array) =>
    array.byteOffset === 0 &&
    array.byteLength === array.buffer.byteLength &&
    array.buffer instanceof ArrayBuffer
      ? [array.buffer]
      : [],
  );
}

/**
 * The engine a hop unwraps with: a pool of `workers` threads (default one per core), or the main thread when
 * `workers` is 0 (small deployments, tests, and hosts where a thread costs more than it gains).
 */
export function cryptoEngine(geometry: Geometry, workers = availableParallelism()): CryptoEngine {
  return workers === 0 ? new InlineEngine(geometry) : new WorkerPool(geometry, workers);
}

export class InlineEngine implements CryptoEngine {
  readonly threads = 0;
  readonly #sphinx: Sphinx;
  #keys: readonly EpochKey[] = [];

  constructor(geometry: Geometry) {
    this.#sphinx = new Sphinx(geometry, nodeBackend);
  }

  setKeys(keys: readonly EpochKey[]): void {
    this.#keys = keys;
  }

  async unwrap(packets: readonly Uint8Array[]): Promise<UnwrapOutcome[]> {
    return packets.map((packet) => unwrapWithKeys(this.#sphinx, this.#keys, packet));
  }

  async buildDummies(routes: readonly (readonly PathHop[])[]): Promise<Uint8Array[]> {
    return routes.map((route) => buildDummy(this.#sphinx, route));
  }

  async close(): Promise<void> {}
}

interface Pending {
  readonly size: number;
  readonly resolve: (reply: WorkerReply) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  load: number;
  readonly pending: Map<number, Pending>;
}

const WORKER_URL = new URL('./crypto-worker.ts', import.meta.url);
/** Below this many packets per worker, splitting a batch costs more in messages than it gains. */
const MIN_CHUNK = 8;

export class WorkerPool implements CryptoEngine {
  readonly #geometry: Geometry;
  readonly #slots: Slot[] = [];
  #keys: readonly EpochKey[] = [];
  #nextId = 0;
  #closed = false;

  constructor(geometry: Geometry, size = availableParallelism()) {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new ArgumentError('size', 'expected a positive integer');
    this.#geometry = geometry;
    for (let i = 0; i < size; i++) {
      const slot: Slot = { worker: this.#spawn(() => slot), load: 0, pending: new Map() };
      this.#slots.push(slot);
    }
  }

  get threads(): number {
    return this.#slots.length;
  }

  setKeys(keys: readonly EpochKey[]): void {
    this.#keys = keys;
    for (const slot of this.#slots) slot.worker.postMessage({ type: 'keys', keys } satisfies WorkerRequest);
  }

  async unwrap(packets: readonly Uint8Array[]): Promise<UnwrapOutcome[]> {
    const parts = await Promise.all(
      this.#chunks(packets).map((chunk) =>
        this.#request(chunk.length, (id) => ({ type: 'unwrap', id, packets: chunk }), transferable(chunk)),
      ),
    );
    return parts.flatMap((reply) => (reply.type === 'unwrapped' ? reply.outcomes : []));
  }

  async buildDummies(routes: readonly (readonly PathHop[])[]): Promise<Uint8Array[]> {
    const parts = await Promise.all(
      this.#chunks(routes).map((chunk) =>
        this.#request(chunk.length, (id) => ({ type: 'dummies', id, routes: chunk }), []),
      ),
    );
    return parts.flatMap((reply) => (reply.type === 'dummies' ? reply.packets : []));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }

  /** `items` in at most one chunk per worker, none smaller than MIN_CHUNK unless there are fewer items. */
  #chunks<T>(items: readonly T[]): (readonly T[])[] {
    const count = Math.max(1, Math.min(this.#slots.length, Math.floor(items.length / MIN_CHUNK)));
    const size = Math.ceil(items.length / count);
    const chunks: (readonly T[])[] = [];
    for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
    return chunks;
  }

  #request(
    size: number,
    message: (id: number) => WorkerRequest,
    transfer: readonly ArrayBuffer[],
  ): Promise<WorkerReply> {
    if (this.#closed) return Promise.reject(new MixnetError('closed', 'the crypto worker pool is closed'));
    const slot = this.#slots.reduce((least, candidate) => (candidate.load < least.load ? candidate : least));
    const id = this.#nextId++;
    return new Promise<WorkerReply>((resolve, reject) => {
      slot.pending.set(id, { size, resolve, reject });
      slot.load += size;
      slot.worker.postMessage(message(id), [...transfer]);
    });
  }

  /** A worker for `slot`; if it dies, its pending requests fail and a fresh worker with the same keys replaces it. */
  #spawn(slotOf: () => Slot): Worker {
    const worker = new Worker(WORKER_URL, { workerData: { geometry: this.#geometry.toJSON() } });
    if (this.#keys.length > 0) worker.postMessage({ type: 'keys', keys: this.#keys } satisfies WorkerRequest);
    worker.on('message', (reply: WorkerReply) => {
      const slot = slotOf();
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      slot.load -= pending.size;
      if (reply.type !== 'failed') pending.resolve(reply);
      else if (reply.sphinxReason) pending.reject(new SphinxError(reply.sphinxReason, reply.message));
      else pending.reject(new MixnetError('worker_failed', reply.message));
    });
    const replace = (reason: string) => {
      const slot = slotOf();
      if (slot.worker !== worker) return;
      for (const pending of slot.pending.values()) {
        pending.reject(new MixnetError('worker_failed', `crypto worker ${reason}`));
      }
      slot.pending.clear();
      slot.load = 0;
      if (!this.#closed) slot.worker = this.#spawn(slotOf);
    };
    worker.on('error', (error) => replace(`failed: ${error.message}`));
    worker.on('exit', (code) => replace(`exited with code ${code}`));
    return worker;
  }
}
