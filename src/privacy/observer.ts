/**
 * A global passive observer for a local mix network: a TCP relay ("tap") in front of every link, which sees
 * what an adversary watching every wire sees — when, from whom, to whom, and how many bytes — and nothing
 * else. It parses TLS record headers (RFC 8446 §5.1), never contents, and timestamps each record's plaintext
 * length in the sending direction; on client WebSocket links, each frame's payload length both ways. The
 * taps run in a process of their own (tap-process.ts), so that their clock reads the wire rather than the
 * event loop of the network they watch. Packets are derived from the byte stream: every link carries fixed-size
 * frames after a short prologue (the sender's encrypted handshake flight and the 32-byte preamble, both
 * shorter than one packet), so the k-th packet on a connection has completed when the connection's plaintext
 * reaches k packet lengths. See docs/privacy.md.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';

/** One TLS record seen on a link, in the sending direction. */
export interface WireRecord {
  /** Unix time in milliseconds, sub-millisecond resolution. */
  readonly at: number;
  readonly from: string;
  readonly to: string;
  /** Which TCP connection (links reconnect). */
  readonly connection: number;
  /** Plaintext bytes the record carries. */
  readonly bytes: number;
}

/** One WebSocket message seen on a client link (plain ws:// on loopback), in either direction. */
export type WebSocketMessage = WireRecord;

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

/** What the observer asks its tap process. */
export type TapRequest =
  | {
      readonly type: 'tap';
      readonly key: string;
      readonly kind: 'tls' | 'ws';
      readonly from: string;
      readonly to: string;
    }
  | { readonly type: 'target'; readonly id: number; readonly host?: string; readonly port?: number }
  | { readonly type: 'collect' }
  | { readonly type: 'close' };

/** What the tap process tells the observer. */
export type TapResponse =
  | { readonly type: 'tapped'; readonly key: string; readonly port: number }
  | { readonly type: 'target'; readonly key: string; readonly id: number }
  | {
      readonly type: 'records';
      readonly records: WireRecord[];
      readonly messages: WebSocketMessage[];
      readonly eventLoopDelayP99Ms: number;
    };

export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

const TAP_PROCESS = new URL('./tap-process.ts', import.meta.url);

export class GlobalObserver {
  /** TLS records on node links and client TLS links; filled by `collect()`. */
  records: WireRecord[] = [];
  /** WebSocket messages on client links; filled by `collect()`. */
  messages: WebSocketMessage[] = [];
  /** The tap process's event-loop delay, p99 in ms, so far; filled by `collect()`. */
  eventLoopDelayP99Ms = 0;
  readonly #ports = new Map<string, number>();
  readonly #targets = new Map<string, () => Endpoint | undefined>();
  readonly #tapping = new Map<string, (port: number) => void>();
  #collecting: ((response: Extract<TapResponse, { type: 'records' }>) => void) | undefined;
  #child: ChildProcess | undefined;

  /**
   * Puts a tap on the TLS link `from` → `to`: returns the address `from` must dial instead of `target()`,
   * which is looked up per connection so that a restarted node may change address.
   */
  tap(from: string, to: string, target: () => Endpoint | undefined): Promise<Endpoint> {
    return this.#open('tls', from, to, target);
  }

  /**
   * Puts a tap on the WebSocket link between `client` and `gateway` (plain ws:// on loopback, as the
   * development network serves clients): both directions are recorded, one entry per frame.
   */
  tapWebSocket(client: string, gateway: string, target: () => Endpoint | undefined): Promise<Endpoint> {
    return this.#open('ws', client, gateway, target);
  }

  /** The address of the TLS tap on `from` → `to`, if there is one. */
  tapped(from: string, to: string): Endpoint | undefined {
    const port = this.#ports.get(GlobalObserver.#key('tls', from, to));
    return port === undefined ? undefined : { host: '127.0.0.1', port };
  }

  /** Fetches everything recorded so far into `records` and `messages`. */
  async collect(): Promise<void> {
    const child = this.#child;
    if (!child?.connected) return;
    const response = await new Promise<Extract<TapResponse, { type: 'records' }>>((resolve) => {
      this.#collecting = resolve;
      child.send({ type: 'collect' } satisfies TapRequest);
    });
    this.records = response.records;
    this.messages = response.messages;
    this.eventLoopDelayP99Ms = response.eventLoopDelayP99Ms;
  }

  /** The packets seen on every TLS link, in time order, given the geometry's packet length. */
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

  /** Plaintext bytes each TLS connection carried, in the sending direction. */
  connections(): { from: string; to: string; bytes: number }[] {
    const totals = new Map<number, { from: string; to: string; bytes: number }>();
    for (const { connection, from, to, bytes } of this.records) {
      const total = totals.get(connection) ?? { from, to, bytes: 0 };
      total.bytes += bytes;
      totals.set(connection, total);
    }
    return [...totals.values()];
  }

  /** Collects the records, then closes every tap and the tap process. */
  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    await this.collect();
    this.#child = undefined;
    if (child.connected) {
      const exited = once(child, 'exit');
      child.send({ type: 'close' } satisfies TapRequest);
      await exited;
    }
  }

  static #key(kind: 'tls' | 'ws', from: string, to: string): string {
    return `${kind}\u0000${from}\u0000${to}`;
  }

  async #open(
    kind: 'tls' | 'ws',
    from: string,
    to: string,
    target: () => Endpoint | undefined,
  ): Promise<Endpoint> {
    const key = GlobalObserver.#key(kind, from, to);
    const known = this.#ports.get(key);
    if (known !== undefined) return { host: '127.0.0.1', port: known };
    this.#targets.set(key, target);
    const child = this.#process();
    const port = await new Promise<number>((resolve) => {
      this.#tapping.set(key, resolve);
      child.send({ type: 'tap', key, kind, from, to } satisfies TapRequest);
    });
    this.#ports.set(key, port);
    return { host: '127.0.0.1', port };
  }

  #process(): ChildProcess {
    if (this.#child) return this.#child;
    const child = fork(TAP_PROCESS, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (message: TapResponse) => {
      switch (message.type) {
        case 'tapped':
          this.#tapping.get(message.key)?.(message.port);
          this.#tapping.delete(message.key);
          return;
        case 'target': {
          const endpoint = this.#targets.get(message.key)?.();
          child.send({ type: 'target', id: message.id, ...endpoint } satisfies TapRequest);
          return;
        }
        case 'records':
          this.#collecting?.(message);
          this.#collecting = undefined;
          return;
      }
    });
    this.#child = child;
    return child;
  }
}
