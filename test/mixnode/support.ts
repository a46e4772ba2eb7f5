// In-memory implementations of the mix node's interfaces (network document, epoch clock, metrics, logger)
// and the two ends of a test network: a gateway that injects packets over a real link, and an exit sink that
// unwraps the final hop and records what arrived and when.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { KeyPair } from '../../src/crypto/secret.ts';
import { Link, LinkServer, TlsIdentity } from '../../src/links/index.ts';
import type {
  DropReason,
  EpochClock,
  LogFields,
  Logger,
  Metrics,
  MixCounter,
  MixNode,
  MixNodeOptions,
  PeerDescriptor,
  RouteNode,
  Topology,
} from '../../src/mixnode/index.ts';
import { Geometry, type PathHop, Sphinx } from '../../src/sphinx/index.ts';

export const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 64,
  withSurb: false,
  nrHops: 5,
});
export const sphinx = new Sphinx(geometry, nodeBackend);

export class MemoryMetrics implements Metrics {
  readonly counters = new Map<string, number>();
  readonly gauges = new Map<string, number>();
  readonly observations = new Map<string, number[]>();

  increment(name: MixCounter, amount = 1, labels?: { readonly reason: DropReason }): void {
    const key = labels ? `${name}{${labels.reason}}` : name;
    this.counters.set(key, (this.counters.get(key) ?? 0) + amount);
  }

  setGauge(name: string, value: number): void {
    this.gauges.set(name, value);
  }

  observe(name: string, value: number): void {
    const values = this.observations.get(name) ?? [];
    values.push(value);
    this.observations.set(name, values);
  }

  count(name: MixCounter, reason?: DropReason): number {
    return this.counters.get(reason ? `${name}{${reason}}` : name) ?? 0;
  }
}

export class MemoryLogger implements Logger {
  readonly lines: { level: string; message: string; fields: LogFields }[] = [];
  debug(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'debug', message, fields });
  }
  info(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: 'error', message, fields });
  }
}

/** Epochs of `lengthMs` from the Unix epoch, read from a clock the test moves. */
export class TestClock implements EpochClock {
  readonly lengthMs: number;
  time: number;

  constructor(lengthMs: number, time = Date.now()) {
    this.lengthMs = lengthMs;
    this.time = time;
  }

  now(): number {
    return this.time;
  }

  epochAt(time: number): number {
    return Math.floor(time / this.lengthMs);
  }

  startOf(epoch: number): number {
    return epoch * this.lengthMs;
  }
}

/** Anything that can receive packets: its Sphinx id, where it listens, its pin, its key for an epoch. */
interface Member {
  readonly id: Uint8Array;
  readonly peer: () => PeerDescriptor | undefined;
  readonly publicKey: (epoch: number) => Uint8Array | undefined;
  readonly fingerprint: Uint8Array;
}

/** The network document of a test: mix layers, exits, and the gateways allowed to send into layer 1. */
export class TestNetwork {
  readonly layers: Member[][] = [];
  readonly exits: Member[] = [];
  readonly senders: Uint8Array[] = [];
  readonly #taps = new Map<string, WireTap>();

  /** Routes every link to the member `id` through `tap`. */
  tap(id: Uint8Array, tap: WireTap): void {
    this.#taps.set(toHex(id), tap);
  }

  addMix(layer: number, id: Uint8Array, node: () => MixNode | undefined): void {
    while (this.layers.length <= layer) this.layers.push([]);
    (this.layers[layer] as Member[]).push({
      id,
      peer: () => {
        const running = node();
        return running && { address: running.address, tlsFingerprint: running.tlsFingerprint };
      },
      publicKey: (epoch) =>
        node()
          ?.publicKeys()
          .find((key) => key.epoch === epoch)?.publicKey,
      get fingerprint() {
        return node()?.tlsFingerprint ?? new Uint8Array(32);
      },
    });
  }

  addExit(sink: Sink): void {
    this.exits.push({
      id: sink.id,
      peer: () => ({ address: sink.address, tlsFingerprint: sink.identity.fingerprint }),
      publicKey: () => sink.keys.publicKey,
      fingerprint: sink.identity.fingerprint,
    });
  }

