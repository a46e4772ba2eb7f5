// A raw test client of the gateway protocol: it speaks src/protocol/gateway-protocol.ts over a real
// WebSocket, builds its own Sphinx packets and SURBs from the network document (entry gateway → one mix per
// layer → exit gateway), and records what its inbox receives. No carrier logic: just enough to drive the
// gateways.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { type ClientOptions } from 'ws';
import { toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { DocumentNode, NetworkDocument } from '../../src/directory/document.ts';
import {
  ClientProtocol,
  type GatewayMessage,
  helloMessage,
  type InboxItem,
  inboxId,
  type Welcome,
} from '../../src/protocol/gateway-protocol.ts';
import {
  decodeReplyFragment,
  newRequestId,
  type ReplyFragment,
  serviceId,
  splitRequest,
} from '../../src/protocol/service-framing.ts';
import {
  decodeForwardPayload,
  encodeForwardPayload,
  type Geometry,
  type HopCommand,
  type PathHop,
  Sphinx,
  type SurbKeys,
} from '../../src/sphinx/index.ts';

export async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function temporaryDirectory(): Promise<{
  path: string;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const path = await mkdtemp(join(tmpdir(), 'umbra-gateway-'));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

function hop(node: DocumentNode, commands: readonly HopCommand[] = []): PathHop {
  return { id: node.id, publicKey: node.sphinxKeys.current, commands };
}

/** Mix layers of the document, each a list of nodes. */
function layersOf(document: NetworkDocument): DocumentNode[][] {
  return Array.from({ length: document.parameters.layers }, (_, index) =>
    document.nodes.filter((node) => node.role === 'mix' && node.layer === index + 1),
  );
}

export function gatewayNode(document: NetworkDocument, id: Uint8Array): DocumentNode {
  const node = document.nodes.find((candidate) => toHex(candidate.id) === toHex(id));
  if (!node) throw new Error('the gateway is not in the document');
  return node;
}

/** first → one node of every layer → last (with `lastCommands`). */
export function path(
  document: NetworkDocument,
  first: DocumentNode,
  last: DocumentNode,
  lastCommands: readonly HopCommand[],
): PathHop[] {
  const mixes = layersOf(document).map((nodes) =>
    hop(nodes[Math.floor(Math.random() * nodes.length)] as DocumentNode),
  );
  return [hop(first), ...mixes, hop(last, lastCommands)];
}

export class RawClient {
  readonly secret = randomBytes(32);
  readonly inbox = inboxId(this.secret);
  readonly items: InboxItem[] = [];
  /** Every downstream frame in order of arrival: an item or padding, its length on the wire, its packet count. */
  readonly frames: {
    readonly kind: 'item' | 'padding';
    readonly bytes: number;
    readonly packetsRead: bigint;
  }[] = [];
  readonly errors: Extract<GatewayMessage, { kind: 'error' }>['value'][] = [];
  readonly protocol: ClientProtocol;
  readonly sphinx: Sphinx;
  readonly #surbs = new Map<string, SurbKeys>();
  welcome: Welcome | undefined;
  socket: WebSocket | undefined;
  closed = false;

  constructor(geometry: Geometry) {
    this.protocol = new ClientProtocol(geometry);
    this.sphinx = new Sphinx(geometry, nodeBackend);
  }

  get geometry(): Geometry {
    return this.protocol.geometry;
  }

  /** Connects and says hello; resolves on the welcome (or rejects on a fatal error). */
  async connect(
    url: string,
    hello = helloMessage(this.geometry, this.secret),
    options: ClientOptions = {},
  ): Promise<Welcome> {
    await this.open(url, options);
    this.sendRaw(this.protocol.encodeClientMessage(hello));
    await until(() => this.welcome !== undefined || this.closed, 'the welcome');
    if (!this.welcome) throw new Error(`refused: ${this.errors.map((error) => error.reason).join(',')}`);
    return this.welcome;
  }

  /** Opens the WebSocket without saying anything. */
  async open(url: string, options: ClientOptions = {}): Promise<void> {
    this.welcome = undefined;
    this.closed = false;
    const socket = new WebSocket(url, options);
    this.socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer) => {
      const message = this.protocol.decodeGatewayMessage(new Uint8Array(data));
      if (message.kind === 'welcome') this.welcome = message.value;
      else if (message.kind === 'error') this.errors.push(message.value);
      else {
        this.frames.push({ kind: message.kind, bytes: data.length, packetsRead: message.value.packetsRead });
        if (message.kind === 'item') this.items.push(message.value);
      }
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket?.send(bytes);
  }

  sendPacket(packet: Uint8Array): void {
    this.sendRaw(this.protocol.encodeClientMessage({ kind: 'packet', value: { packet } }));
  }

  ack(sequences: readonly bigint[]): void {
    this.sendRaw(this.protocol.encodeClientMessage({ kind: 'ack', value: { sequences } }));
  }

  /** A message for `recipient`'s inbox at `exit`, entering at `entry`. */
  messagePacket(
    document: NetworkDocument,
    entry: DocumentNode,
    exit: DocumentNode,
    recipient: Uint8Array,
    body: Uint8Array,
  ): Uint8Array {
    const payload = encodeForwardPayload(this.geometry, body);
    return this.sphinx.newPacket(
      path(document, entry, exit, [{ type: 'recipient', id: recipient }]),
      payload,
    );
  }

  /** A SURB that brings a reply from `exit` back to this client's inbox at `home`. */
  surb(document: NetworkDocument, exit: DocumentNode, home: DocumentNode): Uint8Array {
    const surbId = randomBytes(16);
    const { surb, keys } = this.sphinx.newSurb(
      path(document, exit, home, [
        { type: 'recipient', id: this.inbox },
        { type: 'surb_reply', id: surbId },
      ]),
    );
    this.#surbs.set(toHex(surbId), keys);
    return surb;
  }

  /** The packets of one request to `service` at `exit`, each with a SURB back to `home`. */
  requestPackets(
    document: NetworkDocument,
    service: string,
    request: Uint8Array,
    route: { entry: DocumentNode; exit: DocumentNode; home: DocumentNode },
    surbCount = 1,
  ): { requestId: Uint8Array; packets: Uint8Array[] } {
    const requestId = newRequestId();
    const fragments = splitRequest(this.geometry, requestId, request, surbCount);
    const packets = fragments.map((fragment, index) => {
      const surb = index < surbCount ? this.surb(document, route.exit, route.home) : undefined;
      const payload = encodeForwardPayload(this.geometry, fragment, surb);
      return this.sphinx.newPacket(
        path(document, route.entry, route.exit, [{ type: 'recipient', id: serviceId(service) }]),
        payload,
      );
    });
    return { requestId, packets };
  }

  /** The reply fragments received so far, opened with the SURB keys kept for them. */
  replies(): ReplyFragment[] {
    return this.items.flatMap((item) => {
      if (item.content.kind !== 'reply') return [];
      const keys = this.#surbs.get(toHex(item.content.value.surbId));
      if (!keys) return [];
      return [
        decodeReplyFragment(this.geometry, this.sphinx.decryptSurbPayload(item.content.value.payload, keys)),
      ];
    });
  }

  /** User payloads of the messages received (zero padding included). */
  messages(): Uint8Array[] {
    return this.items.flatMap((item) =>
      item.content.kind === 'message'
        ? [decodeForwardPayload(this.geometry, item.content.value.payload).userPayload]
        : [],
    );
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket || this.closed) return;
    socket.close();
    await until(() => this.closed, 'the socket to close');
  }
}

/** The value of one sample in a node's /metrics (0 when absent); `labels` as Prometheus prints them. */
export async function metric(opsUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const sample = `${name}${labels ? `{${labels}}` : ''} `;
  const line = text.split('\n').find((candidate) => candidate.startsWith(sample));
  return line ? Number(line.slice(sample.length)) : 0;
}

/** Polls `read` until `accept` holds. */
export async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
