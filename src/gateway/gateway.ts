/**
 * A gateway (docs/gateway.md): the first and the last Sphinx hop of every path, as the design brief (§2)
 * and issue #5 describe.
 *
 * - **Entry.** Clients connect over WebSocket (src/protocol/gateway-protocol.ts; TLS unless on loopback), say
 *   hello with their inbox secret, and send Sphinx packets whose first hop is this gateway. Each client is
 *   held to a token-bucket rate; the gateway unwraps its hop and forwards the packet to the next hop (a
 *   layer-1 mix) over a pinned TLS link, honouring a requested node delay. A client packet that would end
 *   here is dropped: every packet a client sends must cross the mix layers.
 * - **Exit.** A link listener takes packets from the last mix layer (and from other gateways, for SURB
 *   replies whose first hop they are). A final hop naming a client inbox is stored (inbox-store.ts); a SURB
 *   reply likewise; a final hop naming a service is collected into
 *   its request (service-framing.ts), handed to the service, and the response sent back through the SURBs the
 *   request carried; a final hop with no recipient (a mix's dummy, a client's drop cover) is dropped.
 * - **Downstream.** Nothing is pushed on arrival. On every tick of one downstream clock (`downstreamRate`
 *   ticks per second) each connected client gets exactly one frame of one size: its next waiting item, or
 *   padding. What its link shows is then the same whether replies and messages arrive or not.
 *
 * It is a composition of the hop layer (src/hop), as a mix node is: packets from links and clients go through
 * the same unwrap stage and crypto engine (worker threads, or inline), keys rotate with the directory's
 * epochs by the same rotation (current key, the previous one during the grace period), and every unwrap's
 * replay tag goes through the persistent replay filter, committed before anything the batch produced leaves. Logs carry counts and reasons only: never client addresses, inbox ids or payloads.
 * Its ticks, housekeeping, node delays, service timeouts, rate limits and inbox times read the hop's injected
 * clock (src/ops/clock.ts; the system clock by default), so tests can run them in virtual time.
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { constantTimeEqual, toHex } from '../bytes.ts';
import { nodeBackend } from '../crypto/backends/node.ts';
import { CodecError, ConfigError, GatewayError, SphinxError } from '../errors.ts';
import type { LinkStatus, Outgoing } from '../hop/egress.ts';
import { Hop, type HopOptions } from '../hop/hop.ts';
import type { NodeAddress } from '../hop/types.ts';
import type { UnwrapOutcome } from '../hop/unwrap.ts';
import { DEFAULT_MAX_IN_FLIGHT, type UnwrapBatch } from '../hop/unwrap-stage.ts';
import type { Clock } from '../ops/clock.ts';
import { closeServer, createHttpServer, listen } from '../ops/http.ts';
import { DURATION_BUCKETS, MetricsRegistry } from '../ops/metrics.ts';
import type { RequestHandler } from '../protocol/carrier.ts';
import {
  CLIENT_PROTOCOL_PATH,
  CLIENT_PROTOCOL_VERSION,
  ClientProtocol,
  type ClientProtocolErrorReason,
  errorMessage,
  type GatewayMessage,
  type InboxContent,
  type InboxItem,
  inboxId,
  paddingFrame,
} from '../protocol/gateway-protocol.ts';
import {
  DELIVERY_SERVICE,
  decodeRequestFragment,
  ECHO_SERVICE,
  Reassembler,
  type ReplyStatus,
  serviceId,
  splitReply,
} from '../protocol/service-framing.ts';
import { decodeForwardPayload, Sphinx } from '../sphinx/index.ts';
import {
  DEFAULT_INBOX_IDLE_MS,
  DEFAULT_INBOX_QUOTA,
  DEFAULT_ITEM_TTL_MS,
  InboxStore,
} from './inbox-store.ts';
import { DEFAULT_SERVICE_TIMEOUT_MS } from './services.ts';

export interface GatewayLimits {
  /** Most items one inbox keeps. */
  readonly inboxQuota: number;
  /** How long an unacknowledged item is kept (72 hours). */
  readonly itemTtlMs: number;
  /** How long an inbox whose owner never connects is kept (30 days). */
  readonly inboxIdleMs: number;
  /** Packets per second one client connection may send, on average. */
  readonly sendRate: number;
  /**
   * Packets a client may send at once above its rate; default `CLIENT_BURST_SECONDS` of its rate. A client
   * sending at its rate arrives in lumps whenever this gateway's event loop was held up (a busy host reads
   * seconds of traffic at once), so the burst must cover the gateway's own stalls, not only the client's jitter.
   */
  readonly burst: number;
  /** Most client connections at once. */
  readonly maxClients: number;
  /** Most client connections at once from one remote address. */
  readonly maxClientsPerAddress: number;
  /** Unread bytes waiting to a client; past it the connection is dropped (a client that does not read). */
  readonly maxClientBufferedBytes: number;
  /** Service calls in progress at once; a complete request past it is answered `failed` at once. */
  readonly maxServiceCalls: number;
  /** Packets held for their node delay at once; past it a delayed packet is dropped. */
  readonly maxDelayedPackets: number;
  /** Longest a service may take to answer. */
  readonly serviceTimeoutMs: number;
  /** Longest node delay a packet may ask of this gateway. */
  readonly maxDelayMs: number;
  /** Items sent to a client and not yet acknowledged, at most. */
  readonly pushWindow: number;
  /** Downstream frames per second to each client: one per tick, an item or padding. */
  readonly downstreamRate: number;
  /** Incomplete service requests kept, and their bytes, and for how long. */
  readonly maxPendingRequests: number;
  readonly maxPendingRequestBytes: number;
  readonly requestMaxAgeMs: number;
}

