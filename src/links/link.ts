/**
 * An outbound link to one peer: a persistent TLS connection (the profile of tls.ts) that carries fixed-size
 * frames, reconnecting with jittered exponential backoff whenever it drops or the peer fails its pin. Frames
 * handed over while the link is down wait in a bounded queue (the oldest are dropped, and reported, past the
 * bound) and leave in one burst when it is back. Delivery is at most once: frames already written to a socket
 * that then dies are lost, which a mixnet tolerates (senders retransmit; a re-sent packet would be dropped
 * as a replay anyway).
 *
 * A link can also carry simulated weather (`delay`): each burst leaves its delay plus or minus a uniform
 * jitter later, never before the burst ahead of it (a TCP connection keeps order), so tests and drills can
 * run a whole network as if its hops crossed slow, uneven links.
 *
 * Its timers (reconnection, simulated delay, the close deadline) and the times it compares are read from an
 * injected `clock` (src/ops/clock.ts), the hop's, so tests can run them in virtual time.
 */
import { connect, type TLSSocket } from 'node:tls';
import { toHex } from '../bytes.ts';
import { randomInt } from '../crypto/random.ts';
import { ArgumentError, MixnetError } from '../errors.ts';
import { type Clock, systemClock } from '../ops/clock.ts';
import type { TlsIdentity } from './identity.ts';
import { clientTlsOptions, fingerprintMatches, LINK_GROUP, negotiatedGroup } from './tls.ts';
import type { LinkObserver } from './types.ts';

export interface PeerEndpoint {
  readonly host: string;
  readonly port: number;
  /** SHA-256 of the peer's certificate, from the network document. */
  readonly fingerprint: Uint8Array;
}

/** Simulated link latency: each burst waits `ms` ± up to `jitterMs` (uniform) before it is sent. */
export interface LinkDelay {
  readonly ms: number;
  readonly jitterMs: number;
}

export interface LinkOptions {
  readonly identity: TlsIdentity;
  readonly peer: PeerEndpoint;
  readonly frameLength: number;
  /** Sent once per connection before the first frame (the geometry hash); the server checks it. */
  readonly preamble: Uint8Array;
  /** Frames kept while disconnected; older ones are dropped beyond it. Default 4096. */
  readonly maxQueuedFrames?: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly observer?: LinkObserver;
  /** Simulated latency (tests and drills); none by default. */
  readonly delay?: LinkDelay;
  /** What its timers and times are read from. Default `systemClock`. */
  readonly clock?: Clock;
}

const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 10_000 };
const DEFAULT_MAX_QUEUED_FRAMES = 4096;
const CLOSE_TIMEOUT_MS = 2_000;
const STABLE_CONNECTION_MS = 5_000;

export class Link {
  readonly peer: PeerEndpoint;
  readonly #options: LinkOptions;
  readonly #peerName: string;
  readonly #maxQueued: number;
  readonly #backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly #clock: Clock;
  #queue: Uint8Array[] = [];
  #socket: TLSSocket | undefined;
  #ready = false;
  #closed = false;
  #attempt = 0;
  #retry: unknown;
  /** Bursts held back by `delay`, in sending order, each with the time it leaves (never before the one ahead). */
  #delayed: { readonly departureMs: number; readonly frames: readonly Uint8Array[] }[] = [];
  #delayTimer: unknown;

