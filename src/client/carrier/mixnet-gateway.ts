/**
 * The mixnet client's connection to its gateway: one WebSocket speaking the client protocol of
 * src/protocol/gateway-protocol.ts (hello → welcome, packets out, one downstream frame per gateway tick in —
 * an inbox item or padding, which is discarded — and acks out). It uses the
 * platform's global `WebSocket` (browsers, Node ≥ 22), so the carrier runs unchanged in both. Opening
 * resolves once the gateway's `welcome` arrives and rejects with `CarrierError('unreachable')` when the
 * socket fails, the gateway refuses the hello, or no welcome comes in time.
 *
 * The downstream is the link's heartbeat: the gateway sends a frame on every tick of its clock, so a
 * connection that stays open while nothing arrives for the silence bound (a hung gateway, a dead path that
 * sent no reset) is ended as if it had closed. The bound is `silenceMs`, or twice the longest gap of the
 * last minute when the gateway's host has been pausing (`GapHistory`, at most 10 s). The verdict takes a
 * second look `CONFIRM_MS` later (again if that one came late, for up to `MAX_CONFIRM_MS`), so that a
 * stall of this client's own event loop (frames waiting in the socket, not yet dispatched) is not taken for
 * the gateway's. Every frame also says how many packets the gateway has read from this connection
 * (`onFrame`): the receipt the carrier turns into "sent".
 */
import { CarrierError } from '../../errors.ts';
import type { Clock } from '../../ops/clock.ts';
import {
  type ClientProtocol,
  helloMessage,
  type InboxItem,
  type ProtocolErrorMessage,
  type Welcome,
} from '../../protocol/gateway-protocol.ts';

export interface GatewayHandlers {
  /** Every downstream frame: `packetsRead` of this connection's packets are in the gateway's hands. */
  readonly onFrame: (frame: { readonly packetsRead: number; readonly item: InboxItem | undefined }) => void;
  /** A non-fatal error message (rate_limited, inbox_full); fatal ones close the connection. */
  readonly onError: (error: ProtocolErrorMessage) => void;
  /**
   * The connection ended after it had opened: the socket closed, the gateway closed it, or it went silent
   * (no message for `silenceMs` while the socket stayed open). `reason` is for people.
   */
  readonly onClose: (reason: string) => void;
}

export interface GatewayConnectOptions {
  readonly url: string | URL;
  readonly protocol: ClientProtocol;
  readonly inboxSecret: Uint8Array;
  readonly handlers: GatewayHandlers;
  readonly clock: Clock;
  /** How long to wait for the welcome. */
  readonly timeoutMs: number;
  /**
   * How long the gateway may send nothing before the connection counts as hung; raised to at least
   * `SILENT_TICKS` periods of the downstream rate the welcome announces, and by `gaps`.
   */
  readonly silenceMs: number;
  /** The gaps seen between the gateway's messages, kept across connections by the carrier. */
  readonly gaps: GapHistory;
}

/** How long a gap raises the silence bound for. */
const GAP_MEMORY_MS = 60_000;
/** However long the gaps, a gateway silent this long counts as hung. */
const MAX_ADAPTIVE_SILENCE_MS = 10_000;

/**
 * The longest recent gaps between a gateway's messages. A gateway whose host is starved (a busy machine,
 * a disk that stalls it), or a slow link, leaves gaps of a second or two between frames that come on every
 * tick otherwise: a hang is then a silence clearly longer than those, twice the longest gap of the last
 * minute (at most `MAX_ADAPTIVE_SILENCE_MS`). In fair weather the bound stays at its base.
 */
export class GapHistory {
  #gaps: { readonly at: number; readonly gapMs: number }[] = [];

  observe(at: number, gapMs: number): void {
    this.#gaps = this.#gaps.filter((gap) => at - gap.at < GAP_MEMORY_MS && gap.gapMs > gapMs);
    this.#gaps.push({ at, gapMs });
  }

  /** `baseMs`, or twice the longest gap of the last minute if that is longer (capped). */
  boundMs(baseMs: number, now: number): number {
    const longest = Math.max(
      0,
      ...this.#gaps.filter((gap) => now - gap.at < GAP_MEMORY_MS).map((g) => g.gapMs),
    );
    return Math.max(baseMs, Math.min(2 * longest, MAX_ADAPTIVE_SILENCE_MS));
  }
}

/** Downstream periods without a frame that always count as silence, however slow the gateway's clock. */
const SILENT_TICKS = 4;
/** A gateway announcing a very slow clock cannot make its silence go unnoticed for longer than this. */
const MAX_SILENCE_MS = 60_000;
/** The second look before a silence is believed: long enough for queued socket events to be dispatched. */
export const CONFIRM_MS = 200;
/** Late second looks are repeated for at most this long after the first. */
const MAX_CONFIRM_MS = 1_000;

function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** Encoders return fresh, ArrayBuffer-backed arrays; the DOM typing of `send` wants that said. */
function send(socket: WebSocket, bytes: Uint8Array): void {
  socket.send(bytes as Uint8Array<ArrayBuffer>);
}

export class GatewayConnection {
  readonly welcome: Welcome;
  readonly #socket: WebSocket;
  readonly #protocol: ClientProtocol;
  readonly #clock: Clock;
  readonly #handlers: GatewayHandlers;
  readonly #silenceMs: number;
  readonly #gaps: GapHistory;
  #open = true;
  #lastHeard: number;
  #watchdog: unknown;

