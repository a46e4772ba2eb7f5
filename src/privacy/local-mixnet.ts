/**
 * A whole mix network in one process, over real TLS links on 127.0.0.1, for the privacy harness, the fault
 * tests and the benchmark: gateways (entry: the first Sphinx hop, forwarding at once; exit: the final hop,
 * delivering to recipients), `layers` × `nodesPerLayer` real `MixNode`s, and clients that send one Sphinx
 * packet per tick of a Poisson process — the next real message if one is queued, else a loop (to their own
 * inbox) or a drop packet — as the design brief (§2, §4) and Loopix describe. Every link, client links
 * included, can run through a `GlobalObserver` tap.
 *
 * With `mixing: 'off'`, each mix position is a `Relay` that unwraps and forwards every packet the moment it
 * arrives: the "batch size 1, no round" network, for showing that the harness detects the leak. `MixNode`
 * itself cannot be configured that way (its rounds are at least 1 ms and always whole batches of B packets,
 * topped up with dummies that would flood the later layers). The gateways here are stand-ins for
 * `src/gateway/`: no WebSocket, no inbox storage, no replay filter.
 */
import { join } from 'node:path';
import { toHex } from '../bytes.ts';
import { nodeBackend } from '../crypto/backends/node.ts';
import { randomBytes, randomInt } from '../crypto/random.ts';
import type { KeyPair } from '../crypto/secret.ts';
import { DEFAULT_MIXING_PARAMETERS } from '../directory/document.ts';
import { generateSphinxKeyPair } from '../hop/index.ts';
import { Link, LinkServer, TlsIdentity } from '../links/index.ts';
import {
  type EpochClock,
  type Logger,
  type Metrics,
  MixNode,
  type PeerDescriptor,
  type PoolParameters,
  type RouteNode,
  type Topology,
} from '../mixnode/index.ts';
import { Geometry, type PathHop, Sphinx } from '../sphinx/index.ts';
import { type GlobalObserver, wallClock } from './observer.ts';

/** The directory's default geometry: X25519 Sphinx, 2,000-byte payload with room for a SURB, 5 hops. */
export const DEFAULT_GEOMETRY = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 2000,
  withSurb: true,
  nrHops: 5,
});

const EPOCH_MS = 3_600_000;

/** Wall-clock epochs of an hour: a run crossing a boundary is covered by the grace period. */
const clock: EpochClock = {
  now: () => Date.now(),
  epochAt: (time) => Math.floor(time / EPOCH_MS),
  startOf: (epoch) => epoch * EPOCH_MS,
};

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Counters of every mix node, summed (packets in and out, dummies, drops by reason). */
export class NetworkMetrics implements Metrics {
  readonly counters = new Map<string, number>();
  increment(name: string, amount = 1, labels?: { readonly reason: string }): void {
    const key = labels ? `${name}{${labels.reason}}` : name;
    this.counters.set(key, (this.counters.get(key) ?? 0) + amount);
  }
  setGauge(): void {}
  observe(): void {}
}

export interface LocalMixnetOptions {
  /** Holds every mix node's data directory (TLS identity, keys, replay filter). */
  readonly dataDir: string;
  readonly layers: number;
  readonly nodesPerLayer: number;
  readonly gateways: number;
  readonly roundPeriodMs: number;
  readonly batchSize: number;
  /** 'rounds': real MixNodes; 'off': immediate relays in their place. */
  readonly mixing: 'rounds' | 'off';
  readonly geometry?: Geometry;
  readonly observer?: GlobalObserver;
  /** Crypto worker threads per mix node; default 0 (inline), as many nodes share this machine. */
  readonly workers?: number;
  /** The mix nodes' pool (docs/mixnode.md "The pool"); default theirs. */
  readonly pool?: PoolParameters;
}

/** A packet that reached its final hop at an exit gateway with a recipient. */
export interface Delivery {
  readonly at: number;
  readonly exit: string;
  readonly recipient: string;
  readonly payload: Uint8Array;
}

