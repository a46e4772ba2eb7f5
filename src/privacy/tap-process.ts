/**
 * The observer's own process (forked by `GlobalObserver`, observer.ts): TCP relays in front of the network's
 * listeners that timestamp what crosses them. It runs apart from the network so that its clock reads the
 * wire, not the network's event loop: when the nodes' process stalls, packets still get the time they
 * crossed. Speaks to its parent over the IPC channel:
 *
 *   parent → { type: 'tap', key, kind: 'tls' | 'ws', from, to }   child → { type: 'tapped', key, port }
 *   child → { type: 'target', key, id } (a connection came in)     parent → { type: 'target', id, host?, port? }
 *   parent → { type: 'collect' }                  child → { type: 'records', records, messages, eventLoopDelayP99Ms }
 *
 * TLS links: each record header (RFC 8446 §5.1) in the sending direction gives one record with its
 * plaintext length. WebSocket links (plain ws:// on loopback): each frame header (RFC 6455 §5.2) in either
 * direction, after the HTTP upgrade, gives one message with its payload length.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { TapRequest, TapResponse, WebSocketMessage, WireRecord } from './observer.ts';

/** A TLS record header and its AEAD overhead: inner content type (1) and tag (16). */
const RECORD_HEADER = 5;
const RECORD_OVERHEAD = 17;
/** TLS 1.3 sends every encrypted record with outer type application_data. */
const APPLICATION_DATA = 23;
/** Records this short are TLS alerts (close_notify: 2 bytes), which end a connection and carry no data. */
const MIN_DATA_RECORD = 16;

const records: WireRecord[] = [];
const messages: WebSocketMessage[] = [];
const servers: Server[] = [];
const sockets = new Set<Socket>();
const targets = new Map<number, (target: { host: string; port: number } | undefined) => void>();
/** This process's own delay: a starved observer stamps packets late, which blurs every timing attack. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let connections = 0;
let requests = 0;

function now(): number {
  return performance.timeOrigin + performance.now();
}

function send(message: TapResponse): void {
  process.send?.(message);
}

/** Appends `chunk` to what is pending and returns the whole. */
function joined(pending: Uint8Array, chunk: Buffer): Uint8Array {
  const bytes = new Uint8Array(pending.length + chunk.length);
  bytes.set(pending);
  bytes.set(chunk, pending.length);
  return bytes;
}

function tlsParser(from: string, to: string, connection: number): (chunk: Buffer) => void {
  let pending: Uint8Array = new Uint8Array(0);
  return (chunk) => {
    const at = now();
    const bytes = joined(pending, chunk);
    let offset = 0;
    while (bytes.length - offset >= RECORD_HEADER) {
      const length = ((bytes[offset + 3] as number) << 8) | (bytes[offset + 4] as number);
      if (bytes.length - offset < RECORD_HEADER + length) break;
      if (bytes[offset] === APPLICATION_DATA && length - RECORD_OVERHEAD >= MIN_DATA_RECORD) {
        records.push({ at, from, to, connection, bytes: length - RECORD_OVERHEAD });
      }
      offset += RECORD_HEADER + length;
    }
    pending = bytes.slice(offset);
  };
}

function webSocketParser(from: string, to: string, connection: number): (chunk: Buffer) => void {
  let pending: Uint8Array = new Uint8Array(0);
  let upgraded = false;
  return (chunk) => {
    const at = now();
    const bytes = joined(pending, chunk);
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
    while (bytes.length - offset >= 2) {
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
      messages.push({ at, from, to, connection, bytes: length });
      offset += header + length;
    }
    pending = bytes.slice(offset);
  };
}

/** Either socket's end or error ends the other. */
function pair(inbound: Socket, outbound: Socket): void {
  sockets.add(inbound).add(outbound);
  for (const [a, b] of [
    [inbound, outbound],
    [outbound, inbound],
  ] as const) {
    a.on('error', () => b.destroy());
    a.on('close', () => {
      sockets.delete(a);
      b.destroy();
    });
  }
}

function relay(request: Extract<TapRequest, { type: 'tap' }>, inbound: Socket): void {
  inbound.pause();
  const id = requests++;
  targets.set(id, (target) => {
    if (!target) {
      inbound.destroy();
      return;
    }
    const connection = connections++;
    const outbound = connect(target.port, target.host);
    const { from, to, kind } = request;
    const up = kind === 'tls' ? tlsParser(from, to, connection) : webSocketParser(from, to, connection);
    const down = kind === 'ws' ? webSocketParser(to, from, connection) : undefined;
    inbound.on('data', (chunk: Buffer) => {
      up(chunk);
      outbound.write(chunk);
    });
    outbound.on('data', (chunk: Buffer) => {
      down?.(chunk);
      inbound.write(chunk);
    });
    pair(inbound, outbound);
    inbound.resume();
  });
  send({ type: 'target', key: request.key, id });
}

// An observer that goes away (its test crashed) takes its taps with it.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: TapRequest) => {
  switch (message.type) {
    case 'tap': {
      const server = createServer((inbound) => relay(message, inbound));
      servers.push(server);
      server.listen(0, '127.0.0.1', () => {
        send({ type: 'tapped', key: message.key, port: (server.address() as AddressInfo).port });
      });
      return;
    }
    case 'target': {
      const resolve = targets.get(message.id);
      targets.delete(message.id);
      resolve?.(
        message.port === undefined ? undefined : { host: message.host ?? '127.0.0.1', port: message.port },
      );
      return;
    }
    case 'collect':
      send({ type: 'records', records, messages, eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6 });
      return;
    case 'close':
      for (const socket of sockets) socket.destroy();
      for (const server of servers) server.close();
      process.disconnect();
      return;
  }
});