/**
 * The default burst, in seconds of a client's rate. Measured in the weather scenario (test/browser): at load
 * 16 on 2 cores the gateway's event loop stalled up to 3.3 s (p99 0.9 s), and a burst of 20 (half a second at
 * 2λ = 40 packets/s) dropped 9 % of the packets of clients sending a fifth of their rate.
 */
export const CLIENT_BURST_SECONDS = 5;

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  inboxQuota: DEFAULT_INBOX_QUOTA,
  itemTtlMs: DEFAULT_ITEM_TTL_MS,
  inboxIdleMs: DEFAULT_INBOX_IDLE_MS,
  sendRate: 10,
  burst: 10 * CLIENT_BURST_SECONDS,
  maxClients: 10_000,
  maxClientsPerAddress: 32,
  maxClientBufferedBytes: 1024 * 1024,
  maxServiceCalls: 256,
  maxDelayedPackets: 65_536,
  serviceTimeoutMs: DEFAULT_SERVICE_TIMEOUT_MS,
  maxDelayMs: 60_000,
  pushWindow: 256,
  downstreamRate: 10,
  maxPendingRequests: 4_096,
  maxPendingRequestBytes: 64 * 1024 * 1024,
  requestMaxAgeMs: 120_000,
};

/**
 * The hop's options (id, geometry, data directory — which also holds the inboxes —, topology, epoch clock,
 * grace period, logger, crypto workers, link delay) and the gateway's own.
 */
export interface GatewayOptions extends HopOptions {
  /** The TLS link listener (from mixes and gateways). */
  readonly linkListen: NodeAddress;
  /** The WebSocket listener for clients. */
  readonly clientListen: NodeAddress;
  /** PEM certificate and key for `wss://`; required unless `clientListen.host` is loopback. */
  readonly clientTls?: { readonly cert: string; readonly key: string };
  /** Service name → handler (`echo`, `delivery`, …). */
  readonly services: ReadonlyMap<string, RequestHandler>;
  readonly limits?: Partial<GatewayLimits>;
  readonly metrics?: MetricsRegistry;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
const HOUSEKEEPING_MS = 1_000;
const EXPIRY_EVERY = 60;
/** At most one rate_limited, and one inbox_full, notice per second per client. */
const NOTICE_INTERVAL_MS = 1_000;
/** Items read from the store at once for one client's downstream ticks. */
const READ_AHEAD = 16;
/** Reasons a packet is dropped (the `reason` label of gateway_dropped_total). */
type DropReason =
  | 'malformed'
  | 'not_forward'
  | 'unknown_next_hop'
  | 'delay_too_long'
  | 'unknown_inbox'
  | 'inbox_full'
  | 'bad_request'
  | 'bad_surb'
  | 'delay_queue_full'
  | 'stopping'
  /** The crypto engine failed (a bug or resource exhaustion; logged). */
  | 'internal_error';

/** `limits` over the defaults; the burst follows the rate (`CLIENT_BURST_SECONDS`) unless it is given. */
export function gatewayLimits(limits: Partial<GatewayLimits> = {}): GatewayLimits {
  const merged = { ...DEFAULT_GATEWAY_LIMITS, ...limits };
  return limits.burst === undefined
    ? { ...merged, burst: Math.max(1, Math.ceil(merged.sendRate * CLIENT_BURST_SECONDS)) }
    : merged;
}

class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  constructor(rate: number, burst: number, clock: Clock) {
    this.#rate = rate;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock.monotonic();
  }

