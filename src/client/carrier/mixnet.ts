/**
 * The mixnet carrier (design brief §1, §5; docs/mixnet-carrier.md): delivery-protocol requests travel as
 * Sphinx packets from the client's gateway through one mix node of each layer to the exit gateway that
 * hosts the service, and the response comes back in single-use reply blocks (SURBs) to the client's inbox
 * at its gateway, so the service never learns who asked. It implements `Carrier` (src/protocol/carrier.ts)
 * over the gateway's client protocol and service framing (src/protocol/gateway-protocol.ts,
 * service-framing.ts), with the Loopix sending discipline (Piotrowska et al., 2017, §4):
 *
 * - one packet per tick of a Poisson process of rate λ = the document's `clientSendRate`: the next queued
 *   real packet, else a loop packet (to the client's own inbox; its return measures loss) with probability
 *   `loopCoverShare`, else a drop packet (which its exit discards) — the same rate whatever the user does;
 * - a request is cut into fragments, each carrying a SURB for the reply; any reply fragment acknowledges
 *   the whole request (the exit answers only once every fragment arrived); an attempt answered by nothing
 *   within its timeout is sent again whole, over fresh paths, with fresh SURBs and a fresh request id
 *   (and at once after a reconnection); the first complete response settles the request, later ones are
 *   discarded, so the caller sees each response exactly once;
 * - downstream, the gateway sends one frame of one size per tick of its own clock (an inbox item or padding,
 *   docs/gateway.md); padding is discarded. Acks ride the upstream ticks, always `ACK_SLOTS` sequence
 *   numbers long, so neither their timing nor their size shows how many items came;
 * - liveness from what the client sees itself: every frame counts the packets the gateway has read (a
 *   request is "sent" once its packets are counted); no frame for `silenceMs` means the gateway is hung
 *   (mixnet-gateway.ts); loops that stop coming back through every node of a layer mean the mix layers
 *   are (mixnet-path.ts). Either takes the status out of `up` within seconds, with the reason (requests
 *   wait, and go again at once when it is back);
 * - no fallback: while the gateway, a valid network document or a path is missing, status says why and
 *   requests wait (connecting) or fail with `CarrierError('unreachable')` (down).
 *
 * Browser and Node alike: the global `WebSocket`, `fetch` for the directory, and `#default-backend` (the
 * portable backend in browsers) for packet creation.
 */
import { backend as platformBackend } from '#default-backend';
import { toHex } from '../../bytes.ts';
import type { CryptoBackend } from '../../crypto/backend.ts';
import { randomBytes } from '../../crypto/random.ts';
import type { AuthorityPublicKeys } from '../../directory/authority-keys.ts';
import { fetchNetworkDocument } from '../../directory/client.ts';
import type { DocumentNode, NetworkDocument } from '../../directory/document.ts';
import { ArgumentError, CarrierError, CodecError, SphinxError, UmbraError } from '../../errors.ts';
import { type Clock, systemClock } from '../../ops/clock.ts';
import type { Carrier, CarrierRequestOptions, CarrierStatus } from '../../protocol/carrier.ts';
import {
  ClientProtocol,
  INBOX_SECRET_LENGTH,
  type InboxItem,
  inboxId,
  NO_SEQUENCE,
  type ProtocolErrorMessage,
} from '../../protocol/gateway-protocol.ts';
import {
  DELIVERY_SERVICE,
  decodeReplyFragment,
  MAX_FRAGMENTS,
  newRequestId,
  Reassembler,
  type ReplyFragment,
  replyFragmentsNeeded,
  requestCapacity,
  serviceId,
  splitRequest,
} from '../../protocol/service-framing.ts';
import {
  decodeForwardPayload,
  type Geometry,
  Sphinx,
  SURB_ID_LENGTH,
  type SurbKeys,
} from '../../sphinx/index.ts';
import { GapHistory, GatewayConnection } from './mixnet-gateway.ts';
import { NodeHealth, type PathCandidates, pathCandidates, selectPath } from './mixnet-path.ts';
import { notify } from './notify.ts';
import { PacketThread } from './packet-thread.ts';
import { type BuiltPacket, buildPackets, type PacketOrder } from './packets.ts';
import { PoissonScheduler, secureRandom } from './poisson.ts';

export const DEFAULT_MIXNET_TIMEOUT_MS = 60_000;
export const DEFAULT_DOCUMENT_REFRESH_MS = 60_000;
/** How long the gateway may send no downstream frame before the connection counts as hung. */
export const DEFAULT_SILENCE_MS = 2_000;
/** SURBs a request carries at least, so that a response up to this many reply fragments comes back at once. */
export const DEFAULT_MIN_REPLY_SURBS = 2;
const GATEWAY_OPEN_TIMEOUT_MS = 10_000;
/**
 * Reconnection delays (×[0.5, 1) jitter): short, so that a client is back within half a second (plus the
 * handshake) of its gateway's return. A refused connection costs the gateway's host a reset, a dead
 * address a SYN; an attempt at a hung one waits for its welcome, one at a time.
 */
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 500;
const MAX_RETRANSMIT_TIMEOUT_MS = 60_000;
/** Each retransmission of a request waits this many times longer than the one before (at most two bases). */
const RETRANSMIT_BACKOFF = 1.5;
/** The loops' timeout until one has come back and measured the round trip (RFC 6298 §2.1 uses 1 s). */
const INITIAL_LOOP_RTO_MS = 3_000;
const LOOP_ID_LENGTH = 16;
/**
 * Cover packets of each kind built ahead of the ticks that send them: one when they are built on this thread
 * (between ticks), three in the packet worker, whose batches come back a few milliseconds later.
 */
const COVER_AHEAD_HERE = 1;
const COVER_AHEAD_IN_WORKER = 3;
/**
 * Loops counted lost are remembered this long (and at most `MAX_LATE_LOOPS` of them, two minutes' worth at
 * 30 loops per second): one that still comes back was late, not lost, and its round trip teaches the
 * timeout how slow the network has become.
 */
const LATE_LOOP_MEMORY_MS = 120_000;
const MAX_LATE_LOOPS = 4_096;
/** Outages remembered for discounting the round trips of loops that were out across them. */
const MAX_OUTAGES = 8;
/** Reply reassembly bounds: partial responses held and their bytes. */
const MAX_PENDING_REPLIES = 64;
const MAX_PENDING_REPLY_BYTES = 8 * 1024 * 1024;
/**
 * Most SURBs a request carries because its caller expects a large response (`expectedResponseBytes`): a
 * response larger still pays one `too_large` round trip, and a wrong hint costs at most this many packets.
 */