  /** The view of the node in mix layer `layer` (0-based). */
  topology(layer: number): Topology {
    return {
      peer: (id) => {
        const peer = this.#members()
          .find((member) => toHex(member.id) === toHex(id))
          ?.peer();
        const tap = this.#taps.get(toHex(id));
        return peer && tap ? { ...peer, address: tap.address } : peer;
      },
      isAllowedSender: (fingerprint) =>
        [...this.senders, ...this.#members().map((member) => member.fingerprint)].some(
          (allowed) => toHex(allowed) === toHex(fingerprint),
        ),
      hopsAfter: (epoch) =>
        [...this.layers.slice(layer + 1), this.exits].map((members) =>
          members.flatMap((member): RouteNode[] => {
            const key = member.publicKey(epoch);
            return key && member.peer() ? [{ id: member.id, sphinxPublicKey: key }] : [];
          }),
        ),
    };
  }

  /** A path through one node of each layer to `exit`, with the keys of `epoch`. */
  path(epoch: number, exit: Sink, recipient: Uint8Array, delays: readonly number[] = []): PathHop[] {
    const mixes = this.layers.map((members, layer) => {
      const member = members[0] as Member;
      const delay = delays[layer] ?? 0;
      return {
        id: member.id,
        publicKey: member.publicKey(epoch) as Uint8Array,
        commands: delay > 0 ? [{ type: 'node_delay' as const, delay }] : [],
      };
    });
    return [
      ...mixes,
      { id: exit.id, publicKey: exit.keys.publicKey, commands: [{ type: 'recipient', id: recipient }] },
    ];
  }

  #members(): Member[] {
    return [...this.layers.flat(), ...this.exits];
  }
}

export interface Arrival {
  readonly at: number;
  /** The payload of a real packet (recipient set), undefined for a dummy. */
  readonly payload: Uint8Array | undefined;
}

/** The exit of a test network: unwraps each final hop; packets without a recipient are dummies. */
export class Sink {
  readonly id = randomBytes(32);
  readonly identity = TlsIdentity.generate();
  readonly keys: KeyPair = nodeBackend.x25519.generateKeyPair();
  readonly arrivals: Arrival[] = [];
  readonly failures: string[] = [];
  #server: LinkServer | undefined;

  static async start(network: TestNetwork): Promise<Sink> {
    const sink = new Sink();
    sink.#server = await LinkServer.listen({
      identity: sink.identity,
      host: '127.0.0.1',
      port: 0,
      frameLength: geometry.packetLength,
      preamble: geometry.hash(),
      authorize: (fingerprint) =>
        network.layers.flat().some((member) => toHex(member.fingerprint) === toHex(fingerprint)),
      onFrame: (frame) => sink.#receive(frame),
    });
    network.addExit(sink);
    return sink;
  }

  get address(): { host: string; port: number } {
    if (!this.#server) throw new Error('sink not started');
    return this.#server.address;
  }

  get real(): Arrival[] {
    return this.arrivals.filter((arrival) => arrival.payload !== undefined);
  }

  /** Arrivals grouped into bursts: a gap of more than `gapMs` starts a new one. */
  bursts(gapMs: number): Arrival[][] {
    const bursts: Arrival[][] = [];
    let last = Number.NEGATIVE_INFINITY;
    for (const arrival of this.arrivals) {
      if (arrival.at - last > gapMs) bursts.push([]);
      (bursts[bursts.length - 1] as Arrival[]).push(arrival);
      last = arrival.at;
    }
    return bursts;
  }

  async close(): Promise<void> {
    await this.#server?.close();
  }

  #receive(frame: Uint8Array): void {
    try {
      const result = sphinx.unwrap(this.keys.secretKey, frame);
      if (result.kind !== 'final') throw new Error(`a ${result.kind} packet at the exit`);
      this.arrivals.push({ at: performance.now(), payload: result.recipient ? result.payload : undefined });
    } catch (error) {
      this.failures.push(String(error));
    }
  }
}

/** The sending side of layer 1: a real link from a gateway identity the network allows. */
export class Gateway {
  readonly identity = TlsIdentity.generate();
  #link: Link | undefined;

  constructor(network: TestNetwork) {
    network.senders.push(this.identity.fingerprint);
  }

