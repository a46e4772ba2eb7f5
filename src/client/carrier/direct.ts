/**
 * The direct carrier (design brief §1; docs/delivery.md, "Direct carrier"): delivery-protocol requests over
 * one WebSocket to the delivery service's `/v1/ws`, framed by src/protocol/frames.ts (request id per
 * request, many in flight at once, server pushes in between). The service sees who connects: the SDK shows
 * this carrier as partial privacy. It uses the platform's global `WebSocket`, so it runs unchanged in
 * browsers and in Node ≥ 22.
 *
 * Reachability: `connecting` while a connection is being opened (requests wait for it), `up` once open,
 * `down` after a failed attempt or a lost connection while waiting to retry (requests fail at once with
 * `CarrierError('unreachable')`, so a caller's fail-closed policy acts without delay). Retries back off
 * exponentially with jitter from `minReconnectDelayMs` to `maxReconnectDelayMs` (2 s by default, so a
 * restarted service is reached again within seconds). Requests in flight when a connection drops reject
 * with 'unreachable' (they may have been applied; requests are idempotent). The service's response is the
 * only receipt this link has: a request's `onSent` is called when it arrives.
 */
import { ArgumentError, CarrierError, CodecError } from '../../errors.ts';
import type { Carrier, CarrierRequestOptions, CarrierStatus } from '../../protocol/carrier.ts';
import { decodeFrame, encodeFrame, MAX_REQUEST_ID } from '../../protocol/frames.ts';
import { DEFAULT_MAX_REQUEST_BYTES } from '../../protocol/messages.ts';
import { notify } from './notify.ts';

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_MIN_RECONNECT_DELAY_MS = 250;
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 2_000;

const CLOSE_NORMAL = 1000;
/** How long close() waits for the closing handshake. */
const CLOSE_WAIT_MS = 1_000;
/** Browsers let a page close with 1000 or 3000–4999 only: 4002 mirrors 1002 (protocol error). */
const CLOSE_PROTOCOL_ERROR = 4002;

export interface DirectCarrierOptions {
  /** The delivery service's WebSocket endpoint, ws:// or wss://…/v1/ws. */
  readonly url: string | URL;
  /** Default timeout of a request, from the call (waiting for a connection included). Default 30 s. */
  readonly timeoutMs?: number;
  /** How long one connection attempt may take. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** First retry delay after a failure; doubles per failure up to `maxReconnectDelayMs`. Default 250 ms. */
  readonly minReconnectDelayMs?: number;
  /** Default 2 s. */
  readonly maxReconnectDelayMs?: number;
  /** Larger requests reject with 'too_large' before sending. Default the service's default limit. */
  readonly maxRequestBytes?: number;
}

interface Pending {
  readonly payload: Uint8Array;
  /** The response arrived: resolves the request, after the caller's `onSent`. */
  readonly resolve: (response: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
  /** Set once the frame is on a socket. */
  id: number | undefined;
  readonly cleanup: () => void;
}

function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isFinite(chosen) || chosen <= 0) throw new ArgumentError(name, 'expected a positive number');
  return chosen;
}

export class DirectCarrier implements Carrier {
  readonly kind = 'direct' as const;
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRequestBytes: number;
  readonly #statusListeners = new Set<(status: CarrierStatus) => void>();
  readonly #pushListeners = new Set<(push: Uint8Array) => void>();
  /** Requests waiting for a connection. */
  readonly #queued = new Set<Pending>();
  /** Requests on the current socket, by id. */
  readonly #inFlight = new Map<number, Pending>();
  #status: CarrierStatus = { state: 'connecting', reason: 'connecting to the delivery service' };
  #socket: WebSocket | undefined;
  #nextId = 0;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #socketClosed: Promise<void> = Promise.resolve();