  private constructor(socket: WebSocket, options: GatewayConnectOptions, welcome: Welcome) {
    this.#socket = socket;
    this.#protocol = options.protocol;
    this.#clock = options.clock;
    this.#handlers = options.handlers;
    this.welcome = welcome;
    // downstreamRate is in thousandths of frames per second; a gateway announcing none gets the option alone.
    const periods = welcome.downstreamRate > 0 ? (SILENT_TICKS * 1_000_000) / welcome.downstreamRate : 0;
    this.#silenceMs = Math.max(options.silenceMs, Math.min(periods, MAX_SILENCE_MS));
    this.#gaps = options.gaps;
    this.#lastHeard = this.#clock.now();
    this.#watch(this.#lastHeard + this.#bound());
  }

  static open(options: GatewayConnectOptions): Promise<GatewayConnection> {
    const { protocol, handlers, clock } = options;
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(options.url);
      } catch {
        reject(new CarrierError('unreachable', 'the gateway URL is not a WebSocket URL'));
        return;
      }
      socket.binaryType = 'arraybuffer';
      let connection: GatewayConnection | undefined;
      let settled = false;
      const fail = (message: string): void => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        socket.close();
        reject(new CarrierError('unreachable', message));
      };
      const timer = clock.setTimeout(() => fail('the gateway did not answer in time'), options.timeoutMs);

      socket.addEventListener('open', () => {
        send(socket, protocol.encodeClientMessage(helloMessage(protocol.geometry, options.inboxSecret)));
      });
      socket.addEventListener('message', (event: MessageEvent) => {
        const bytes = bytesOf(event.data);
        let message: ReturnType<ClientProtocol['decodeGatewayMessage']>;
        try {
          if (!bytes) throw new Error('text message');
          message = protocol.decodeGatewayMessage(bytes);
        } catch {
          // The gateway broke the framing: nothing it says afterwards can be trusted to be in sync.
          if (connection) connection.#end('the gateway sent a malformed message');
          else fail('the gateway sent a malformed message');
          return;
        }
        if (connection) connection.#heard();
        if (message.kind === 'welcome') {
          if (settled) return;
          settled = true;
          clock.clearTimeout(timer);
          connection = new GatewayConnection(socket, options, message.value);
          resolve(connection);
        } else if (message.kind === 'error') {
          if (!connection) fail(`the gateway refused the connection: ${message.value.reason}`);
          else if (message.value.fatal) connection.#end(`the gateway closed: ${message.value.reason}`);
          else handlers.onError(message.value);
        } else if (!connection) {
          // Frames come only after the welcome; before it the gateway is out of step.
          fail('the gateway sent a frame before its welcome');
        } else if (message.kind === 'item') {
          const { packetsRead, ...item } = message.value;
          handlers.onFrame({ packetsRead: Number(packetsRead), item });
        } else handlers.onFrame({ packetsRead: Number(message.value.packetsRead), item: undefined });
      });
      socket.addEventListener('error', () => fail('gateway unreachable'));
      socket.addEventListener('close', () => {
        if (connection) connection.#end('the gateway connection closed');
        else fail('gateway unreachable');
      });
    });
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** The clock's time of the last message from the gateway (the welcome at first). */
  get lastHeard(): number {
    return this.#lastHeard;
  }

  /** Bytes queued in the socket and not yet handed to the network. */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  sendPacket(packet: Uint8Array): void {
    if (!this.#open) return;
    send(this.#socket, this.#protocol.encodeClientMessage({ kind: 'packet', value: { packet } }));
  }

  sendAck(sequences: readonly bigint[]): void {
    if (!this.#open || sequences.length === 0) return;
    send(
      this.#socket,
      this.#protocol.encodeClientMessage({ kind: 'ack', value: { sequences: [...sequences] } }),
    );
  }

  close(): void {
    this.#open = false;
    this.#clock.clearTimeout(this.#watchdog);
    this.#socket.close();
  }

  #heard(): void {
    const now = this.#clock.now();
    this.#gaps.observe(now, now - this.#lastHeard);
    this.#lastHeard = now;
  }

  /** The silence that counts as a hang now. */
  #bound(): number {
    return this.#gaps.boundMs(this.#silenceMs, this.#clock.now());
  }

  /** Looks at `due` whether anything arrived in the last `silenceMs`. */
  #watch(due: number): void {
    this.#watchdog = this.#clock.setTimeout(
      () => this.#check(undefined),
      Math.max(0, due - this.#clock.now()),
    );
  }

  /**
   * A silence is believed on a second look, `CONFIRM_MS` after the first, that came on time (`look.due`):
   * a look that came late means this client itself stalled, and frames may be waiting in the socket
   * undelivered, so it looks again after the event loop has had a turn — but for no longer than
   * `MAX_CONFIRM_MS` after the first look: on a machine where every timer is late, looking again would
   * never end (measured: a 5 s SIGSTOP of the gateway went unseen at load 15).
   */
  #check(look: { readonly first: number; readonly due: number } | undefined): void {
    if (!this.#open) return;
    const now = this.#clock.now();
    const silent = now - this.#lastHeard;
    const bound = this.#bound();
    if (silent < bound) this.#watch(this.#lastHeard + bound);
    else if (look === undefined || (now - look.due > CONFIRM_MS / 2 && now - look.first < MAX_CONFIRM_MS)) {
      const next = { first: look?.first ?? now, due: now + CONFIRM_MS };
      this.#watchdog = this.#clock.setTimeout(() => this.#check(next), CONFIRM_MS);
    } else {
      const seconds = (silent / 1000).toFixed(1);
      this.#end(`the gateway has sent nothing for ${seconds} s (hung, or the path to it is broken)`);
    }
  }

  #end(reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.#clock.clearTimeout(this.#watchdog);
    this.#socket.close();
    this.#handlers.onClose(reason);
  }
}
