// Scaffolding for the mixnet carrier's tests: virtual time and a seeded random source for the statistical
// tests, and an in-test mix network — a network document over real X25519 Sphinx keys, and a gateway that
// speaks the real client protocol over a real WebSocket, routes each packet through every hop by unwrapping
// it with the hop's key (no mixing delay), runs the echo service at the exit, sends replies over the SURBs,
// and records what it saw per packet kind, as an observer at the gateways would. It can hang as a stopped
// process does (sockets stay open, nothing is read or sent until it resumes).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket as WsSocket } from 'ws';
import { toHex } from '../../../src/bytes.ts';
import { nodeBackend } from '../../../src/crypto/backends/node.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import {
  decodeNetworkDocument,
  encodeNetworkDocument,
  type MixingParameters,
  type NetworkDocument,
  type NodeEntry,
  sortNodes,
} from '../../../src/directory/document.ts';
import {
  CLIENT_PROTOCOL_VERSION,
  ClientProtocol,
  type GatewayMessage,
  type InboxItem,
  inboxId,
  paddingFrame,
} from '../../../src/protocol/gateway-protocol.ts';
import {
  decodeRequestFragment,
  ECHO_SERVICE,
  Reassembler,
  serviceId,
  splitReply,
} from '../../../src/protocol/service-framing.ts';
import { decodeForwardPayload, Geometry, Sphinx } from '../../../src/sphinx/index.ts';

export const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 512,
  withSurb: true,
  nrHops: 5,
});
export const sphinx = new Sphinx(geometry, nodeBackend);
const protocol = new ClientProtocol(geometry);

/** Shared with the other tests (test/support/random.ts); re-exported for the carrier tests. */
export { seededRandom } from '../../support/random.ts';
/** Shared with the server tests (test/support/virtual-clock.ts); re-exported for the carrier tests. */
export { VirtualClock } from '../../support/virtual-clock.ts';

export const defaultParameters: MixingParameters = {
  epochPeriodMs: 3_600_000,
  layers: 3,
  roundPeriodMs: 50,
  batchSize: 8,
  clientSendRate: 50,
  loopCoverShare: 0.5,
  keyGracePeriodMs: 60_000,
};

/** A network document over fresh X25519 keys, and the keys, by node id. */
export class TestNetwork {
  readonly document: NetworkDocument;
  /** The document's encoded body (unsigned), for passing it to a browser page. */
  readonly body: Uint8Array;
  readonly #secretKeys = new Map<string, Uint8Array>();

  constructor(
    options: { gateways?: number; perLayer?: number; parameters?: Partial<MixingParameters> } = {},
  ) {
    const parameters = { ...defaultParameters, ...options.parameters };
    const entries: NodeEntry[] = [];
    const secrets: Uint8Array[] = [];
    const add = (role: 'gateway' | 'mix', layer: number): void => {
      const keys = nodeBackend.x25519.generateKeyPair();
      entries.push({
        identityKey: randomBytes(32),
        role,
        layer,
        address: `127.0.0.1:${1000 + entries.length}`,
        tlsFingerprint: randomBytes(32),
        sphinxKeys: { current: keys.publicKey, next: keys.publicKey },
      });
      secrets.push(keys.secretKey);
    };
    for (let i = 0; i < (options.gateways ?? 2); i++) add('gateway', 0);
    for (let layer = 1; layer <= parameters.layers; layer++) {
      for (let i = 0; i < (options.perLayer ?? 2); i++) add('mix', layer);
    }
    const now = Date.now();
    this.body = encodeNetworkDocument({
      epoch: 1,
      validFrom: now - 60_000,
      validUntil: now + 3_600_000,
      issuedAt: now,
      geometryHash: geometry.hash(),
      parameters,
      nodes: sortNodes(entries),
    });
    this.document = decodeNetworkDocument(this.body);
    for (const node of this.document.nodes) {
      const index = entries.findIndex((entry) => toHex(entry.identityKey) === toHex(node.identityKey));
      this.#secretKeys.set(toHex(node.id), secrets[index] as Uint8Array);
    }
  }

  get gateways() {
    return this.document.nodes.filter((node) => node.role === 'gateway');
  }

  mixes(layer: number) {
    return this.document.nodes.filter((node) => node.role === 'mix' && node.layer === layer);
  }

  secretKey(id: Uint8Array): Uint8Array {
    const key = this.#secretKeys.get(toHex(id));
    if (!key) throw new Error('unknown node');
    return key;
  }
}

export type SeenKind = 'request' | 'loop' | 'drop' | 'reply' | 'lost';

interface Inbox {
  sequence: bigint;
  readonly items: Map<bigint, InboxItem>;
  socket: WsSocket | undefined;
}