  constructor(options: LinkOptions) {
    const maxQueued = options.maxQueuedFrames ?? DEFAULT_MAX_QUEUED_FRAMES;
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 1) {
      throw new ArgumentError('maxQueuedFrames', 'expected a positive integer');
    }
    this.peer = options.peer;
    this.#options = options;
    this.#peerName = toHex(options.peer.fingerprint);
    this.#maxQueued = maxQueued;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#clock = options.clock ?? systemClock;
    const { delay } = options;
    if (delay !== undefined) {
      for (const name of ['ms', 'jitterMs'] as const) {
        if (!Number.isSafeInteger(delay[name]) || delay[name] < 0) {
          throw new ArgumentError(`delay.${name}`, 'expected a non-negative integer');
        }
      }
    }
    this.#connect();
  }

  /** Whether a verified connection is up. */
  get connected(): boolean {
    return this.#ready;
  }

  /** Writes `frames` as one burst, or queues them until the link is up. */
  send(frames: readonly Uint8Array[]): void {
    if (this.#closed) throw new MixnetError('closed', 'the link is closed');
    for (const frame of frames) {
      if (frame.length !== this.#options.frameLength) {
        throw new ArgumentError('frame', `expected ${this.#options.frameLength} bytes`);
      }
    }
    const { delay } = this.#options;
    if (delay === undefined || delay.ms + delay.jitterMs === 0) {
      this.#enqueue(frames);
      return;
    }
    const jitter = delay.jitterMs === 0 ? 0 : randomInt(2 * delay.jitterMs + 1) - delay.jitterMs;
    const ahead = this.#delayed.at(-1)?.departureMs ?? 0;
    const departureMs = Math.max(ahead, this.#clock.now() + Math.max(0, delay.ms + jitter));
    this.#delayed.push({ departureMs, frames: [...frames] });
    if (this.#delayed.length === 1) this.#releaseDelayed();
  }

  /** Sends the held bursts whose time has come, in order, then waits for the next one. */
  #releaseDelayed(): void {
    this.#delayTimer = undefined;
    const now = this.#clock.now();
    let due = 0;
    while (due < this.#delayed.length && (this.#delayed[due]?.departureMs ?? 0) <= now) due++;
    for (const { frames } of this.#delayed.splice(0, due)) this.#enqueue(frames);
    const next = this.#delayed[0];
    if (next !== undefined) {
      this.#delayTimer = this.#clock.setTimeout(() => this.#releaseDelayed(), next.departureMs - now);
    }
  }

  #enqueue(frames: readonly Uint8Array[]): void {
    this.#queue.push(...frames);
    const excess = this.#queue.length - this.#maxQueued;
    if (excess > 0) {
      this.#queue.splice(0, excess);
      this.#options.observer?.({ type: 'dropped', peer: this.#peerName, frames: excess });
    }
    this.#flush();
  }

  /** Stops reconnecting, writes what is queued if the link is up (for at most 2 s), then closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#retry);
    // Bursts still on the simulated wire are lost with the link, as frames in a dying socket are.
    this.#clock.clearTimeout(this.#delayTimer);
    this.#delayed = [];
    const socket = this.#socket;
    if (!socket) return;
    if (!this.#ready) {
      socket.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS);
      socket.once('close', () => {
        this.#clock.clearTimeout(timer);
        resolve();
      });
      // Past backpressure now: the socket buffers the rest and end() sends it before closing.
      for (const frame of this.#queue.splice(0)) socket.write(frame);
      socket.end();
    });
  }

  #flush(): void {
    const socket = this.#socket;
    if (!this.#ready || !socket || this.#queue.length === 0) return;
    // Corked, the burst leaves in as few TLS records and TCP segments as the socket allows.
    socket.cork();
    let written = 0;
    let writable = true;
    while (writable && written < this.#queue.length)
      writable = socket.write(this.#queue[written++] as Uint8Array);
    this.#queue.splice(0, written);
    socket.uncork();
  }

  #connect(): void {
    const { identity, peer, preamble, observer } = this.#options;
    const socket = connect(clientTlsOptions(identity, peer.host, peer.port));
    this.#socket = socket;
    socket.setNoDelay(true);
    let readySince = 0;
    socket.once('secureConnect', () => {
      if (!fingerprintMatches(socket, peer.fingerprint)) {
        observer?.({ type: 'refused', peer: this.#peerName, reason: 'pin_mismatch' });
        socket.destroy();
        return;
      }
      if (negotiatedGroup(socket) !== LINK_GROUP) {
        observer?.({ type: 'refused', peer: this.#peerName, reason: 'wrong_group' });
        socket.destroy();
        return;
      }
      this.#ready = true;
      readySince = this.#clock.monotonic();
      socket.write(preamble);
      observer?.({ type: 'connected', peer: this.#peerName });
      this.#flush();
    });
    socket.on('drain', () => this.#flush());
    // A peer never sends on a link; anything it does send is discarded.
    socket.on('data', () => {});
    socket.on('error', (error) => {
      observer?.({ type: 'error', peer: this.#peerName, message: error.message });
    });
    socket.once('close', () => {
      const wasReady = this.#ready;
      this.#ready = false;
      // Backoff restarts only after a connection that lasted: a peer that accepts the handshake and then
      // refuses us (not an allowed sender) must not be retried at the initial rate forever.
      if (wasReady && this.#clock.monotonic() - readySince >= STABLE_CONNECTION_MS) this.#attempt = 0;
      if (this.#socket === socket) this.#socket = undefined;
      if (wasReady) observer?.({ type: 'disconnected', peer: this.#peerName });
      if (!this.#closed) this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    const { initialMs, maxMs } = this.#backoff;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    // Half the ceiling plus a random half: peers that lost a common neighbour do not all return at once.
    const delay = Math.floor(ceiling / 2) + randomInt(Math.max(1, Math.ceil(ceiling / 2)));
    this.#retry = this.#clock.setTimeout(() => this.#connect(), delay);
  }
}