  constructor(options: DirectCarrierOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new ArgumentError('url', 'expected a ws:// or wss:// URL');
    }
    this.#url = url.href;
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
    this.#connectTimeoutMs = positive(
      'connectTimeoutMs',
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
    );
    this.#minDelayMs = positive(
      'minReconnectDelayMs',
      options.minReconnectDelayMs,
      DEFAULT_MIN_RECONNECT_DELAY_MS,
    );
    this.#maxDelayMs = positive(
      'maxReconnectDelayMs',
      options.maxReconnectDelayMs,
      DEFAULT_MAX_RECONNECT_DELAY_MS,
    );
    this.#maxRequestBytes = positive('maxRequestBytes', options.maxRequestBytes, DEFAULT_MAX_REQUEST_BYTES);
    this.#connect();
  }

  status(): CarrierStatus {
    return this.#status;
  }

  onStatus(listener: (status: CarrierStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  onPush(listener: (push: Uint8Array) => void): () => void {
    this.#pushListeners.add(listener);
    return () => this.#pushListeners.delete(listener);
  }

  request(request: Uint8Array, options: CarrierRequestOptions = {}): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new CarrierError('closed', 'the direct carrier is closed'));
    if (!(request instanceof Uint8Array)) throw new ArgumentError('request', 'expected bytes');
    if (request.length > this.#maxRequestBytes) {
      return Promise.reject(
        new CarrierError(
          'too_large',
          `a request is at most ${this.#maxRequestBytes} bytes, got ${request.length}`,
        ),
      );
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#status.state === 'down') {
      return Promise.reject(new CarrierError('unreachable', this.#status.reason));
    }
    const timeoutMs = positive('timeoutMs', options.timeoutMs, this.#timeoutMs);
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => settle(() => reject(signal?.reason));
      const timer = setTimeout(
        () => settle(() => reject(new CarrierError('timeout', `no response within ${timeoutMs} ms`))),
        timeoutMs,
      );
      const pending: Pending = {
        payload: Uint8Array.from(request),
        resolve: (response) =>
          settle(() => {
            if (options.onSent) notify(options.onSent, undefined);
            resolve(response);
          }),
        reject: (error) => settle(() => reject(error)),
        id: undefined,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      const settle = (finish: () => void) => {
        if (!this.#forget(pending)) return;
        pending.cleanup();
        finish();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.#status.state === 'up') this.#send(pending);
      else this.#queued.add(pending);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#rejectAll(new CarrierError('closed', 'the direct carrier was closed'));
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined && socket.readyState !== WebSocket.CLOSED) {
      socket.close(CLOSE_NORMAL);
      // A peer that never completes the closing handshake must not keep close() waiting.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#socketClosed,
        new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    this.#setStatus({ state: 'down', reason: 'closed' });
    this.#statusListeners.clear();
    this.#pushListeners.clear();
  }

  /** Removes `pending` from wherever it waits; false when it was already settled. */
  #forget(pending: Pending): boolean {
    if (this.#queued.delete(pending)) return true;
    if (pending.id !== undefined && this.#inFlight.get(pending.id) === pending) {
      this.#inFlight.delete(pending.id);
      return true;
    }
    return false;
  }

  #send(pending: Pending): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const id = this.#nextId;
    this.#nextId = id === MAX_REQUEST_ID ? 0 : id + 1;
    pending.id = id;
    this.#inFlight.set(id, pending);
    socket.send(encodeFrame({ type: 'request', id, payload: pending.payload }) as Uint8Array<ArrayBuffer>);
  }

  #rejectAll(error: CarrierError): void {
    const all = [...this.#queued, ...this.#inFlight.values()];
    for (const pending of all) pending.reject(error);
  }

  #setStatus(status: CarrierStatus): void {
    const previous = this.#status;
    if (
      previous.state === status.state &&
      ('reason' in previous ? previous.reason : '') === ('reason' in status ? status.reason : '')
    ) {
      return;
    }
    this.#status = status;
    for (const listener of [...this.#statusListeners]) listener(status);
  }

  #connect(): void {
    if (this.#closed) return;
    this.#setStatus({ state: 'connecting', reason: 'connecting to the delivery service' });
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.#url);
    } catch {
      this.#failed('the delivery service URL was refused');
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.#socket = socket;
    let opened = false;
    let resolveClosed: () => void = () => undefined;
    this.#socketClosed = new Promise((resolve) => {
      resolveClosed = resolve;
    });
    const connectTimer = setTimeout(() => socket.close(), this.#connectTimeoutMs);
    socket.addEventListener('open', () => {
      clearTimeout(connectTimer);
      if (this.#socket !== socket) return;
      opened = true;
      this.#failures = 0;
      this.#setStatus({ state: 'up' });
      for (const pending of [...this.#queued]) {
        this.#queued.delete(pending);
        this.#send(pending);
      }
    });
    socket.addEventListener('message', (event) => {
      if (this.#socket === socket) this.#receive(socket, event.data);
    });
    socket.addEventListener('close', () => {
      clearTimeout(connectTimer);
      resolveClosed();
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.#failed(
        opened ? 'the connection to the delivery service was lost' : 'the delivery service is unreachable',
      );
    });
  }

  #receive(socket: WebSocket, data: unknown): void {
    const bytes = bytesOf(data);
    let frame: ReturnType<typeof decodeFrame> | undefined;
    try {
      frame = bytes === undefined ? undefined : decodeFrame(bytes);
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
    }
    if (frame === undefined || frame.type === 'request') {
      socket.close(CLOSE_PROTOCOL_ERROR);
      return;
    }
    if (frame.type === 'push') {
      for (const listener of [...this.#pushListeners]) listener(frame.payload);
      return;
    }
    // A response to a request that timed out or was abandoned finds nobody: that is expected.
    this.#inFlight.get(frame.id)?.resolve(frame.payload);
  }

  #failed(reason: string): void {
    if (this.#closed) return;
    this.#rejectAll(new CarrierError('unreachable', reason));
    this.#setStatus({ state: 'down', reason });
    const delay = Math.min(this.#maxDelayMs, this.#minDelayMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    // Jitter (50–100 % of the delay) keeps clients of a restarted service from reconnecting in step.
    this.#retryTimer = setTimeout(() => this.#connect(), delay * (0.5 + Math.random() / 2));
  }
}