/**
 * The gateway of a TestNetwork (its first gateway, which also hosts the echo service): the real client
 * protocol over a real WebSocket server. Packets go through all their hops at once, or `transitMs` later (a
 * slow network); `lose` may drop a packet at any hop (a dead node), `hold` keep it there until `release`
 * (a stopped node). Unlike the real gateway it sends items the moment they arrive (the
 * carrier's logic does not depend on when they come; test/gateway/downstream.test.ts holds the real one to
 * its one-frame-per-tick discipline), and padding frames when a test calls `pad` or starts a `heartbeat`.
 * Every frame counts the packets read from its connection, as the real gateway's do. `hang` makes it a
 * stopped process: connections stay open, what clients send waits unread and nothing is sent, until `resume`.
 */
export class TestGateway {
  readonly network: TestNetwork;
  /** What arrived at the final hops, per packet the client sent and per reply. */
  readonly seen: { kind: SeenKind; at: number }[] = [];
  /** Packets received from clients, with their arrival time. */
  readonly received: number[] = [];
  readonly serviceCalls: Uint8Array[] = [];
  /** The length of every ack message received, in bytes. */
  readonly ackLengths: number[] = [];
  lose: (hop: Uint8Array) => boolean = () => false;
  /** Packets reaching a hop it names wait there (a stopped node's queue) until `release`. */
  hold: (hop: Uint8Array) => boolean = () => false;
  readonly #held: { readonly packet: Uint8Array; readonly hop: Uint8Array }[] = [];
  /** How long every packet takes through the mixes. */
  transitMs = 0;
  handler: (request: Uint8Array) => Promise<Uint8Array> = async (request) => request;
  readonly #inboxes = new Map<string, Inbox>();
  /** Packets read from each connection. */
  readonly #packetsRead = new WeakMap<WsSocket, bigint>();
  /** While hung: everything it would have done, in order. */
  #backlog: (() => void)[] | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  readonly #requests = new Reassembler<Uint8Array | undefined>({
    maxPending: 64,
    maxPendingBytes: 1 << 22,
    maxAgeMs: 60_000,
  });
  #server: WebSocketServer | undefined;
  #port = 0;

  constructor(network: TestNetwork) {
    this.network = network;
  }

  get id(): Uint8Array {
    return (this.network.gateways[0] as { id: Uint8Array }).id;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#port}/v1/client`;
  }

  async start(): Promise<this> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: this.#port, path: '/v1/client' });
    await once(server, 'listening');
    this.#port = (server.address() as AddressInfo).port;
    server.on('connection', (socket) => this.#accept(socket));
    this.#server = server;
    return this;
  }

  /** Closes the listener and every connection, as a killed gateway would. Inboxes survive for a restart. */
  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const client of server.clients) client.terminate();
    server.close();
    await once(server, 'close');
  }

  /** Drops every client connection (a reset), staying up for the next ones. */
  dropClients(): void {
    for (const client of this.#server?.clients ?? []) client.terminate();
  }

  /** Packets waiting at held hops. */
  get heldCount(): number {
    return this.#held.length;
  }

  /** Stops holding and sends on every packet that waited, oldest first (the node resumed). */
  release(): void {
    this.hold = () => false;
    for (const { packet, hop } of this.#held.splice(0)) this.#route(packet, hop);
  }

  /** Sends one padding frame to every connected client. */
  pad(): void {
    for (const inbox of this.#inboxes.values()) {
      const socket = inbox.socket;
      if (socket) this.#send(socket, paddingFrame(this.#packetsRead.get(socket) ?? 0n));
    }
  }

  /** Pads every `periodMs`, as the real gateway's downstream clock does on ticks without an item. */
  heartbeat(periodMs: number): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.pad(), periodMs);
    this.#heartbeat.unref();
  }

  /** Stops reading and sending, as SIGSTOP would; sockets stay open. */
  hang(): void {
    this.#backlog ??= [];
  }

  /** Does what waited while hung, in order, then carries on (SIGCONT). */
  resume(): void {
    const backlog = this.#backlog ?? [];
    this.#backlog = undefined;
    for (const action of backlog) action();
  }

  get hung(): boolean {
    return this.#backlog !== undefined;
  }

  /** Runs `action` now, or on `resume` if hung. */
  #act(action: () => void): void {
    if (this.#backlog) this.#backlog.push(action);
    else action();
  }

  count(kind: SeenKind): number {
    return this.seen.filter((entry) => entry.kind === kind).length;
  }

  #accept(socket: WsSocket): void {
    let inbox: Inbox | undefined;
    socket.on('message', (data: Buffer, isBinary: boolean) => this.#act(() => receive(data, isBinary)));
    const receive = (data: Buffer, isBinary: boolean): void => {
      if (!isBinary) {
        socket.close();
        return;
      }
      const message = protocol.decodeClientMessage(new Uint8Array(data));
      if (message.kind === 'hello') {
        const id = toHex(inboxId(message.value.inboxSecret));
        inbox = this.#inboxes.get(id) ?? { sequence: 0n, items: new Map(), socket: undefined };
        this.#inboxes.set(id, inbox);
        inbox.socket = socket;
        this.#send(socket, {
          kind: 'welcome',
          value: {
            version: CLIENT_PROTOCOL_VERSION,
            gatewayId: this.id,
            inboxId: inboxId(message.value.inboxSecret),
            pending: inbox.items.size,
            dropped: 0,
            inboxQuota: 1000,
            itemTtlSeconds: 72 * 3600,
            sendRate: 1_000_000,
            burst: 1000,
            downstreamRate: 1_000_000,
          },
        });
        for (const item of inbox.items.values()) this.#sendItem(socket, item);
      } else if (message.kind === 'packet') {
        this.#packetsRead.set(socket, (this.#packetsRead.get(socket) ?? 0n) + 1n);
        this.received.push(performance.now());
        const { packet } = message.value;
        if (this.transitMs > 0) setTimeout(() => this.#route(packet, this.id), this.transitMs);
        else this.#route(packet, this.id);
      } else if (inbox) {
        this.ackLengths.push(data.length);
        for (const sequence of message.value.sequences) inbox.items.delete(sequence);
      }
    };
  }

  #send(socket: WsSocket, message: GatewayMessage): void {
    this.#act(() => {
      if (socket.readyState === WsSocket.OPEN) socket.send(protocol.encodeGatewayMessage(message));
    });
  }

  #sendItem(socket: WsSocket, item: InboxItem): void {
    this.#send(socket, {
      kind: 'item',
      value: { packetsRead: this.#packetsRead.get(socket) ?? 0n, ...item },
    });
  }

  #item(recipient: Uint8Array, content: InboxItem['content']): void {
    const inbox = this.#inboxes.get(toHex(recipient));
    if (!inbox) return;
    inbox.sequence++;
    const item = { sequence: inbox.sequence, receivedAt: BigInt(Date.now()), content };
    inbox.items.set(item.sequence, item);
    if (inbox.socket) this.#sendItem(inbox.socket, item);
  }

  /** Takes `packet` through every hop from `hop`, then acts as its final hop would. */
  #route(packet: Uint8Array, hop: Uint8Array): void {
    let current = packet;
    let at = hop;
    for (;;) {
      if (this.lose(at)) {
        this.seen.push({ kind: 'lost', at: performance.now() });
        return;
      }
      if (this.hold(at)) {
        this.#held.push({ packet: current, hop: at });
        return;
      }
      const result = sphinx.unwrap(this.network.secretKey(at), current);
      if (result.kind === 'forward') {
        current = result.packet;
        at = result.nextHop;
        continue;
      }
      if (result.kind === 'reply') {
        this.seen.push({ kind: 'reply', at: performance.now() });
        if (result.recipient) {
          this.#item(result.recipient, {
            kind: 'reply',
            value: { surbId: result.surbId, payload: result.payload },
          });
        }
        return;
      }
      const recipient = result.recipient;
      if (!recipient) {
        this.seen.push({ kind: 'drop', at: performance.now() });
        return;
      }
      if (toHex(recipient) === toHex(serviceId(ECHO_SERVICE))) {
        this.seen.push({ kind: 'request', at: performance.now() });
        void this.#serve(result.payload);
        return;
      }
      this.seen.push({ kind: 'loop', at: performance.now() });
      this.#item(recipient, { kind: 'message', value: { payload: result.payload } });
      return;
    }
  }

  async #serve(payload: Uint8Array): Promise<void> {
    const { userPayload, surb } = decodeForwardPayload(geometry, payload);
    const fragment = decodeRequestFragment(geometry, userPayload);
    const complete = this.#requests.add(fragment, surb);
    if (!complete) return;
    this.serviceCalls.push(complete.data);
    const surbs = complete.attachments.filter((attachment) => attachment !== undefined);
    const response = await this.handler(complete.data);
    const replies = splitReply(geometry, fragment.requestId, 'ok', response, surbs.length);
    replies.forEach((reply, index) => {
      const { packet, firstHop } = sphinx.newPacketFromSurb(surbs[index] as Uint8Array, reply);
      this.#route(packet, firstHop);
    });
  }
}

export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