  take(): boolean {
    const now = this.#clock.monotonic();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

interface ClientSession {
  readonly socket: WebSocket;
  /** The remote address, only as the key of the per-address count; never logged. */
  readonly address: string;
  readonly bucket: TokenBucket;
  inbox: Uint8Array | undefined;
  key: string;
  /** `packet` messages read from this connection: every frame carries the count (the client's receipt). */
  packetsRead: bigint;
  /** Highest sequence number read for this connection. */
  sentUpTo: bigint;
  /** Read from the store, waiting for their ticks. */
  ready: InboxItem[];
  /** The store may hold items after `sentUpTo` (set by arrivals, acks and the hello). */
  more: boolean;
  readonly inFlight: Set<bigint>;
  lastNotice: number;
  /** Items were refused for a full inbox: say so on a tick, in place of a frame. */
  full: boolean;
  lastFullNotice: number;
}

/** A packet that ends here: a final hop, or a SURB reply. */
type Arrival = Extract<UnwrapOutcome, { readonly kind: 'final' | 'reply' }>;

function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

export class Gateway {
  readonly id: Uint8Array;
  readonly protocol: ClientProtocol;
  readonly #options: GatewayOptions;
  readonly #limits: GatewayLimits;
  /** The hop core: packets from links and clients carry whether a client sent them. */
  readonly #hop: Hop<boolean>;
  readonly #store: InboxStore;
  readonly #sphinx: Sphinx;
  readonly #metrics: ReturnType<typeof createMetrics>;
  readonly #services = new Map<
    string,
    { readonly name: string; readonly handler: RequestHandler | undefined }
  >();
  readonly #requests: Reassembler<Uint8Array | undefined>;
  readonly #sessions = new Map<string, ClientSession>();
  readonly #clients = new Set<ClientSession>();
  /** Open client connections per remote address. */
  readonly #perAddress = new Map<string, number>();
  /** Packets waiting for the node delay their sender asked for. */
  readonly #timers = new Set<unknown>();
  readonly #clock: Clock;
  readonly #calls = new Set<Promise<void>>();
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;
  #clientAddress: NodeAddress | undefined;
  #housekeeping: unknown;
  #downstream: unknown;
  #ticks = 0;
  #stopping: Promise<void> | undefined;

  private constructor(options: GatewayOptions, parts: { hop: Hop<boolean>; store: InboxStore }) {
    this.id = options.id;
    this.#options = options;
    this.#clock = parts.hop.clock;
    this.#limits = gatewayLimits(options.limits);
    this.protocol = new ClientProtocol(options.geometry);
    this.#hop = parts.hop;
    this.#store = parts.store;
    this.#sphinx = new Sphinx(options.geometry, nodeBackend);
    this.#metrics = createMetrics(options.metrics ?? new MetricsRegistry());
    this.#metrics.registry.onCollect(() => this.#metrics.clients.set(this.#clients.size));
    this.#requests = new Reassembler({
      maxPending: this.#limits.maxPendingRequests,
      maxPendingBytes: this.#limits.maxPendingRequestBytes,
      maxAgeMs: this.#limits.requestMaxAgeMs,
      now: () => this.#clock.now(),
    });
    for (const name of [ECHO_SERVICE, DELIVERY_SERVICE, ...options.services.keys()]) {
      this.#services.set(toHex(serviceId(name)), { name, handler: options.services.get(name) });
    }
  }

  /** Opens its stores, listens for links and clients, and follows the epochs. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const { dataDir, clientListen, clientTls } = options;
    const rate = options.limits?.downstreamRate;
    if (rate !== undefined && !(Number.isFinite(rate) && rate > 0 && rate <= 1_000_000)) {
      throw new ConfigError('invalid_value', 'downstreamRate must be a positive number of frames per second');
    }
    if (!clientTls && !isLoopback(clientListen.host)) {
      throw new ConfigError(
        'invalid_value',
        'clients must connect over TLS unless the client listener is on loopback: give a certificate and key',
      );
    }
    const limits = gatewayLimits(options.limits);
    const hop = await Hop.open<boolean>(options);
    let store: InboxStore | undefined;
    try {
      store = InboxStore.open(join(dataDir, 'inboxes.sqlite'), {
        quota: limits.inboxQuota,
        ttlMs: limits.itemTtlMs,
        idleMs: limits.inboxIdleMs,
        now: () => hop.clock.now(),
      });
      const gateway = new Gateway(options, { hop, store });
      await gateway.#listen();
      return gateway;
    } catch (error) {
      store?.close();
      await hop.close();
      throw error;
    }
  }

  /** Where the link listener is (what the gateway registers). */
  get linkAddress(): NodeAddress {
    const address = this.#hop.listening;
    if (!address) throw new GatewayError('closed', 'the gateway is not listening');
    return address;
  }

