/**
 * A global passive observer for a local mix network: a TCP relay ("tap") in front of every link, which sees
 * what an adversary watching every wire sees — when, from whom, to whom, and how many bytes — and nothing
 * else. It parses TLS record headers (RFC 8446 §5.1), never contents, and timestamps each record's plaintext
 * length in the sending direction. Packets are derived from the byte stream: every link carries fixed-size
 * frames after a short prologue (the sender's encrypted handshake flight and the 32-byte preamble, both
 * shorter than one packet), so the k-th packet on a connection has completed when the connection's plaintext
 * reaches k packet lengths. See docs/privacy.md.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** A TLS record header and its AEAD overhead: inner content type (1) and tag (16). */
const RECORD_HEADER = 5;
const RECORD_OVERHEAD = 17;
/** TLS 1.3 sends every encrypted record with outer type application_data. */
const APPLICATION_DATA = 23;
const MIN_DATA_RECORD = 16;

/** One TLS record seen on a link, in the sending direction. */
export interface WireRecord {
  /** Unix time in milliseconds, sub-millisecond resolution. */
  readonly at: number;
  readonly from: string;
  readonly to: string;
  /** Which TCP connection of this link (links reconnect). */
  readonly connection: number;
  /** Plaintext bytes the record carries. */
  readonly bytes: number;
}

/** One packet seen crossing a link. */
export interface LinkPacket {
  readonly at: number;
  readonly from: string;
  readonly to: string;
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

class Tap {
  readonly server: Server;
  readonly sockets = new Set<Socket>();

  constructor(server: Server) {
    this.server = server;
  }
}

/** One WebSocket message seen on a client link (plain ws:// on loopback), in either direction. */
export interface WebSocketMessage {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly connection: number;
  /** Payload length of the frame (RFC 6455 §5.2), headers and mask excluded. */
  readonly bytes: number;
}

export class GlobalObserver {
  readonly records: WireRecord[] = [];
  readonly messages: WebSocketMessage[] = [];
  readonly #taps = new Map<string, Tap>();
  #connections = 0;