/** A gateway or mix position of the network, whether or not its node is running. */
export interface Member {
  readonly label: string;
  readonly id: Uint8Array;
  readonly role: 'gateway' | 'mix';
  readonly layer: number;
  running(): PeerDescriptor | undefined;
  publicKey(epoch: number): Uint8Array | undefined;
}

/** A Sphinx hop that forwards at once: the entry/exit gateway, and the mix of a network without mixing. */
export class Relay {
  readonly label: string;
  readonly id: Uint8Array;
  readonly identity = TlsIdentity.generate();
  readonly keys: KeyPair;
  readonly #sphinx: Sphinx;
  readonly #topology: Topology;
  readonly #links = new Map<string, Link>();
  readonly #onDeliver: (delivery: Delivery) => void;
  #server: LinkServer | undefined;
  /** Frames that failed to unwrap or named an unknown next hop. */
  failures = 0;

  constructor(
    label: string,
    geometry: Geometry,
    topology: Topology,
    onDeliver: (delivery: Delivery) => void,
  ) {
    this.label = label;
    this.id = randomBytes(32);
    this.keys = generateSphinxKeyPair(geometry, nodeBackend);
    this.#sphinx = new Sphinx(geometry, nodeBackend);
    this.#topology = topology;
    this.#onDeliver = onDeliver;
  }

  async start(): Promise<void> {
    const { geometry } = this.#sphinx;
    this.#server = await LinkServer.listen({
      identity: this.identity,
      host: '127.0.0.1',
      port: 0,
      frameLength: geometry.packetLength,
      preamble: geometry.hash(),
      // Clients are anonymous: any certificate may send to a gateway; mixes check senders themselves.
      authorize: () => true,
      onFrame: (frame) => this.#receive(frame),
    });
  }

  get peer(): PeerDescriptor | undefined {
    return this.#server && { address: this.#server.address, tlsFingerprint: this.identity.fingerprint };
  }

  async stop(): Promise<void> {
    await this.#server?.close();
    this.#server = undefined;
    await Promise.all([...this.#links.values()].map((link) => link.close()));
    this.#links.clear();
  }

  #receive(frame: Uint8Array): void {
    let result: ReturnType<Sphinx['unwrap']>;
    try {
      result = this.#sphinx.unwrap(this.keys.secretKey, frame);
    } catch {
      this.failures++;
      return;
    }
    if (result.kind === 'forward') {
      const peer = this.#topology.peer(result.nextHop);
      if (!peer) {
        this.failures++;
        return;
      }
      this.#link(toHex(result.nextHop), peer).send([result.packet]);
    } else if (result.kind === 'final' && result.recipient) {
      this.#onDeliver({
        at: wallClock(),
        exit: this.label,
        recipient: toHex(result.recipient),
        payload: result.payload,
      });
    }
  }

  #link(key: string, peer: PeerDescriptor): Link {
    const existing = this.#links.get(key);
    if (existing && existing.peer.port === peer.address.port) return existing;
    void existing?.close();
    const { geometry } = this.#sphinx;
    const link = new Link({
      identity: this.identity,
      peer: { ...peer.address, fingerprint: peer.tlsFingerprint },
      frameLength: geometry.packetLength,
      preamble: geometry.hash(),
      backoff: { initialMs: 20, maxMs: 500 },
    });
    this.#links.set(key, link);
    return link;
  }
}

/** A uniform number in [0, 1) from the CSPRNG: send times must be unpredictable to the adversary. */
export function uniform(): number {
  return randomInt(2 ** 32) / 2 ** 32;
}

/** A gap of a Poisson process of `rate` per second, in milliseconds. */
export function exponential(rate: number): number {
  return (-Math.log(1 - uniform()) / rate) * 1000;
}

/** `read`: a recipient's read request to the service after a delivery (the burst experiment's receivers). */
export type PacketKind = 'real' | 'read' | 'loop' | 'drop';

/** What a client sent: the harness's ground truth. */
export interface Sent {
  readonly at: number;
  readonly client: string;
  readonly kind: PacketKind;
  /** For real and read packets: the message number. */
  readonly message: number;
  readonly recipient: string | undefined;
}

/** The first payload byte of a harness packet. */
export const KIND_CODE: Record<PacketKind, number> = { real: 1, loop: 2, drop: 3, read: 4 };