export const MAX_SURB_HINT = 8;
/**
 * Sequence numbers in every ack, padded with `NO_SEQUENCE`; more wait for the next tick. The gateway's
 * downstream rate is twice λ by default, so a tick has two items to acknowledge on average.
 */
export const ACK_SLOTS = 8;

export type PacketKind = 'real' | 'loop' | 'drop';

/** One packet handed to the gateway: what an observer of the client's link sees, minus the kind. */
export interface PacketEvent {
  readonly kind: PacketKind;
  /** The carrier clock's time (Unix milliseconds in production). */
  readonly at: number;
}

/** Packets sent in one whole second, by kind: an observer of the link sees only their sum. */
export interface TrafficSecond {
  /** Start of the second, carrier-clock milliseconds. */
  readonly time: number;
  readonly real: number;
  readonly loop: number;
  readonly drop: number;
}

/** Seconds of per-second traffic kept for `traffic()`. */
export const TRAFFIC_WINDOW_SECONDS = 60;

export interface LoopStats {
  readonly sent: number;
  readonly returned: number;
  /** Loops not back within the loop timeout. */
  readonly lost: number;
  /** Sent, neither returned nor yet counted lost. */
  readonly pending: number;
  /** lost / (returned + lost); undefined before any loop settled. */
  readonly lossRate: number | undefined;
  /** Round-trip time of the last loop that came back, in milliseconds. */
  readonly lastRoundTripMs: number | undefined;
}

export interface MixnetCarrierStats {
  /** Packets sent since the carrier started, by kind. */
  readonly sent: Readonly<Record<PacketKind, number>>;
  /** Request attempts beyond each request's first. */
  readonly retransmissions: number;
  /** Of those, the attempts made because a response needed more SURBs than the request carried. */
  readonly tooLargeRetries: number;
  /** Real packets built and waiting for a tick. */
  readonly queued: number;
  readonly loops: LoopStats;
  /** Packets the gateway reported dropping over its rate limit. */
  readonly rateLimited: number;
  /** Downstream frames received from the gateway: inbox items, and padding (discarded). */
  readonly received: { readonly items: number; readonly padding: number };
  /** λ in packets per second, from the network document; undefined until one is held. */
  readonly ratePerSecond: number | undefined;
  /** The epoch of the network document held. */
  readonly epoch: number | undefined;
  /** A request attempt's first retransmission timeout now (from the document and the loops' round trips). */
  readonly retransmitTimeoutMs: number;
  /** The deadline a request gets now when none is given: at least `DEFAULT_MIXNET_TIMEOUT_MS`. */
  readonly requestTimeoutMs: number;
  /** Whether packets are built in the packet worker (browser pages) rather than on the carrier's thread. */
  readonly packetWorker: boolean;
}

export interface MixnetCarrierOptions {
  /** The gateway's client endpoint, `wss://host:port/v1/client` (`ws://` only on loopback). */
  readonly gatewayUrl: string | URL;
  /** The network's Sphinx geometry; documents for another geometry are refused. */
  readonly geometry: Geometry;
  /** Where to fetch the network document, verified under `authorityPublicKeys`. */
  readonly directoryUrl?: string | URL;
  readonly authorityPublicKeys?: AuthorityPublicKeys;
  /** Instead of `directoryUrl`: a source of already verified documents (for the geometry above). */
  readonly fetchDocument?: () => Promise<NetworkDocument>;
  /** The service requests go to, at the exit gateway; default 'delivery'. */
  readonly service?: string;
  /** Node id of the exit gateway hosting the service; default the gateway the client connects to. */
  readonly exitGatewayId?: Uint8Array;
  /** 32 bytes owning the client's inbox at its gateway; default random (a fresh inbox per carrier). */
  readonly inboxSecret?: Uint8Array;
  /** Default for `request`'s `timeoutMs`; without it, `stats().requestTimeoutMs` at the time of the call. */
  readonly timeoutMs?: number;
  /** SURBs each request carries at least; default `DEFAULT_MIN_REPLY_SURBS`. */
  readonly minReplySurbs?: number;
  /** How often the network document is fetched again; default `DEFAULT_DOCUMENT_REFRESH_MS`. */
  readonly documentRefreshMs?: number;
  /**
   * How long the gateway may send no downstream frame before the connection counts as hung (status
   * connecting, reconnecting); default `DEFAULT_SILENCE_MS`, and never under four periods of its downstream
   * rate (longer after recent pauses: `GapHistory`).
   */
  readonly silenceMs?: number;
  /** Crypto for packet creation; default the platform's (`#default-backend`). */
  readonly backend?: CryptoBackend;
  /** Timers; default the system's. Tests inject virtual time. */
  readonly clock?: Clock;
  /** Uniform in [0, 1) for the Poisson gaps and cover choices; default the CSPRNG. */
  readonly random?: () => number;
}

interface Attempt {
  readonly requestId: Uint8Array;
  readonly key: string;
  unsent: number;
  timer: unknown;
}