  /** Where clients connect. */
  get clientAddress(): NodeAddress {
    if (!this.#clientAddress) throw new GatewayError('closed', 'the gateway is not listening');
    return this.#clientAddress;
  }

  /** `ws://` or `wss://` URL of the client endpoint. */
  get clientUrl(): string {
    const { host, port } = this.clientAddress;
    const scheme = this.#options.clientTls ? 'wss' : 'ws';
    return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${CLIENT_PROTOCOL_PATH}`;
  }

  /** SHA-256 of the link certificate, for the network document. */
  get tlsFingerprint(): Uint8Array {
    return this.#hop.tlsFingerprint;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** The Sphinx public keys it holds, by epoch (the current epoch's and the next's, at least). */
  publicKeys(): { epoch: number; publicKey: Uint8Array }[] {
    return this.#hop.publicKeys();
  }

  /** Its links to the first layer: how many are open, how many connected (for /ready). */
  get links(): LinkStatus {
    return this.#hop.links;
  }

  /** Throws when the replay filter's or the inboxes' file does not answer (for /ready). */
  checkStore(): void {
    this.#hop.checkStore();
    this.#store.check();
  }

  /** The Sphinx public key of `epoch`, created and stored first if needed. */
  async publicKeyFor(epoch: number): Promise<Uint8Array> {
    return this.#hop.publicKeyFor(epoch);
  }

  /**
   * Graceful stop: refuses new clients and tells connected ones, stops the link listener, processes what
   * already arrived, waits for service calls in progress (their replies leave), and closes the stores.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #listen(): Promise<void> {
    const { linkListen, clientListen, clientTls, logger } = this.#options;
    await this.#hop.start({
      listen: linkListen,
      linkContext: false,
      onLinkFrame: () => this.#metrics.linkPacketsIn.inc(),
      onBatch: (batch) => this.#onUnwrapped(batch),
      onFailure: (error, count) => {
        this.#drop('internal_error', count);
        logger.error('unwrapping failed', { message: String(error), packets: count });
      },
      onLinkDropped: (frames) => this.#metrics.linkDropped.inc(frames),
      maxInFlight: DEFAULT_MAX_IN_FLIGHT,
    });
    const refuse = (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(426, { 'content-type': 'text/plain', connection: 'close' }).end('WebSocket only\n');
    };
    const server = clientTls
      ? createHttpsServer({ cert: clientTls.cert, key: clientTls.key, minVersion: 'TLSv1.3' }, refuse)
      : createHttpServer(refuse);
    this.#http = server;
    const wss = new WebSocketServer({
      server,
      path: CLIENT_PROTOCOL_PATH,
      maxPayload: this.protocol.maxMessageLength,
      perMessageDeflate: false,
    });
    this.#wss = wss;
    wss.on('connection', (socket, request) => this.#accept(socket, request.socket.remoteAddress ?? ''));
    const port = await listen(server, clientListen.host, clientListen.port);
    this.#clientAddress = { host: clientListen.host, port };
    this.#scheduleHousekeeping();
    this.#scheduleDownstream(this.#clock.monotonic(), 0);
    logger.info('gateway listening', {
      linkPort: this.linkAddress.port,
      clientPort: port,
      tls: clientTls !== undefined,
      services: [...this.#options.services.keys()].join(','),
      epoch: this.#hop.rotation.epoch,
      workers: this.#hop.engine.threads,
    });
  }

  async #shutdown(): Promise<void> {
    const { logger } = this.#options;
    this.#clock.clearTimeout(this.#housekeeping);
    this.#clock.clearTimeout(this.#downstream);
    for (const session of this.#clients) this.#fail(session, 'closed', 'the gateway is stopping');
    this.#wss?.close();
    if (this.#http) await closeServer(this.#http);
    await this.#hop.stopListening();
    await this.#hop.drain();
    while (this.#calls.size > 0) await Promise.all(this.#calls);
    await this.#hop.drain();
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    if (this.#timers.size > 0) this.#drop('stopping', this.#timers.size);
    this.#timers.clear();
    await this.#hop.close();
    this.#store.close();
    logger.info('gateway stopped');
  }

  // Clients.

  #accept(socket: WebSocket, address: string): void {
    const { sendRate, burst, maxClients, maxClientsPerAddress } = this.#limits;
    const session: ClientSession = {
      socket,
      address,
      bucket: new TokenBucket(sendRate, burst, this.#clock),
      inbox: undefined,
      key: '',
      packetsRead: 0n,
      sentUpTo: 0n,
      ready: [],
      more: false,
      inFlight: new Set(),
      lastNotice: Number.NEGATIVE_INFINITY,
      full: false,
      lastFullNotice: Number.NEGATIVE_INFINITY,
    };
    if (this.#stopping || this.#clients.size >= maxClients) {
      this.#fail(session, 'closed', this.#stopping ? 'the gateway is stopping' : 'the gateway is full');
      return;
    }
    const fromAddress = this.#perAddress.get(address) ?? 0;
    if (fromAddress >= maxClientsPerAddress) {
      this.#metrics.refused.inc(1, { reason: 'per_address' });
      this.#fail(session, 'closed', 'too many connections from this address');
      return;
    }
    this.#perAddress.set(address, fromAddress + 1);
    this.#clients.add(session);
    this.#metrics.connections.inc();
    socket.on('message', (data, isBinary) => this.#onMessage(session, data, isBinary));
    socket.on('error', () => socket.terminate());
    socket.on('close', () => {
      this.#clients.delete(session);
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left === 0) this.#perAddress.delete(address);
      else this.#perAddress.set(address, left);
      if (session.inbox && this.#sessions.get(session.key) === session) this.#sessions.delete(session.key);
    });
  }

  #onMessage(session: ClientSession, data: RawData, isBinary: boolean): void {
    // Clients were told the gateway is stopping; the stores may already be closed.
    if (this.#stopping) return;
    try {
      this.#handle(session, data, isBinary);
    } catch (error) {
      // A fault of the gateway's (storage, a bug) ends this client's connection, never the process.
      this.#options.logger.error('client message failed', { message: String(error) });
      this.#fail(session, 'closed', 'the gateway could not handle the message');
    }
  }

  #handle(session: ClientSession, data: RawData, isBinary: boolean): void {
    if (!isBinary) {
      this.#fail(session, 'protocol', 'binary messages only');
      return;
    }
    let message: ReturnType<ClientProtocol['decodeClientMessage']>;
    try {
      message = this.protocol.decodeClientMessage(new Uint8Array(data as Buffer));
    } catch (error) {
      if (!(error instanceof CodecError)) throw error;
      this.#fail(session, 'protocol', `malformed message: ${error.reason}`);
      return;
    }
    if (message.kind !== 'hello' && !session.inbox) {
      this.#fail(session, 'unauthorized', 'send hello first');
      return;
    }
    switch (message.kind) {
      case 'hello':
        this.#hello(session, message.value);
        return;
      case 'packet':
        this.#metrics.clientPackets.inc();
        session.packetsRead++;
        if (!session.bucket.take()) {
          this.#metrics.rateLimited.inc();
          const now = this.#clock.monotonic();
          if (now - session.lastNotice >= NOTICE_INTERVAL_MS) {
            session.lastNotice = now;
            this.#send(
              session,
              errorMessage('rate_limited', `over ${this.#limits.sendRate} packets/s`, false),
            );
          }
          return;
        }
        this.#enqueue(message.value.packet, true);
        return;
      case 'ack': {
        const inbox = session.inbox as Uint8Array;
        const deleted = this.#store.ack(inbox, message.value.sequences);
        this.#metrics.acked.inc(deleted);
        for (const sequence of message.value.sequences) session.inFlight.delete(sequence);
        // The window may have room again; the next tick reads on.
        session.more = true;
        return;
      }
    }
  }

  #hello(
    session: ClientSession,
    hello: { version: number; geometryHash: Uint8Array; inboxSecret: Uint8Array },
  ): void {
    if (session.inbox) {
      this.#fail(session, 'protocol', 'hello was already sent');
      return;
    }
    if (hello.version !== CLIENT_PROTOCOL_VERSION) {
      this.#fail(session, 'unsupported_version', `this gateway speaks version ${CLIENT_PROTOCOL_VERSION}`);
      return;
    }
    if (!constantTimeEqual(hello.geometryHash, this.#options.geometry.hash())) {
      this.#fail(session, 'wrong_geometry', 'this gateway uses another Sphinx geometry');
      return;
    }
    const inbox = inboxId(hello.inboxSecret);
    const key = toHex(inbox);
    const previous = this.#sessions.get(key);
    if (previous) this.#fail(previous, 'closed', 'the inbox was opened on another connection');
    session.inbox = inbox;
    session.key = key;
    this.#sessions.set(key, session);
    const { pending, dropped } = this.#store.open(inbox);
    const { inboxQuota, itemTtlMs, sendRate, burst, downstreamRate } = this.#limits;
    this.#send(session, {
      kind: 'welcome',
      value: {
        version: CLIENT_PROTOCOL_VERSION,
        gatewayId: this.id,
        inboxId: inbox,
        pending,
        dropped,
        inboxQuota,
        itemTtlSeconds: Math.floor(itemTtlMs / 1000),
        sendRate: Math.round(sendRate * 1000),
        burst,
        downstreamRate: Math.round(downstreamRate * 1000),
      },
    });
    // Waiting items follow on the downstream ticks, like any other.
    session.more = pending > 0;
  }

  // Downstream: one frame per client per tick.

  /**
   * Ticks at `start + n / downstreamRate`, each timer set from the schedule rather than from the last
   * callback, so late callbacks do not lower the rate the welcome announced.
   */
  #scheduleDownstream(start: number, tick: number): void {
    const periodMs = 1000 / this.#limits.downstreamRate;
    const next = tick + 1;
    this.#downstream = this.#clock.setTimeout(
      () => {
        this.#downstreamTick();
        // A stalled event loop skips the ticks it missed instead of sending them in a burst.
        const due = Math.max(next, Math.floor((this.#clock.monotonic() - start) / periodMs));
        this.#scheduleDownstream(start, due);
      },
      Math.max(0, start + next * periodMs - this.#clock.monotonic()),
      { unref: true },
    );
  }

  #downstreamTick(): void {
    if (this.#stopping) return;
    for (const session of this.#sessions.values()) {
      try {
        this.#sendFrame(session);
      } catch (error) {
        this.#options.logger.error('downstream frame failed', { message: String(error) });
        this.#fail(session, 'closed', 'the gateway could not read the inbox');
      }
    }
  }

  /** The tick's frame: an inbox_full notice if one is due, else the next item, else padding. */
  #sendFrame(session: ClientSession): void {
    const now = this.#clock.monotonic();
    if (session.full && now - session.lastFullNotice >= NOTICE_INTERVAL_MS) {
      session.full = false;
      session.lastFullNotice = now;
      this.#send(
        session,
        errorMessage('inbox_full', `the inbox holds its quota of ${this.#store.quota} items`, false),
      );
      return;
    }
    const item = this.#nextItem(session);
    if (item) {
      session.inFlight.add(item.sequence);
      this.#send(session, { kind: 'item', value: { packetsRead: session.packetsRead, ...item } });
      this.#metrics.frames.inc(1, { kind: 'item' });
    } else {
      this.#send(session, paddingFrame(session.packetsRead));
      this.#metrics.frames.inc(1, { kind: 'padding' });
    }
  }

  /** The next stored item the client has not been sent, within the window of unacknowledged ones. */
  #nextItem(session: ClientSession): InboxItem | undefined {
    const inbox = session.inbox;
    if (!inbox) return undefined;
    if (session.ready.length === 0 && session.more) {
      const room = this.#limits.pushWindow - session.inFlight.size;
      if (room <= 0) return undefined;
      const limit = Math.min(room, READ_AHEAD);
      session.ready = this.#store.items(inbox, session.sentUpTo, limit);
      const last = session.ready[session.ready.length - 1];
      if (last) session.sentUpTo = last.sequence;
      session.more = session.ready.length === limit;
    }
    return session.ready.shift();
  }

  #send(session: ClientSession, message: GatewayMessage): void {
    const { socket } = session;
    if (socket.readyState !== socket.OPEN) return;
    const bytes = this.protocol.encodeGatewayMessage(message);
    if (socket.bufferedAmount + bytes.length > this.#limits.maxClientBufferedBytes) {
      // The client does not read its frames: drop it rather than queue them without bound.
      this.#metrics.refused.inc(1, { reason: 'slow_consumer' });
      socket.terminate();
      if (session.inbox && this.#sessions.get(session.key) === session) this.#sessions.delete(session.key);
      return;
    }
    socket.send(bytes);
  }

  /** Sends an error; a fatal one closes the connection. */
  #fail(session: ClientSession, reason: ClientProtocolErrorReason, message: string): void {
    this.#send(session, errorMessage(reason, message, true));
    session.socket.close(reason === 'closed' ? 1001 : 1008, reason);
    if (session.inbox && this.#sessions.get(session.key) === session) this.#sessions.delete(session.key);
  }

  // Packets.

  #enqueue(packet: Uint8Array, fromClient: boolean): void {
    // Packets read in one turn of the event loop are unwrapped together and share one filter commit.
    this.#hop.push(packet, fromClient);
  }

  #onUnwrapped({ outcomes }: UnwrapBatch<boolean>): void {
    const { topology, logger } = this.#options;
    const outgoing: Outgoing[] = [];
    const delayed: { outgoing: Outgoing; delay: number }[] = [];
    const arrivals: Arrival[] = [];
    for (const { outcome, context: fromClient } of outcomes) {
      if (outcome.kind === 'mac_failure') {
        this.#metrics.macFailures.inc();
        continue;
      }
      if (outcome.kind === 'malformed') {
        this.#drop('malformed');
        continue;
      }
      if (outcome.kind === 'failed') {
        this.#drop('internal_error');
        logger.error('unwrapping failed', { message: outcome.message });
        continue;
      }
      if (!this.#hop.replay.admit(outcome.epoch, outcome.replayTag)) {
        this.#metrics.replays.inc();
        continue;
      }
      if (outcome.kind !== 'forward') {
        if (fromClient) this.#drop('not_forward');
        else arrivals.push(outcome);
        continue;
      }
      const { packet, nextHop, delay } = outcome;
      const peer = topology.peer(nextHop);
      if (delay > this.#limits.maxDelayMs) this.#drop('delay_too_long');
      else if (!peer) this.#drop('unknown_next_hop');
      else if (delay > 0 && this.#timers.size + delayed.length >= this.#limits.maxDelayedPackets)
        this.#drop('delay_queue_full');
      else if (delay > 0) delayed.push({ outgoing: { packet, nextHop, peer }, delay });
      else outgoing.push({ packet, nextHop, peer });
    }
    // Tags must be durable before anything these packets caused exists outside this process.
    this.#hop.replay.commit();
    this.#hop.egress.send(outgoing);
    this.#metrics.forwarded.inc(outgoing.length);
    for (const { outgoing: item, delay } of delayed) {
      const timer = this.#clock.setTimeout(() => {
        this.#timers.delete(timer);
        this.#hop.egress.send([item]);
        this.#metrics.forwarded.inc();
      }, delay);
      this.#timers.add(timer);
    }
    const deliveries: { inbox: Uint8Array; content: InboxContent }[] = [];
    for (const arrival of arrivals) {
      const delivery = this.#arrive(arrival);
      if (delivery) deliveries.push(delivery);
    }
    try {
      this.#deliver(deliveries);
    } catch (error) {
      logger.error('storing inbox items failed', { message: String(error), items: deliveries.length });
    }
  }

  /** Handles a final hop for no one or for a service; returns what an inbox should store. */
  #arrive(result: Arrival): { inbox: Uint8Array; content: InboxContent } | undefined {
    const { recipient } = result;
    if (!recipient) {
      this.#metrics.dummies.inc();
      return undefined;
    }
    const service = this.#services.get(toHex(recipient));
    if (result.kind === 'reply') {
      if (!service) {
        return {
          inbox: recipient,
          content: { kind: 'reply', value: { surbId: result.surbId, payload: result.payload } },
        };
      }
      this.#drop('bad_request');
      return undefined;
    }
    if (!service)
      return { inbox: recipient, content: { kind: 'message', value: { payload: result.payload } } };
    this.#serviceFragment(service.name, service.handler, result.payload);
    return undefined;
  }

  /** Stores a batch's inbox items in one transaction; their connected owners get them on the next ticks. */
  #deliver(deliveries: readonly { inbox: Uint8Array; content: InboxContent }[]): void {
    const results = this.#store.putMany(deliveries);
    results.forEach((result, index) => {
      const { inbox, content } = deliveries[index] as { inbox: Uint8Array; content: InboxContent };
      const owner = this.#sessions.get(toHex(inbox));
      if (result === 'unknown_inbox' || result === 'inbox_full') {
        this.#drop(result);
        // Told on a tick, not now: the notice's timing must not show when items arrive.
        if (owner && result === 'inbox_full') owner.full = true;
        return;
      }
      this.#metrics.stored.inc(1, { kind: content.kind });
      if (owner) owner.more = true;
    });
  }

  // Services.

  #serviceFragment(name: string, handler: RequestHandler | undefined, payload: Uint8Array): void {
    let request: ReturnType<Reassembler<Uint8Array | undefined>['add']>;
    let requestId: Uint8Array;
    try {
      const { userPayload, surb } = decodeForwardPayload(this.#options.geometry, payload);
      const fragment = decodeRequestFragment(this.#options.geometry, userPayload);
      requestId = fragment.requestId;
      request = this.#requests.add(fragment, surb);
    } catch (error) {
      if (!(error instanceof CodecError || error instanceof SphinxError)) throw error;
      this.#drop('bad_request');
      return;
    }
    if (!request) return;
    const surbs = request.attachments.filter((surb): surb is Uint8Array => surb !== undefined);
    const call = this.#call(name, handler, request.data)
      .then(({ status, response }) => this.#reply(requestId, status, response, surbs))
      .catch((error: unknown) =>
        this.#options.logger.error('sending a reply failed', { message: String(error) }),
      );
    const tracked = call.finally(() => this.#calls.delete(tracked));
    this.#calls.add(tracked);
  }

  async #call(
    name: string,
    handler: RequestHandler | undefined,
    request: Uint8Array,
  ): Promise<{ status: ReplyStatus; response: Uint8Array }> {
    const none = new Uint8Array(0);
    if (!handler) {
      this.#metrics.serviceRequests.inc(1, { service: name, outcome: 'unknown_service' });
      return { status: 'unknown_service', response: none };
    }
    // `#calls` holds the calls in progress (this one joins it after this check): past the cap, the request
    // is answered at once rather than held.
    if (this.#calls.size >= this.#limits.maxServiceCalls) {
      this.#metrics.serviceRequests.inc(1, { service: name, outcome: 'busy' });
      return { status: 'failed', response: none };
    }
    const started = this.#clock.monotonic();
    let timer: unknown;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = this.#clock.setTimeout(
          () => reject(new GatewayError('service_failed', 'the service did not answer in time')),
          this.#limits.serviceTimeoutMs,
        );
      });
      const response = await Promise.race([handler(request), timeout]);
      this.#metrics.serviceRequests.inc(1, { service: name, outcome: 'ok' });
      return { status: 'ok', response };
    } catch (error) {
      this.#metrics.serviceRequests.inc(1, { service: name, outcome: 'failed' });
      this.#options.logger.warn('service call failed', {
        service: name,
        reason: error instanceof GatewayError ? error.reason : 'exception',
      });
      return { status: 'failed', response: none };
    } finally {
      this.#clock.clearTimeout(timer);
      this.#metrics.serviceSeconds.observe((this.#clock.monotonic() - started) / 1000, { service: name });
    }
  }

  /** Sends the response back, one reply fragment per SURB the request carried. */
  #reply(
    requestId: Uint8Array,
    status: ReplyStatus,
    response: Uint8Array,
    surbs: readonly Uint8Array[],
  ): void {
    const { geometry, topology } = this.#options;
    const payloads = splitReply(geometry, requestId, status, response, surbs.length);
    const outgoing: Outgoing[] = [];
    payloads.forEach((payload, index) => {
      let built: { packet: Uint8Array; firstHop: Uint8Array };
      try {
        built = this.#sphinx.newPacketFromSurb(surbs[index] as Uint8Array, payload);
      } catch (error) {
        if (!(error instanceof SphinxError)) throw error;
        this.#drop('bad_surb');
        return;
      }
      // A SURB whose first hop is this gateway enters here like any packet from a link.
      if (constantTimeEqual(built.firstHop, this.id)) {
        this.#enqueue(built.packet, false);
        return;
      }
      const peer = topology.peer(built.firstHop);
      if (peer) outgoing.push({ packet: built.packet, nextHop: built.firstHop, peer });
      else this.#drop('unknown_next_hop');
    });
    this.#hop.egress.send(outgoing);
    this.#metrics.replies.inc(payloads.length);
  }

  // Housekeeping.

  /** Every `HOUSEKEEPING_MS`, in the background (the timer alone keeps no process alive). */
  #scheduleHousekeeping(): void {
    this.#housekeeping = this.#clock.setTimeout(
      () => {
        // The next one first, so that a failing chore does not stop the others.
        this.#scheduleHousekeeping();
        this.#housekeep();
      },
      HOUSEKEEPING_MS,
      { unref: true },
    );
  }

  #housekeep(): void {
    this.#hop.rotation.follow();
    this.#requests.prune();
    if (++this.#ticks % EXPIRY_EVERY === 0) {
      const expired = this.#store.expire();
      if (expired > 0) this.#metrics.expired.inc(expired);
    }
  }

  #drop(reason: DropReason, count = 1): void {
    this.#metrics.dropped.inc(count, { reason });
  }
}

