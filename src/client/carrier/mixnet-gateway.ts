/**
 * The mixnet client's connection to its gateway: one WebSocket speaking the client protocol of
 * src/gateway/client-protocol.ts (hello → welcome, packets out, one downstream frame per gateway tick in —
 * an inbox item or padding, which is discarded — and acks out). It uses the
 * platform's global `WebSocket` (browsers, Node ≥ 22), so the carrier runs unchanged in both. Opening
 * resolves once the gateway's `welcome` arrives and rejects with `CarrierError('unreachable')` when the
 * socket fails, the gateway refuses the hello, or no welcome comes in time.
 */
import { CarrierError } from '../../errors.ts';
import {
  type ClientProtocol,
  helloMessage,
  type InboxItem,
  type ProtocolErrorMessage,
  type Welcome,
} from '../../gateway/client-protocol.ts';
import type { CarrierClock } from './poisson.ts';

export interface GatewayHandlers {
  readonly onItem: (item: InboxItem) => void;
  /** A padding frame: a gateway tick with no item. Nothing to do but count it. */
  readonly onPadding: () => void;
  /** A non-fatal error message (rate_limited, inbox_full); fatal ones close the connection. */
  readonly onError: (error: ProtocolErrorMessage) => void;
  /** The connection ended after it had opened; `reason` is for people. */
  readonly onClose: (reason: string) => void;
}

export interface GatewayConnectOptions {
  readonly url: string | URL;
  readonly protocol: ClientProtocol;
  readonly inboxSecret: Uint8Array;
  readonly handlers: GatewayHandlers;
  readonly clock: CarrierClock;
  /** How long to wait for the welcome. */
  readonly timeoutMs: number;
}

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
  #open = true;

  private constructor(socket: WebSocket, protocol: ClientProtocol, welcome: Welcome) {
    this.#socket = socket;
    this.#protocol = protocol;
    this.welcome = welcome;
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
          if (connection) connection.#end('the gateway sent a malformed message', handlers);
          else fail('the gateway sent a malformed message');
          return;
        }
        if (message.kind === 'welcome') {
          if (settled) return;
          settled = true;
          clock.clearTimeout(timer);
          connection = new GatewayConnection(socket, protocol, message.value);
          resolve(connection);
        } else if (message.kind === 'error') {
          if (!connection) fail(`the gateway refused the connection: ${message.value.reason}`);
          else if (message.value.fatal)
            connection.#end(`the gateway closed: ${message.value.reason}`, handlers);
          else handlers.onError(message.value);
        } else if (!connection) {
          // Frames come only after the welcome; before it the gateway is out of step.
          fail('the gateway sent a frame before its welcome');
        } else if (message.kind === 'item') handlers.onItem(message.value);
        else handlers.onPadding();
      });
      socket.addEventListener('error', () => fail('gateway unreachable'));
      socket.addEventListener('close', () => {
        if (connection) connection.#end('the gateway connection closed', handlers);
        else fail('gateway unreachable');
      });
    });
  }

  get isOpen(): boolean {
    return this.#open;
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
    this.#socket.close();
  }

  #end(reason: string, handlers: GatewayHandlers): void {
    if (!this.#open) return;
    this.#open = false;
    this.#socket.close();
    handlers.onClose(reason);
  }
}