/** Reads the header a harness client puts in every payload: kind code and message number. */
export function readPayload(payload: Uint8Array): { kind: number; message: number } {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { kind: view.getUint8(0), message: view.getUint32(1) };
}

/** A client that sends one packet per tick of a Poisson process of rate `clientSendRate` per second. */
export class LocalClient {
  readonly label: string;
  readonly id = randomBytes(32);
  readonly identity = TlsIdentity.generate();
  readonly #network: LocalMixnet;
  readonly #gateway: Member;
  readonly #clientSendRate: number;
  readonly #loopCoverShare: number;
  readonly #queue: { message: number; recipient: Uint8Array; kind: 'real' | 'read' }[] = [];
  #link: Link | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    network: LocalMixnet,
    label: string,
    gateway: Member,
    clientSendRate: number,
    loopCoverShare: number,
  ) {
    this.#network = network;
    this.label = label;
    this.#gateway = gateway;
    this.#clientSendRate = clientSendRate;
    this.#loopCoverShare = loopCoverShare;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Queues a real message (or a read request) for `recipient`; it leaves on one of the next ticks. */
  enqueue(message: number, recipient: Uint8Array, kind: 'real' | 'read' = 'real'): void {
    this.#queue.push({ message, recipient, kind });
  }

  async start(): Promise<void> {
    const { geometry, observer } = this.#network;
    const gateway = this.#gateway;
    const direct = gateway.running();
    if (!direct) throw new Error(`gateway ${gateway.label} is not running`);
    const address = observer
      ? await observer.tap(this.label, gateway.label, () => gateway.running()?.address)
      : direct.address;
    this.#link = new Link({
      identity: this.identity,
      peer: { ...address, fingerprint: direct.tlsFingerprint },
      frameLength: geometry.packetLength,
      preamble: geometry.hash(),
    });
    this.#tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#link?.close();
  }

  #tick(next = wallClock()): void {
    // Exponential gaps from the previous tick's scheduled time, not from when its timer ran: a Poisson
    // process of rate λ however late the event loop is.
    const at = next + exponential(this.#clientSendRate);
    this.#timer = setTimeout(
      () => {
        this.#send();
        if (this.#timer) this.#tick(at);
      },
      Math.max(0, at - wallClock()),
    );
  }

  /**
   * Sends a read request at once, outside the Poisson schedule: what a client without constant-rate
   * sending does when told of a message (the receiver baseline of the burst experiment).
   */
  sendNow(message: number, recipient: Uint8Array): void {
    this.#send({ message, recipient, kind: 'read' });
  }

  #send(next = this.#queue.shift()): void {
    let kind: PacketKind;
    let recipient: Uint8Array | undefined;
    if (next) {
      kind = next.kind;
      recipient = next.recipient;
    } else if (uniform() < this.#loopCoverShare) {
      kind = 'loop';
      recipient = this.id;
    } else {
      kind = 'drop';
    }
    const message = next?.message ?? 0;
    const packet = this.#network.packet(this.#gateway, recipient, kind, message);
    if (!packet) {
      if (next) this.#queue.unshift(next);
      return;
    }
    this.#link?.send([packet]);
    this.#network.sent.push({
      at: wallClock(),
      client: this.label,
      kind,
      message,
      recipient: recipient && toHex(recipient),
    });
  }
}

export class LocalMixnet {
  readonly options: LocalMixnetOptions;
  readonly geometry: Geometry;
  readonly observer: GlobalObserver | undefined;
  readonly metrics = new NetworkMetrics();
  readonly sent: Sent[] = [];
  readonly delivered: Delivery[] = [];
  readonly gateways: Relay[] = [];
  /** Mix nodes by layer (undefined while stopped); relays instead when mixing is off. */
  readonly mixes: (MixNode | Relay | undefined)[][] = [];
  readonly clients: LocalClient[] = [];
  readonly #members: Member[] = [];
  readonly #sphinx: Sphinx;
  readonly #listeners = new Set<(delivery: Delivery) => void>();