  /** Sends `packets` as one burst to `node`, (re)connecting to it if its address changed. */
  send(node: MixNode, packets: readonly Uint8Array[]): void {
    const { host, port } = node.address;
    if (!this.#link || this.#link.peer.port !== port) {
      void this.#link?.close();
      this.#link = new Link({
        identity: this.identity,
        peer: { host, port, fingerprint: node.tlsFingerprint },
        frameLength: geometry.packetLength,
        preamble: geometry.hash(),
      });
    }
    this.#link.send(packets);
  }

  async close(): Promise<void> {
    await this.#link?.close();
  }
}

/** A payload that names its index, so arrival order can be compared with sending order. */
export function indexedPayload(index: number): Uint8Array {
  const payload = new Uint8Array(8);
  new DataView(payload.buffer).setUint32(0, index);
  return payload;
}

export function payloadIndex(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset).getUint32(0);
}

export async function until(condition: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function temporaryDirectory(): Promise<{
  path: string;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const path = await mkdtemp(join(tmpdir(), 'umbra-mix-'));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** Options every test node shares; tests override what they exercise. */
export function nodeOptions(
  network: TestNetwork,
  layer: number,
  dataDir: string,
  overrides: Partial<MixNodeOptions> = {},
): MixNodeOptions {
  const clock = new TestClock(3_600_000);
  return {
    id: randomBytes(32),
    geometry,
    dataDir,
    listen: { host: '127.0.0.1', port: 0 },
    topology: network.topology(layer),
    epochs: clock,
    metrics: new MemoryMetrics(),
    logger: new MemoryLogger(),
    round: { roundPeriodMs: 100, batchSize: 8 },
    graceMs: 60_000,
    workers: 0,
    ...overrides,
  };
}

/** A TLS 1.3 record's header (RFC 8446 §5.1) and its AEAD overhead: inner content type (1) and tag (16). */
const RECORD_HEADER = 5;
const RECORD_OVERHEAD = 17;

/**
 * A TCP relay in front of a listener that watches the client-to-server direction as a global observer
 * would: it parses TLS record headers (not contents) and timestamps each record's plaintext length.
 */
export class WireTap {
  readonly records: { at: number; plaintext: number }[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: () => { host: string; port: number }): Promise<WireTap> {
    const server = createServer();
    const tap = new WireTap(server);
    server.on('connection', (inbound) => {
      const outbound = connect(target());
      tap.#sockets.add(inbound).add(outbound);
      let pending = new Uint8Array(0);
      inbound.on('data', (chunk: Buffer) => {
        const at = performance.now();
        const bytes = new Uint8Array(pending.length + chunk.length);
        bytes.set(pending);
        bytes.set(chunk, pending.length);
        let offset = 0;
        while (bytes.length - offset >= RECORD_HEADER) {
          const length = ((bytes[offset + 3] as number) << 8) | (bytes[offset + 4] as number);
          if (bytes.length - offset < RECORD_HEADER + length) break;
          // Application-data records only (type 23), as every record after the hello is in TLS 1.3.
          if (bytes[offset] === 23) tap.records.push({ at, plaintext: length - RECORD_OVERHEAD });
          offset += RECORD_HEADER + length;
        }
        pending = bytes.slice(offset);
        outbound.write(chunk);
      });
      outbound.on('data', (chunk) => inbound.write(chunk));
      for (const [a, b] of [
        [inbound, outbound],
        [outbound, inbound],
      ] as const) {
        a.on('error', () => b.destroy());
        a.on('close', () => {
          tap.#sockets.delete(a);
          b.destroy();
        });
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return tap;
  }

  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: (this.#server.address() as AddressInfo).port };
  }

  /**
   * Packets per burst on the wire: records grouped by gaps longer than `gapMs`, their plaintext divided by
   * the packet length. The first burst (handshake, preamble) is left out.
   */
  burstSizes(gapMs: number): number[] {
    const bursts: number[] = [];
    let last = Number.NEGATIVE_INFINITY;
    for (const { at, plaintext } of this.records) {
      if (at - last > gapMs) bursts.push(0);
      bursts[bursts.length - 1] = (bursts[bursts.length - 1] as number) + plaintext;
      last = at;
    }
    return bursts.slice(1).map((bytes) => bytes / geometry.packetLength);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
    await once(this.#server, 'close');
  }
}