interface PendingRequest {
  readonly bytes: Uint8Array;
  readonly resolve: (response: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
  /** The caller's `onSent`, until it has been called. */
  onSent: (() => void) | undefined;
  readonly attempts: Attempt[];
  readonly cleanup: (() => void)[];
  surbCount: number;
  settled: boolean;
}

/** An attempt whose packets are all on the current connection: taken once a frame counts `packets`. */
interface Receipt {
  readonly request: PendingRequest;
  readonly packets: number;
}

interface QueuedPacket {
  readonly packet: Uint8Array;
  readonly request: PendingRequest;
  readonly attempt: Attempt;
}

interface SurbEntry {
  readonly keys: SurbKeys;
  readonly request: PendingRequest;
  readonly attempt: Attempt;
}

interface Route {
  readonly candidates: PathCandidates;
  readonly entry: DocumentNode;
  readonly exit: DocumentNode;
}

interface LoopOrder {
  readonly order: PacketOrder;
  readonly id: string;
  /** The mix nodes it crosses, for `NodeHealth`. */
  readonly mixes: readonly Uint8Array[];
}

interface PreparedLoop {
  readonly packet: Uint8Array;
  readonly id: string;
  readonly mixes: readonly Uint8Array[];
}

interface SentLoop {
  readonly sentAt: number;
  readonly mixes: readonly Uint8Array[];
}

function sameStatus(a: CarrierStatus, b: CarrierStatus): boolean {
  return a.state === b.state && (a.state === 'up' || (b.state !== 'up' && a.reason === b.reason));
}

export class MixnetCarrier implements Carrier {
  readonly kind = 'mixnet' as const;
  readonly #options: MixnetCarrierOptions;
  readonly #geometry: Geometry;
  readonly #sphinx: Sphinx;
  readonly #protocol: ClientProtocol;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #inboxSecret: Uint8Array;
  readonly #inboxId: Uint8Array;
  readonly #serviceId: Uint8Array;
  readonly #fetchDocument: () => Promise<NetworkDocument>;
  readonly #statusListeners = new Set<(status: CarrierStatus) => void>();
  readonly #packetListeners = new Set<(event: PacketEvent) => void>();
  readonly #attempts = new Map<string, PendingRequest>();
  readonly #surbs = new Map<string, SurbEntry>();
  readonly #waiting = new Set<PendingRequest>();
  readonly #replies: Reassembler<undefined>;
  readonly #loops = new Map<string, SentLoop>();
  /** The gaps between the gateway's frames, across connections: how long a silence must be to be a hang. */
  readonly #gaps = new GapHistory();
  /** Loops counted lost, oldest first, in case they come back late. */
  readonly #lateLoops = new Map<string, SentLoop>();
  readonly #health = new NodeHealth();
  #queue: QueuedPacket[] = [];
  #acks: bigint[] = [];
  /** Packets sent on the current connection, and the attempts waiting for the gateway to count theirs. */
  #packetsSent = 0;
  #receipts: Receipt[] = [];
  #status: CarrierStatus = { state: 'connecting', reason: 'fetching the network document' };
  #document: NetworkDocument | undefined;
  #candidates: PathCandidates | undefined;
  #documentProblem: string | undefined;
  #connection: GatewayConnection | undefined;
  #gatewayId: Uint8Array | undefined;
  /** Why the last attempt to connect failed (down), and why the last connection ended (reconnecting). */
  #gatewayProblem: string | undefined;
  #lastClose: string | undefined;
  #reconnectDelay = RECONNECT_MIN_MS;
  #reconnectTimer: unknown;
  #refreshTimer: unknown;
  #connecting: Promise<void> | undefined;
  #scheduler: PoissonScheduler | undefined;
  /** On browser pages, where packets are built; undefined: on this thread. */
  #thread: PacketThread | undefined;
  #preparedLoops: PreparedLoop[] = [];
  #preparedDrops: Uint8Array[] = [];
  #prepareTimer: unknown;
  /** Whether a batch of cover is being built in the worker. */
  #coverBuilding = false;
  /** Counts network documents: cover built for an earlier one is not sent. */
  #coverGeneration = 0;
  #closed = false;
  readonly #sent: Record<PacketKind, number> = { real: 0, loop: 0, drop: 0 };
  readonly #perSecond = new Map<number, Record<PacketKind, number>>();
  #retransmissions = 0;
  #tooLargeRetries = 0;
  #rateLimited = 0;
  readonly #received = { items: 0, padding: 0 };
  #loopsSent = 0;
  #loopsReturned = 0;
  #loopsLost = 0;
  #lastLoopRoundTrip: number | undefined;
  #loopRtt: { smoothed: number; variation: number } | undefined;
  /**
   * When a loop last came back, and the recent spells longer than a loop timeout in which none did (an
   * outage: a node hung or down), oldest first, at most `MAX_OUTAGES` and none older than the late-loop
   * memory.
   */
  #lastLoopBack: number | undefined;
  #outages: { readonly from: number; readonly to: number }[] = [];
  private constructor(options: MixnetCarrierOptions) {
    const { geometry } = options;
    if (!geometry.withSurb) {
      throw new ArgumentError('geometry', 'the mixnet carrier needs a geometry built withSurb');
    }
    const inboxSecret = options.inboxSecret ?? randomBytes(INBOX_SECRET_LENGTH);
    if (!(inboxSecret instanceof Uint8Array) || inboxSecret.length !== INBOX_SECRET_LENGTH) {
      throw new ArgumentError('inboxSecret', `expected ${INBOX_SECRET_LENGTH} bytes`);
    }
    if (options.fetchDocument === undefined) {
      if (options.directoryUrl === undefined || options.authorityPublicKeys === undefined) {
        throw new ArgumentError(
          'directoryUrl',
          'give directoryUrl and authorityPublicKeys, or fetchDocument',
        );
      }
    }
    for (const name of ['timeoutMs', 'minReplySurbs', 'documentRefreshMs', 'silenceMs'] as const) {
      const value = options[name];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
        throw new ArgumentError(name, 'expected a positive integer');
      }
    }
    if ((options.minReplySurbs ?? 1) > MAX_FRAGMENTS) {
      throw new ArgumentError('minReplySurbs', `at most ${MAX_FRAGMENTS}`);
    }
    this.#options = options;
    this.#geometry = geometry;
    const backend = options.backend ?? platformBackend;
    this.#sphinx = new Sphinx(geometry, backend);
    this.#thread = PacketThread.start(geometry);
    this.#protocol = new ClientProtocol(geometry);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? secureRandom;
    this.#inboxSecret = Uint8Array.from(inboxSecret);
    this.#inboxId = inboxId(this.#inboxSecret);
    this.#serviceId = serviceId(options.service ?? DELIVERY_SERVICE);
    const { directoryUrl, authorityPublicKeys } = options;
    this.#fetchDocument =
      options.fetchDocument ??
      (async () => {
        const { document } = await fetchNetworkDocument(directoryUrl as string | URL, {
          authorityKeys: authorityPublicKeys as AuthorityPublicKeys,
          expectedGeometryHash: geometry.hash(),
          now: this.#clock.now(),
          backend,
        });
        return document;
      });
    this.#replies = new Reassembler({
      maxPending: MAX_PENDING_REPLIES,
      maxPendingBytes: MAX_PENDING_REPLY_BYTES,
      maxAgeMs: options.timeoutMs ?? DEFAULT_MIXNET_TIMEOUT_MS,
      now: () => this.#clock.now(),
    });
  }

  /**
   * Starts a carrier: fetches the network document, connects to the gateway, starts sending cover at the
   * document's rate. Resolves once the first attempt at both has finished, whether the carrier is then
   * 'up' or 'down' (see `status()`; it keeps retrying). Throws only `ArgumentError` for bad options.
   */
  static async connect(options: MixnetCarrierOptions): Promise<MixnetCarrier> {
    const carrier = new MixnetCarrier(options);
    await carrier.#refreshDocument();
    await carrier.#connect();
    return carrier;
  }

  status(): CarrierStatus {
    return this.#status;
  }

  onStatus(listener: (status: CarrierStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Calls `listener` for every packet sent (real, loop or drop); returns the unsubscribe function. */
  onPacket(listener: (event: PacketEvent) => void): () => void {
    this.#packetListeners.add(listener);
    return () => this.#packetListeners.delete(listener);
  }

  /** The Sphinx recipient id of this client's inbox (what its gateway stores replies and loops under). */
  get inboxId(): Uint8Array {
    return Uint8Array.from(this.#inboxId);
  }

  /**
   * Packets sent in each of the last `TRAFFIC_WINDOW_SECONDS` whole seconds, oldest first, idle seconds
   * included: what the web app charts as "what an observer sees" (the sum stays level; the split is private).
   */
  traffic(): TrafficSecond[] {
    const current = Math.floor(this.#clock.now() / 1000);
    const seconds: TrafficSecond[] = [];
    for (let second = current - TRAFFIC_WINDOW_SECONDS; second < current; second++) {
      const counts = this.#perSecond.get(second) ?? { real: 0, loop: 0, drop: 0 };
      seconds.push({ time: second * 1000, ...counts });
    }
    return seconds;
  }

  stats(): MixnetCarrierStats {
    const settled = this.#loopsReturned + this.#loopsLost;
    return {
      sent: { ...this.#sent },
      retransmissions: this.#retransmissions,
      tooLargeRetries: this.#tooLargeRetries,
      queued: this.#queue.length,
      loops: {
        sent: this.#loopsSent,
        returned: this.#loopsReturned,
        lost: this.#loopsLost,
        pending: this.#loops.size,
        lossRate: settled === 0 ? undefined : this.#loopsLost / settled,
        lastRoundTripMs: this.#lastLoopRoundTrip,
      },
      rateLimited: this.#rateLimited,
      received: { ...this.#received },
      ratePerSecond: this.#scheduler?.ratePerSecond,
      epoch: this.#document?.epoch,
      retransmitTimeoutMs: Math.round(this.#baseRetransmitMs()),
      requestTimeoutMs: Math.round(this.#defaultTimeoutMs()),
      packetWorker: this.#thread?.usable ?? false,
    };
  }

  /**
   * Sends `request` to the service and resolves with its response. Rejects with `CarrierError`: 'closed',
   * 'unreachable' (the carrier is down, or went down before the response came), 'timeout' (by default
   * `stats().requestTimeoutMs`: `DEFAULT_MIXNET_TIMEOUT_MS`, longer on a slow network), 'too_large' (more than `MAX_FRAGMENTS` fragments either way); or with
   * the signal's reason when aborted.
   */
  request(request: Uint8Array, options: CarrierRequestOptions = {}): Promise<Uint8Array> {
    if (!(request instanceof Uint8Array)) throw new ArgumentError('request', 'expected a Uint8Array');
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs ?? this.#defaultTimeoutMs();
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new ArgumentError('timeoutMs', 'expected > 0');
    const expected = options.expectedResponseBytes;
    if (expected !== undefined && !(Number.isSafeInteger(expected) && expected >= 0)) {
      throw new ArgumentError('expectedResponseBytes', 'expected a non-negative integer');
    }
    if (this.#closed) return Promise.reject(new CarrierError('closed', 'the carrier is closed'));
    if (this.#status.state === 'down') {
      return Promise.reject(new CarrierError('unreachable', this.#status.reason));
    }
    const fragments = Math.ceil(request.length / requestCapacity(this.#geometry));
    if (fragments > MAX_FRAGMENTS) {
      return Promise.reject(
        new CarrierError('too_large', `${request.length} bytes need more than ${MAX_FRAGMENTS} packets`),
      );
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);

    return new Promise<Uint8Array>((resolve, reject) => {
      const pending: PendingRequest = {
        bytes: Uint8Array.from(request),
        resolve,
        reject,
        onSent: options.onSent,
        attempts: [],
        cleanup: [],
        surbCount: Math.min(
          MAX_FRAGMENTS,
          Math.max(
            this.#options.minReplySurbs ?? DEFAULT_MIN_REPLY_SURBS,
            // All packets look alike and the rate is fixed: how many a request takes reveals nothing.
            expected === undefined
              ? 0
              : Math.min(MAX_SURB_HINT, replyFragmentsNeeded(this.#geometry, expected)),
          ),
        ),
        settled: false,
      };
      const timer = this.#clock.setTimeout(
        () => this.#fail(pending, new CarrierError('timeout', `no response within ${timeoutMs} ms`)),
        timeoutMs,
      );
      pending.cleanup.push(() => this.#clock.clearTimeout(timer));
      if (signal) {
        const onAbort = (): void => this.#fail(pending, signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        pending.cleanup.push(() => signal.removeEventListener('abort', onAbort));
      }
      if (this.#status.state === 'up') this.#startAttempt(pending);
      else this.#waiting.add(pending);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler?.stop();
    this.#clock.clearTimeout(this.#reconnectTimer);
    this.#clock.clearTimeout(this.#refreshTimer);
    this.#clock.clearTimeout(this.#prepareTimer);
    this.#thread?.close();
    this.#connection?.close();
    this.#connection = undefined;
    const error = new CarrierError('closed', 'the carrier was closed');
    for (const pending of this.#allPending()) this.#fail(pending, error);
    this.#surbs.clear();
    this.#replies.clear();
    this.#inboxSecret.fill(0);
    this.#setStatus({ state: 'down', reason: 'closed' });
  }

  // Status.

  #computeStatus(): CarrierStatus {
    if (this.#closed) return { state: 'down', reason: 'closed' };
    if (!this.#candidates) {
      return this.#documentProblem
        ? { state: 'down', reason: this.#documentProblem }
        : { state: 'connecting', reason: 'fetching the network document' };
    }
    if (!this.#connection) {
      if (this.#gatewayProblem) return { state: 'down', reason: this.#gatewayProblem };
      const reason = this.#lastClose
        ? `reconnecting to the gateway (${this.#lastClose})`
        : 'connecting to the gateway';
      return { state: 'connecting', reason };
    }
    if (!this.#entry() || !this.#exit()) {
      return { state: 'down', reason: 'the gateway is not in the network document' };
    }
    // Requests wait for the path to return (within their timeouts), as they wait for a reconnection.
    if (this.#health.noPath(this.#candidates)) {
      return {
        state: 'connecting',
        reason: "no path through the mix layers: the client's own loop packets stopped coming back",
      };
    }
    return { state: 'up' };
  }

  #updateStatus(): void {
    this.#setStatus(this.#computeStatus());
  }

  #setStatus(status: CarrierStatus): void {
    // Cover flows whenever the gateway can take it, a path down included: its loops are what see it return.
    if (this.#connection?.isOpen && this.#entry() && !this.#closed) this.#scheduler?.start();
    else this.#scheduler?.stop();
    if (sameStatus(status, this.#status)) return;
    this.#status = status;
    if (status.state === 'up') {
      // Back from a reconnection or a path outage: what went out meanwhile may never have been read (or a
      // restarted gateway forgot the fragments it held), so every pending request goes again now rather
      // than at its timer; requests that waited start.
      this.#restartAll();
      for (const pending of this.#waiting) this.#startAttempt(pending);
      this.#waiting.clear();
    }
    if (status.state === 'down') {
      // Fail closed: nothing waits for a network that is not there; the caller retries (requests are idempotent).
      const error = new CarrierError('unreachable', status.reason);
      for (const pending of this.#allPending()) this.#fail(pending, error);
    }
    for (const listener of this.#statusListeners) notify(listener, status);
  }

  #allPending(): PendingRequest[] {
    return [...new Set([...this.#waiting, ...this.#attempts.values()])];
  }

  // The network document.

  async #refreshDocument(): Promise<void> {
    this.#clock.clearTimeout(this.#refreshTimer);
    try {
      const document = await this.#fetchDocument();
      if (this.#closed) return;
      this.#acceptDocument(document);
    } catch (error) {
      if (this.#closed) return;
      const expired = this.#document && this.#clock.now() >= this.#document.validUntil;
      if (!this.#document || expired) {
        this.#document = undefined;
        this.#candidates = undefined;
        this.#documentProblem = `no valid network document (${reasonOf(error)})`;
      }
    }
    if (this.#closed) return;
    const untilExpiry = this.#document ? this.#document.validUntil - this.#clock.now() : Infinity;
    const refreshMs = this.#options.documentRefreshMs ?? DEFAULT_DOCUMENT_REFRESH_MS;
    this.#refreshTimer = this.#clock.setTimeout(
      () => void this.#refreshDocument(),
      Math.max(1_000, Math.min(refreshMs, untilExpiry)),
    );
    this.#updateStatus();
  }

  #acceptDocument(document: NetworkDocument): void {
    const { layers, clientSendRate } = document.parameters;
    if (layers + 2 > this.#geometry.nrHops) {
      throw new CarrierError('unreachable', `${layers} layers need ${layers + 2} Sphinx hops`);
    }
    const candidates = pathCandidates(document);
    this.#document = document;
    this.#candidates = candidates;
    this.#documentProblem = undefined;
    this.#coverGeneration++;
    this.#preparedLoops = [];
    this.#preparedDrops = [];
    if (this.#scheduler) this.#scheduler.setRate(clientSendRate);
    else {
      this.#scheduler = new PoissonScheduler({
        ratePerSecond: clientSendRate,
        clock: this.#clock,
        random: this.#random,
        onTick: () => this.#tick(),
      });
    }
  }

  // The gateway.

  #connect(): Promise<void> {
    this.#connecting ??= this.#openGateway().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #openGateway(): Promise<void> {
    try {
      const connection = await GatewayConnection.open({
        url: this.#options.gatewayUrl,
        protocol: this.#protocol,
        inboxSecret: this.#inboxSecret,
        clock: this.#clock,
        timeoutMs: GATEWAY_OPEN_TIMEOUT_MS,
        silenceMs: this.#options.silenceMs ?? DEFAULT_SILENCE_MS,
        gaps: this.#gaps,
        handlers: {
          onFrame: ({ packetsRead, item }) => this.#onFrame(packetsRead, item),
          onError: (error) => this.#onGatewayError(error),
          onClose: (reason) => this.#onGatewayClosed(reason),
        },
      });
      if (this.#closed) {
        connection.close();
        return;
      }
      this.#connection = connection;
      // Cover from the first tick: the first packets are built now, not on the ticks that send them, so a
      // new connection's first second runs at λ like any other (issue 18).
      this.#prepareCover();
      this.#packetsSent = 0;
      this.#gatewayId = connection.welcome.gatewayId;
      this.#gatewayProblem = undefined;
      this.#lastClose = undefined;
      this.#reconnectDelay = RECONNECT_MIN_MS;
      this.#updateStatus();
    } catch (error) {
      if (this.#closed) return;
      this.#gatewayProblem =
        error instanceof CarrierError ? error.message.replace(/^unreachable: /, '') : 'gateway unreachable';
      this.#updateStatus();
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    const delay = this.#reconnectDelay * (0.5 + this.#random() / 2);
    this.#reconnectDelay = Math.min(RECONNECT_MAX_MS, this.#reconnectDelay * 2);
    this.#reconnectTimer = this.#clock.setTimeout(() => void this.#connect(), delay);
  }

  /**
   * The connection closed, or went silent (the gateway hung, or the path to it broke without a reset):
   * reconnecting at once, requests waiting. A hung gateway's kernel still accepts the connection, and the
   * welcome comes the moment it runs again; if none comes in time, the status is down.
   */
  #onGatewayClosed(reason: string): void {
    this.#connection = undefined;
    this.#acks = [];
    this.#receipts = [];
    this.#abandonLoops();
    this.#gatewayProblem = undefined;
    this.#lastClose = reason;
    this.#updateStatus();
    void this.#connect();
  }

  #onGatewayError(error: ProtocolErrorMessage): void {
    if (error.reason === 'rate_limited') this.#rateLimited++;
  }

  /** Every pending request again, over fresh paths (queued packets may be for another gateway). */
  #restartAll(): void {
    this.#queue = [];
    for (const pending of new Set(this.#attempts.values())) this.#startAttempt(pending);
  }

  #entry(): DocumentNode | undefined {
    const candidates = this.#candidates;
    const id = this.#gatewayId;
    return candidates && id ? candidates.gateways.get(toHex(id)) : undefined;
  }

  #exit(): DocumentNode | undefined {
    const id = this.#options.exitGatewayId;
    if (id === undefined) return this.#entry();
    return this.#candidates?.gateways.get(toHex(id));
  }

  // Sending.

  #tick(): void {
    const connection = this.#connection;
    if (!connection?.isOpen) return;
    try {
      const acks = this.#acks.splice(0, ACK_SLOTS);
      connection.sendAck([...acks, ...Array.from({ length: ACK_SLOTS - acks.length }, () => NO_SEQUENCE)]);
      this.#expireLoops(connection.lastHeard);
      const real = this.#queue.shift();
      if (real) {
        connection.sendPacket(real.packet);
        this.#count('real');
        this.#onFragmentSent(real);
        return;
      }
      const share = this.#document?.parameters.loopCoverShare ?? 0;
      if (this.#random() < share) {
        const loop = this.#preparedLoops.shift() ?? this.#buildLoopHere();
        connection.sendPacket(loop.packet);
        this.#loops.set(loop.id, { sentAt: this.#clock.now(), mixes: loop.mixes });
        this.#loopsSent++;
        this.#count('loop');
      } else {
        const drop = this.#preparedDrops.shift() ?? this.#buildDropHere();
        connection.sendPacket(drop);
        this.#count('drop');
      }
      this.#prepareCover();
    } catch (error) {
      // A document without a route (the status says so) or a closed socket: this tick sends nothing.
      if (!(error instanceof UmbraError)) throw error;
    }
  }

  #count(kind: PacketKind): void {
    this.#packetsSent++;
    this.#sent[kind]++;
    const event = { kind, at: this.#clock.now() };
    const second = Math.floor(event.at / 1000);
    let counts = this.#perSecond.get(second);
    if (!counts) {
      counts = { real: 0, loop: 0, drop: 0 };
      this.#perSecond.set(second, counts);
      for (const old of this.#perSecond.keys()) {
        if (old > second - TRAFFIC_WINDOW_SECONDS) break;
        this.#perSecond.delete(old);
      }
    }
    counts[kind]++;
    for (const listener of this.#packetListeners) notify(listener, event);
  }

  /**
   * Builds the next cover packets between ticks, so a tick only hands a ready packet to the socket: on this
   * thread, or in the packet worker, which keeps a few more ahead (its batches come back later).
   */
  #prepareCover(): void {
    if (this.#prepareTimer !== undefined || this.#coverBuilding) return;
    this.#prepareTimer = this.#clock.setTimeout(() => {
      this.#prepareTimer = undefined;
      if (this.#closed || !this.#candidates || !this.#entry()) return;
      const ahead = this.#thread?.usable ? COVER_AHEAD_IN_WORKER : COVER_AHEAD_HERE;
      let loops: LoopOrder[];
      let drops: PacketOrder[];
      try {
        loops = Array.from({ length: ahead - this.#preparedLoops.length }, () => this.#loopOrder());
        drops = Array.from({ length: ahead - this.#preparedDrops.length }, () => this.#dropOrder());
      } catch (error) {
        if (!(error instanceof UmbraError)) throw error;
        return;
      }
      if (loops.length + drops.length === 0) return;
      const generation = this.#coverGeneration;
      this.#coverBuilding = true;
      this.#build(
        [...loops.map(({ order }) => order), ...drops],
        (built) => {
          this.#coverBuilding = false;
          if (this.#closed || generation !== this.#coverGeneration) return;
          loops.forEach(({ id, mixes }, i) => {
            this.#preparedLoops.push({ packet: (built[i] as BuiltPacket).packet, id, mixes });
          });
          for (const { packet } of built.slice(loops.length)) this.#preparedDrops.push(packet);
          // Ticks may have taken some while the worker built these.
          if (this.#thread?.usable) this.#prepareCover();
        },
        (error) => {
          this.#coverBuilding = false;
          if (!(error instanceof UmbraError)) throw error;
        },
      );
    }, 0);
  }

  #requireRoute(): Route {
    const candidates = this.#candidates;
    const entry = this.#entry();
    const exit = this.#exit();
    if (!candidates || !entry || !exit) {
      throw new CarrierError('unreachable', 'no route: the network document or the gateway is missing');
    }
    return { candidates, entry, exit };
  }

  #loopOrder(): LoopOrder {
    const { candidates, entry } = this.#requireRoute();
    const id = randomBytes(LOOP_ID_LENGTH);
    const path = selectPath(candidates, {
      entry,
      exit: entry,
      exitCommands: [{ type: 'recipient', id: this.#inboxId }],
      pick: this.#pick,
    });
    return { order: { path, userPayload: id }, id: toHex(id), mixes: path.slice(1, -1).map((hop) => hop.id) };
  }

  #dropOrder(): PacketOrder {
    const { candidates, entry } = this.#requireRoute();
    const gateways = [...candidates.gateways.values()];
    const exit = gateways[this.#pick(gateways.length)] as DocumentNode;
    return {
      path: selectPath(candidates, { entry, exit, pick: this.#pick }),
      userPayload: new Uint8Array(0),
    };
  }

  /** A loop built now on this thread, for a tick that found none ready. */
  #buildLoopHere(): PreparedLoop {
    const { order, id, mixes } = this.#loopOrder();
    return { packet: (buildPackets(this.#sphinx, [order])[0] as BuiltPacket).packet, id, mixes };
  }

  #buildDropHere(): Uint8Array {
    return (buildPackets(this.#sphinx, [this.#dropOrder()])[0] as BuiltPacket).packet;
  }

  /**
   * Builds `orders` in the packet worker when the page has one (`onBuilt` then runs later), else here and
   * now. A batch the worker could not build is built here instead (what failed there fails here with its
   * typed error); a worker that failed is not asked again.
   */
  #build(
    orders: readonly PacketOrder[],
    onBuilt: (built: BuiltPacket[]) => void,
    onFailed: (error: unknown) => void,
  ): void {
    const thread = this.#thread;
    const here = (): void => {
      let built: BuiltPacket[];
      try {
        built = buildPackets(this.#sphinx, orders);
      } catch (error) {
        onFailed(error);
        return;
      }
      onBuilt(built);
    };
    if (!thread?.usable) {
      here();
      return;
    }
    thread.build(orders).then(onBuilt, () => {
      if (!thread.usable) this.#thread = undefined;
      if (!this.#closed) here();
    });
  }

  readonly #pick = (bound: number): number => Math.floor(this.#random() * bound);

  /**
   * Counts as lost the loops not back within their timeout of the gateway's last frame, not of now: frames
   * come on every gateway tick, so a loop that missed them returned nowhere, while one whose deadline fell
   * in a stall of this client (frames waiting undelivered in the socket) is not judged before they are read.
   */
  #expireLoops(heardAt: number): void {
    const timeout = this.#loopTimeoutMs();
    let expired = false;
    for (const [id, loop] of this.#loops) {
      if (heardAt - loop.sentAt < timeout) break;
      this.#loops.delete(id);
      this.#lateLoops.set(id, loop);
      this.#loopsLost++;
      this.#health.record(loop.mixes, false);
      expired = true;
    }
    for (const [id, loop] of this.#lateLoops) {
      if (heardAt - loop.sentAt < LATE_LOOP_MEMORY_MS && this.#lateLoops.size <= MAX_LATE_LOOPS) break;
      this.#lateLoops.delete(id);
    }
    if (expired) this.#updateStatus();
  }

  /** The connection ended under loops still out: lost, but not the mix nodes' fault. */
  #abandonLoops(): void {
    this.#loopsLost += this.#loops.size;
    this.#loops.clear();
    this.#lateLoops.clear();
    // The silence until the next loop is the connection's, not the mix layers'.
    this.#lastLoopBack = undefined;
  }

  // Requests.

  /**
   * The loops' timeout as TCP computes one (RFC 6298: smoothed round trip + 4 × its variation; `unmeasured`
   * before the first loop is back), at least L rounds doubled for queueing at the mixes; undefined before a
   * document.
   */
  #loopRtoMs(unmeasured: number): number | undefined {
    const parameters = this.#document?.parameters;
    if (!parameters) return undefined;
    const fromDocument = 2 * parameters.layers * parameters.roundPeriodMs;
    const rtt = this.#loopRtt;
    return Math.max(fromDocument, rtt ? rtt.smoothed + 4 * rtt.variation : unmeasured);
  }

  /**
   * When a loop counts as lost (for `NodeHealth` and the status): its timeout (`INITIAL_LOOP_RTO_MS` until
   * one is back: a verdict of loss must not come early), plus two downstream periods (it waits for a
   * gateway tick, maybe behind another item) and half a second for the links.
   */
  #loopTimeoutMs(): number {
    const rto = this.#loopRtoMs(INITIAL_LOOP_RTO_MS) ?? INITIAL_LOOP_RTO_MS;
    const rate = this.#connection?.welcome.downstreamRate ?? 0;
    return rto + (rate > 0 ? 2_000_000 / rate : 0) + 500;
  }

  /**
   * The first retransmission timeout: a request's round trip crosses the layers twice where a loop crosses
   * them once, so twice the loops' timeout (the document's estimate alone until a loop is back: a
   * retransmission costs nothing, waiting does), plus four mean sending gaps and half a second for the links.
   */
  /**
   * A request's deadline when neither the call nor the options give one: `DEFAULT_MIXNET_TIMEOUT_MS`, or, on
   * a network measured slower, long enough for the first attempt and one retransmission to wait out their
   * timeouts. Over slow rounds and a starved phone one round trip takes tens of seconds (15 to 40 s measured
   * in the weather scenario), and a fixed minute would fail requests the network does carry.
   */
  #defaultTimeoutMs(): number {
    const base = this.#baseRetransmitMs();
    return Math.max(
      DEFAULT_MIXNET_TIMEOUT_MS,
      base + Math.min(MAX_RETRANSMIT_TIMEOUT_MS, base * RETRANSMIT_BACKOFF),
    );
  }

  #baseRetransmitMs(): number {
    const rto = this.#loopRtoMs(0);
    const parameters = this.#document?.parameters;
    if (rto === undefined || !parameters) return 10_000;
    return 2 * rto + 4_000 / parameters.clientSendRate + 500;
  }

  /** RFC 6298 §2 smoothing of the loops' round-trip times (α = 1/8, β = 1/4). */
  #observeLoopRtt(sample: number): void {
    const rtt = this.#loopRtt;
    if (!rtt) {
      this.#loopRtt = { smoothed: sample, variation: sample / 2 };
      return;
    }
    rtt.variation = 0.75 * rtt.variation + 0.25 * Math.abs(rtt.smoothed - sample);
    rtt.smoothed = 0.875 * rtt.smoothed + 0.125 * sample;
  }

  /** Builds every fragment of a fresh attempt (new request id, paths and SURBs) and queues it for sending. */
  #startAttempt(pending: PendingRequest): void {
    if (pending.settled) return;
    let route: Route;
    try {
      route = this.#requireRoute();
    } catch (error) {
      this.#fail(pending, error);
      return;
    }
    const { candidates, entry, exit } = route;
    const requestId = newRequestId();
    const attempt: Attempt = { requestId, key: toHex(requestId), unsent: 0, timer: undefined };
    if (pending.attempts.length > 0) this.#retransmissions++;
    const payloads = splitRequest(this.#geometry, requestId, pending.bytes, pending.surbCount);
    const surbIds = payloads.map(() => randomBytes(SURB_ID_LENGTH));
    const orders = payloads.map(
      (payload, i): PacketOrder => ({
        surbPath: selectPath(candidates, {
          exit: entry,
          exitCommands: [
            { type: 'recipient', id: this.#inboxId },
            { type: 'surb_reply', id: surbIds[i] as Uint8Array },
          ],
          pick: this.#pick,
          avoid: this.#health.isSuspect,
        }),
        path: selectPath(candidates, {
          entry,
          exit,
          exitCommands: [{ type: 'recipient', id: this.#serviceId }],
          pick: this.#pick,
          avoid: this.#health.isSuspect,
        }),
        userPayload: payload,
      }),
    );
    attempt.unsent = payloads.length;
    pending.attempts.push(attempt);
    this.#attempts.set(attempt.key, pending);
    this.#build(
      orders,
      (built) => {
        // Settled, or started again (a reconnection, a retransmission) while the worker built this one.
        if (this.#closed || pending.settled || pending.attempts.at(-1) !== attempt) return;
        built.forEach(({ packet, surbKeys }, i) => {
          if (surbKeys === undefined) return;
          this.#surbs.set(toHex(surbIds[i] as Uint8Array), { keys: surbKeys, request: pending, attempt });
          this.#queue.push({ packet, request: pending, attempt });
        });
      },
      (error) => this.#fail(pending, error),
    );
  }

  #onFragmentSent({ request, attempt }: QueuedPacket): void {
    attempt.unsent--;
    if (attempt.unsent > 0) return;
    this.#armRetransmit(request, attempt);
    if (request.onSent) this.#receipts.push({ request, packets: this.#packetsSent });
  }

  /** A frame counted `packetsRead` packets of this connection: requests whose packets are all in are sent. */
  #onReceipt(packetsRead: number): void {
    while (this.#receipts.length > 0 && (this.#receipts[0] as Receipt).packets <= packetsRead) {
      this.#markSent((this.#receipts.shift() as Receipt).request);
    }
  }

  #markSent(request: PendingRequest): void {
    const onSent = request.onSent;
    if (request.settled || !onSent) return;
    request.onSent = undefined;
    notify(onSent, undefined);
  }

  /**
   * Starts the attempt's retransmission timer: from its last packet, or from a partial response (wait one
   * more timeout for the rest), growing with every attempt. Only the newest attempt retransmits.
   */
  #armRetransmit(request: PendingRequest, attempt: Attempt): void {
    if (request.settled) return;
    // Retransmissions add no load to the network (they take cover packets' places), so the backoff is
    // gentle and short: ×1.5 per attempt, at most two base timeouts. A longer one would only leave a
    // request waiting out its timer after the network came back.
    const base = this.#baseRetransmitMs();
    const backoff = Math.min(2, RETRANSMIT_BACKOFF ** (request.attempts.length - 1));
    const timeout = Math.min(MAX_RETRANSMIT_TIMEOUT_MS, base * backoff);
    attempt.timer = this.#clock.setTimeout(() => {
      if (request.settled || request.attempts[request.attempts.length - 1] !== attempt) return;
      this.#startAttempt(request);
    }, timeout);
  }

  #settle(pending: PendingRequest): void {
    pending.settled = true;
    for (const cleanup of pending.cleanup) cleanup();
    this.#waiting.delete(pending);
    for (const attempt of pending.attempts) {
      this.#clock.clearTimeout(attempt.timer);
      this.#attempts.delete(attempt.key);
    }
    this.#queue = this.#queue.filter((queued) => queued.request !== pending);
    for (const [id, entry] of this.#surbs) if (entry.request === pending) this.#surbs.delete(id);
  }

  #fail(pending: PendingRequest, error: unknown): void {
    if (pending.settled) return;
    this.#settle(pending);
    pending.reject(error);
  }

  // Receiving.

  #onFrame(packetsRead: number, item: InboxItem | undefined): void {
    this.#onReceipt(packetsRead);
    if (item) this.#onItem(item);
    else this.#received.padding++;
  }

  #onItem(item: InboxItem): void {
    this.#received.items++;
    this.#acks.push(item.sequence);
    const { content } = item;
    if (content.kind === 'message') this.#onMessage(content.value.payload);
    else this.#onReply(content.value.surbId, content.value.payload);
  }

  /** A forward payload addressed to the inbox: one of our loops coming back, or something to ignore. */
  #onMessage(payload: Uint8Array): void {
    let id: string;
    try {
      id = toHex(decodeForwardPayload(this.#geometry, payload).userPayload.subarray(0, LOOP_ID_LENGTH));
    } catch (error) {
      if (error instanceof CodecError || error instanceof SphinxError) return;
      throw error;
    }
    const late = this.#lateLoops.get(id);
    const loop = late ?? this.#loops.get(id);
    if (loop === undefined) return;
    if (late) {
      // Slower than its timeout, but the path works: the loss is undone, and the round trip raises the
      // timeout (RFC 6298 §2 takes every sample; a loop is never sent twice, so none is ambiguous).
      this.#lateLoops.delete(id);
      this.#loopsLost--;
      this.#health.returnedLate(loop.mixes);
    } else {
      this.#loops.delete(id);
      this.#health.record(loop.mixes, true);
    }
    this.#loopsReturned++;
    const now = this.#clock.now();
    this.#lastLoopRoundTrip = now - loop.sentAt;
    this.#observeLoopRtt(this.#lastLoopRoundTrip - this.#outageDuring(loop.sentAt, now));
    this.#updateStatus();
  }

  /**
   * How much of [from, to] fell in an outage, a spell in which no loop came back at all (this return may
   * end one). A loop out across it waited in a queue (a link's to a hung or dead node, a restarted
   * node's) for as long as it lasted: that wait says nothing of how fast the path is, and counted in full
   * it stretched every timeout for minutes after a 20 s hang. A network that is merely slow keeps loops
   * coming back, so only its onset counts as an outage and its round trips are learned.
   */
  #outageDuring(from: number, to: number): number {
    const last = this.#lastLoopBack;
    this.#lastLoopBack = to;
    if (last !== undefined && to - last > this.#loopTimeoutMs()) {
      this.#outages.push({ from: last, to });
      if (this.#outages.length > MAX_OUTAGES) this.#outages.shift();
    }
    this.#outages = this.#outages.filter((outage) => to - outage.to < LATE_LOOP_MEMORY_MS);
    return this.#outages.reduce(
      (sum, outage) => sum + Math.max(0, Math.min(to, outage.to) - Math.max(from, outage.from)),
      0,
    );
  }

  #onReply(surbId: Uint8Array, payload: Uint8Array): void {
    const key = toHex(surbId);
    const entry = this.#surbs.get(key);
    if (!entry) return;
    this.#surbs.delete(key);
    let fragment: ReplyFragment;
    try {
      fragment = decodeReplyFragment(this.#geometry, this.#sphinx.decryptSurbPayload(payload, entry.keys));
    } catch (error) {
      if (error instanceof CodecError || error instanceof SphinxError) return;
      throw error;
    }
    const { request, attempt } = entry;
    if (request.settled || toHex(fragment.requestId) !== attempt.key) return;
    // Any reply fragment proves the exit holds the whole request: this attempt needs no retransmission.
    this.#clock.clearTimeout(attempt.timer);
    this.#markSent(request);
    switch (fragment.status) {
      case 'ok': {
        this.#replies.prune();
        const complete = this.#replies.add(fragment, undefined);
        if (complete) {
          this.#settle(request);
          request.resolve(complete.data);
        } else this.#armRetransmit(request, attempt);
        return;
      }
      case 'too_large':
        // Only the newest attempt asks again: older ones were made with fewer SURBs still.
        if (request.attempts[request.attempts.length - 1] !== attempt) return;
        if (request.surbCount >= MAX_FRAGMENTS) {
          this.#fail(
            request,
            new CarrierError('too_large', `the response needs more than ${MAX_FRAGMENTS} SURBs`),
          );
        } else {
          request.surbCount = Math.min(MAX_FRAGMENTS, request.surbCount * 2);
          this.#tooLargeRetries++;
          this.#startAttempt(request);
        }
        return;
      case 'unknown_service':
        this.#fail(request, new CarrierError('unreachable', 'the exit gateway does not offer this service'));
        return;
      case 'failed':
        this.#fail(request, new CarrierError('unreachable', 'the service failed to answer'));
        return;
    }
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof UmbraError) return error.message;
  return 'unexpected failure';
}