function createMetrics(registry: MetricsRegistry) {
  return {
    registry,
    clients: registry.gauge({ name: 'gateway_clients', help: 'Client connections open.' }),
    refused: registry.counter({
      name: 'gateway_client_refused_total',
      help: 'Client connections refused or dropped by a limit (per_address, slow_consumer).',
      labelNames: ['reason'],
    }),
    connections: registry.counter({
      name: 'gateway_client_connections_total',
      help: 'Client connections accepted.',
    }),
    clientPackets: registry.counter({
      name: 'gateway_client_packets_total',
      help: 'Packets received from clients.',
    }),
    rateLimited: registry.counter({
      name: 'gateway_rate_limited_total',
      help: 'Client packets dropped for exceeding the client rate.',
    }),
    linkPacketsIn: registry.counter({
      name: 'gateway_link_packets_in_total',
      help: 'Packets received from mixes and gateways.',
    }),
    forwarded: registry.counter({
      name: 'gateway_forwarded_total',
      help: 'Packets forwarded to a next hop.',
    }),
    replays: registry.counter({
      name: 'gateway_replays_total',
      help: 'Packets whose replay tag was seen before.',
    }),
    macFailures: registry.counter({
      name: 'gateway_mac_failures_total',
      help: 'Packets whose header MAC verified under none of the live keys.',
    }),
    dummies: registry.counter({
      name: 'gateway_dummies_total',
      help: 'Final hops with no recipient (mix dummies, drop cover), dropped.',
    }),
    dropped: registry.counter({
      name: 'gateway_dropped_total',
      help: 'Packets dropped, by reason.',
      labelNames: ['reason'],
    }),
    stored: registry.counter({
      name: 'gateway_inbox_stored_total',
      help: 'Inbox items stored.',
      labelNames: ['kind'],
    }),
    acked: registry.counter({
      name: 'gateway_inbox_acked_total',
      help: 'Inbox items acknowledged and deleted.',
    }),
    expired: registry.counter({ name: 'gateway_inbox_expired_total', help: 'Inbox items deleted unread.' }),
    serviceRequests: registry.counter({
      name: 'gateway_service_requests_total',
      help: 'Complete service requests, by service and outcome.',
      labelNames: ['service', 'outcome'],
    }),
    serviceSeconds: registry.histogram({
      name: 'gateway_service_duration_seconds',
      help: 'Time a service took to answer.',
      labelNames: ['service'],
      buckets: DURATION_BUCKETS,
    }),
    frames: registry.counter({
      name: 'gateway_downstream_frames_total',
      help: 'Downstream frames sent to clients, by kind (item or padding).',
      labelNames: ['kind'],
    }),
    replies: registry.counter({ name: 'gateway_replies_total', help: 'Reply packets sent through SURBs.' }),
    linkDropped: registry.counter({
      name: 'gateway_link_dropped_total',
      help: 'Frames dropped because an egress link was down too long.',
    }),
  };
}