  private constructor(options: LocalMixnetOptions) {
    this.options = options;
    this.geometry = options.geometry ?? DEFAULT_GEOMETRY;
    this.observer = options.observer;
    this.#sphinx = new Sphinx(this.geometry, nodeBackend);
  }

  static async start(options: LocalMixnetOptions): Promise<LocalMixnet> {
    const network = new LocalMixnet(options);
    await network.#start();
    return network;
  }

  /** Calls `listener` on every delivery to a recipient; returns the function that unsubscribes it. */
  onDelivery(listener: (delivery: Delivery) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Adds and starts `count` clients, spread over the gateways, sending at `clientSendRate` packets per
   * second, of whose cover `loopCoverShare` loops (default the directory's).
   */
  async addClients(
    count: number,
    clientSendRate: number,
    loopCoverShare = DEFAULT_MIXING_PARAMETERS.loopCoverShare,
  ): Promise<LocalClient[]> {
    const gateways = this.#members.filter((member) => member.role === 'gateway');
    const added: LocalClient[] = [];
    for (let i = 0; i < count; i++) {
      const index = this.clients.length;
      const gateway = gateways[index % gateways.length] as Member;
      const client = new LocalClient(this, `client${index}`, gateway, clientSendRate, loopCoverShare);
      this.clients.push(client);
      added.push(client);
    }
    await Promise.all(added.map((client) => client.start()));
    return added;
  }

  /**
   * A Sphinx packet from a client of `entry`: entry → one live node per layer, uniformly → an exit gateway.
   * Undefined when some layer has no live node.
   */
  packet(
    entry: Member,
    recipient: Uint8Array | undefined,
    kind: PacketKind,
    message: number,
  ): Uint8Array | undefined {
    const epoch = clock.epochAt(clock.now());
    const hops: PathHop[] = [];
    const positions = [
      [entry],
      ...Array.from({ length: this.options.layers }, (_, layer) =>
        this.#members.filter((member) => member.role === 'mix' && member.layer === layer + 1),
      ),
      this.#members.filter((member) => member.role === 'gateway'),
    ];
    for (const candidates of positions) {
      const live = candidates.filter((member) => member.running() && member.publicKey(epoch));
      const member = live[randomInt(Math.max(1, live.length))];
      const publicKey = member?.publicKey(epoch);
      if (!member || !publicKey) return undefined;
      hops.push({ id: member.id, publicKey });
    }
    const exit = hops[hops.length - 1] as PathHop;
    hops[hops.length - 1] = { ...exit, commands: recipient ? [{ type: 'recipient', id: recipient }] : [] };
    const payload = new Uint8Array(5);
    const view = new DataView(payload.buffer);
    view.setUint8(0, KIND_CODE[kind]);
    view.setUint32(1, message);
    return this.#sphinx.newPacket(hops, payload);
  }

  /**
   * Stops everything from the clients down the layers to the gateways, each layer after the one before it
   * has closed its links, so that every link ends gracefully after whole frames.
   */
  async stop(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.stop()));
    for (const row of this.mixes) await Promise.all(row.map((node) => node?.stop()));
    await Promise.all(this.gateways.map((gateway) => gateway.stop()));
    await this.observer?.close();
  }