  /**
   * Puts a tap on the link `from` → `to`: returns the address `from` must dial instead of `target()`, which
   * is looked up per connection so that a restarted node may change address.
   */
  async tap(from: string, to: string, target: () => Endpoint | undefined): Promise<Endpoint> {
    const key = `${from}\u0000${to}`;
    const existing = this.#taps.get(key);
    if (existing) return GlobalObserver.#address(existing.server);
    const server = createServer((inbound) => this.#relay(tap, inbound, from, to, target));
    const tap = new Tap(server);
    this.#taps.set(key, tap);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return GlobalObserver.#address(server);
  }

  /**
   * Puts a tap on the WebSocket link between client `client` and gateway `gateway` (plain ws:// on
   * loopback, as the development network serves clients): both directions are recorded, one entry per
   * WebSocket frame, after the HTTP upgrade. Returns the address the client must dial instead.
   */
  async tapWebSocket(client: string, gateway: string, target: () => Endpoint | undefined): Promise<Endpoint> {
    const key = `${client}\u0000${gateway}\u0000ws`;
    const server = createServer((inbound) => {
      const destination = target();
      if (!destination) {
        inbound.destroy();
        return;
      }
      const connection = this.#connections++;
      const outbound = connect(destination.port, destination.host);
      tap.sockets.add(inbound).add(outbound);
      const up = this.#frames(client, gateway, connection);
      const down = this.#frames(gateway, client, connection);
      inbound.on('data', (chunk: Buffer) => {
        up(chunk);
        outbound.write(chunk);
      });
      outbound.on('data', (chunk: Buffer) => {
        down(chunk);
        inbound.write(chunk);
      });
      GlobalObserver.#pair(tap, inbound, outbound);
    });
    const tap = new Tap(server);
    this.#taps.set(key, tap);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return GlobalObserver.#address(server);
  }

  /** A parser of one direction of a WebSocket connection: skips the HTTP upgrade, then records frames. */
  #frames(from: string, to: string, connection: number): (chunk: Buffer) => void {
    let pending = new Uint8Array(0);
    let upgraded = false;
    return (chunk) => {
      const at = wallClock();
      const bytes = new Uint8Array(pending.length + chunk.length);
      bytes.set(pending);
      bytes.set(chunk, pending.length);
      let offset = 0;
      if (!upgraded) {
        const end = Buffer.from(bytes).indexOf('\r\n\r\n');
        if (end < 0) {
          pending = bytes;
          return;
        }
        upgraded = true;
        offset = end + 4;
      }
      for (;;) {
        if (bytes.length - offset < 2) break;
        const masked = ((bytes[offset + 1] as number) & 0x80) !== 0;
        let length = (bytes[offset + 1] as number) & 0x7f;
        let header = 2;
        if (length === 126) {
          if (bytes.length - offset < 4) break;
          length = ((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number);
          header = 4;
        } else if (length === 127) {
          if (bytes.length - offset < 10) break;
          length = Number(new DataView(bytes.buffer, bytes.byteOffset + offset + 2, 8).getBigUint64(0));
          header = 10;
        }
        if (masked) header += 4;
        if (bytes.length - offset < header + length) break;
        this.messages.push({ at, from, to, connection, bytes: length });
        offset += header + length;
      }
      pending = bytes.slice(offset);
    };
  }

  /** The address of the tap on `from` → `to`, if there is one. */
  tapped(from: string, to: string): Endpoint | undefined {
    const tap = this.#taps.get(`${from}\u0000${to}`);
    return tap && GlobalObserver.#address(tap.server);
  }

  /** The packets seen on every link, in time order, given the geometry's packet length. */
  packets(packetLength: number): LinkPacket[] {
    const seen = new Map<number, number>();
    const packets: LinkPacket[] = [];
    for (const record of this.records) {
      const before = seen.get(record.connection) ?? 0;
      const after = before + record.bytes;
      seen.set(record.connection, after);
      const completed = Math.floor(after / packetLength) - Math.floor(before / packetLength);
      for (let i = 0; i < completed; i++) packets.push({ at: record.at, from: record.from, to: record.to });
    }
    return packets.sort((a, b) => a.at - b.at);
  }

  /** Plaintext bytes each connection carried, in the sending direction. */
  connections(): { from: string; to: string; bytes: number }[] {
    const totals = new Map<number, { from: string; to: string; bytes: number }>();
    for (const { connection, from, to, bytes } of this.records) {
      const total = totals.get(connection) ?? { from, to, bytes: 0 };
      total.bytes += bytes;
      totals.set(connection, total);
    }
    return [...totals.values()];
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#taps.values()].map(async (tap) => {
        for (const socket of tap.sockets) socket.destroy();
        tap.server.close();
        await once(tap.server, 'close');
      }),
    );
    this.#taps.clear();
  }

  static #address(server: Server): Endpoint {
    return { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
  }

  #relay(tap: Tap, inbound: Socket, from: string, to: string, target: () => Endpoint | undefined): void {
    const destination = target();
    if (!destination) {
      inbound.destroy();
      return;
    }
    const connection = this.#connections++;
    const outbound = connect(destination.port, destination.host);
    tap.sockets.add(inbound).add(outbound);
    let pending = new Uint8Array(0);
    inbound.on('data', (chunk: Buffer) => {
      const at = wallClock();
      const bytes = new Uint8Array(pending.length + chunk.length);
      bytes.set(pending);
      bytes.set(chunk, pending.length);
      let offset = 0;
      while (bytes.length - offset >= RECORD_HEADER) {
        const length = ((bytes[offset + 3] as number) << 8) | (bytes[offset + 4] as number);
        if (bytes.length - offset < RECORD_HEADER + length) break;
        // Records this short are TLS alerts (close_notify: 2 bytes), which end a connection and carry no data.
        if (bytes[offset] === APPLICATION_DATA && length - RECORD_OVERHEAD >= MIN_DATA_RECORD) {
          this.records.push({ at, from, to, connection, bytes: length - RECORD_OVERHEAD });
        }
        offset += RECORD_HEADER + length;
      }
      pending = bytes.slice(offset);
      outbound.write(chunk);
    });
    outbound.on('data', (chunk) => inbound.write(chunk));
    GlobalObserver.#pair(tap, inbound, outbound);
  }

  /** Either socket's end or error ends the other. */
  static #pair(tap: Tap, inbound: Socket, outbound: Socket): void {
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => {
        tap.sockets.delete(a);
        b.destroy();
      });
    }
  }
}