  async #start(): Promise<void> {
    const { layers, nodesPerLayer, gateways, mixing } = this.options;
    if (this.geometry.nrHops !== layers + 2) throw new Error('the geometry must have layers + 2 hops');
    for (let i = 0; i < gateways; i++) {
      const relay = new Relay(`gw${i}`, this.geometry, this.#topology(`gw${i}`, 0), (delivery) =>
        this.#deliver(delivery),
      );
      this.gateways.push(relay);
      this.#members.push({
        label: relay.label,
        id: relay.id,
        role: 'gateway',
        layer: 0,
        running: () => relay.peer,
        publicKey: () => relay.keys.publicKey,
      });
    }
    for (let layer = 1; layer <= layers; layer++) {
      const row: (MixNode | Relay | undefined)[] = [];
      this.mixes.push(row);
      for (let index = 0; index < nodesPerLayer; index++) {
        const label = `mix${layer}.${index}`;
        if (mixing === 'off') {
          const relay = new Relay(label, this.geometry, this.#topology(label, layer), () => {});
          row.push(relay);
          this.#members.push({
            label,
            id: relay.id,
            role: 'mix',
            layer,
            running: () => (row[index] ? relay.peer : undefined),
            publicKey: () => relay.keys.publicKey,
          });
        } else {
          row.push(undefined);
          this.#members.push({
            label,
            id: randomBytes(32),
            role: 'mix',
            layer,
            running: () => {
              const node = row[index];
              return node instanceof MixNode
                ? { address: node.address, tlsFingerprint: node.tlsFingerprint }
                : undefined;
            },
            publicKey: (epoch) => {
              const node = row[index];
              return node instanceof MixNode
                ? node.publicKeys().find((key) => key.epoch === epoch)?.publicKey
                : undefined;
            },
          });
        }
      }
    }
    // Taps before any traffic, so that the observer sees every link from its first byte.
    if (this.observer) {
      for (const from of this.#members) {
        for (const to of this.#nextHops(from)) {
          await this.observer.tap(from.label, to.label, () => to.running()?.address);
        }
      }
    }
    await Promise.all(this.gateways.map((gateway) => gateway.start()));
    await Promise.all(
      this.#members
        .filter((member) => member.role === 'mix')
        .map((member) => {
          const row = this.mixes[member.layer - 1] as (MixNode | Relay | undefined)[];
          const index = Number(member.label.split('.')[1]);
          const node = row[index];
          return node instanceof Relay ? node.start() : this.#startMix(member);
        }),
    );
  }

  /** Where `from` sends: gateways to layer 1, each layer to the next, the last layer to the exits. */
  #nextHops(from: Member): Member[] {
    const { layers } = this.options;
    if (from.role === 'mix' && from.layer === layers) {
      return this.#members.filter((member) => member.role === 'gateway');
    }
    const next = from.role === 'gateway' ? 1 : from.layer + 1;
    return this.#members.filter((member) => member.role === 'mix' && member.layer === next);
  }

  async #startMix(member: Member): Promise<MixNode> {
    const { roundPeriodMs, batchSize, dataDir, workers, pool } = this.options;
    const node = await MixNode.start({
      id: member.id,
      geometry: this.geometry,
      dataDir: join(dataDir, member.label),
      listen: { host: '127.0.0.1', port: 0 },
      topology: this.#topology(member.label, member.layer),
      epochs: clock,
      metrics: this.metrics,
      logger: silent,
      round: { roundPeriodMs, batchSize },
      graceMs: DEFAULT_MIXING_PARAMETERS.keyGracePeriodMs,
      workers: workers ?? 0,
      ...(pool === undefined ? {} : { pool }),
    });
    const row = this.mixes[member.layer - 1] as (MixNode | Relay | undefined)[];
    row[Number(member.label.split('.')[1])] = node;
    return node;
  }

  /** What the node `label` in mix layer `layer` (0 for a gateway) is told by the network document. */
  #topology(label: string, layer: number): Topology {
    return {
      peer: (id) => {
        const hex = toHex(id);
        const member = this.#members.find((candidate) => toHex(candidate.id) === hex);
        const peer = member?.running();
        if (!member || !peer) return undefined;
        const tapped = this.observer?.tapped(label, member.label);
        return tapped ? { ...peer, address: tapped } : peer;
      },
      // The harness studies what an observer sees, not link authorization (test/links covers that).
      isAllowedSender: () => true,
      hopsAfter: (epoch) => {
        const positions: Member[][] = [];
        for (let next = layer + 1; next <= this.options.layers; next++) {
          positions.push(this.#members.filter((member) => member.role === 'mix' && member.layer === next));
        }
        positions.push(this.#members.filter((member) => member.role === 'gateway'));
        return positions.map((members) =>
          members.flatMap((member): RouteNode[] => {
            const key = member.publicKey(epoch);
            return key && member.running() ? [{ id: member.id, sphinxPublicKey: key }] : [];
          }),
        );
      },
    };
  }

  #deliver(delivery: Delivery): void {
    this.delivered.push(delivery);
    for (const listener of this.#listeners) listener(delivery);
  }
}
