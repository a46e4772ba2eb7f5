/**
 * The delivery service as a network server (node:http and the `ws` package), serving the protocol handler
 * (service.ts) two ways:
 *
 *   GET  /v1/ws        WebSocket for the direct carrier: binary frames (src/protocol/frames.ts) carrying
 *                      requests and responses by request id, and pushes for the connection's subscriptions
 *   POST /v1/request   one request, application/octet-stream in and out, always answered 200 with an encoded
 *                      response (refusals are protocol errors); what the mixnet exit gateway calls
 *
 * Operator endpoints (/metrics, /health, /ready: not while stopping or while the store does not answer a
 * query) listen on a separate, private address when `ops` is set. A
 * WebSocket that sends a malformed frame or keeps more than `MAX_IN_FLIGHT` requests waiting is closed; one
 * that stops answering pings is dropped. Logs carry counts and close codes, never identifiers.
 *
 * Limits against floods (docs/delivery.md, "Limits"): at most `maxConnectionsPerIp` WebSockets from one
 * remote address and `maxConnections` in all; an upgrade past either is refused with HTTP 429. Memory per
 * connection is bounded by its outgoing buffer: past half of `maxBufferedBytes` the server stops reading the
 * connection's requests until the client has read its responses, and a response or push that would take the
 * buffer past `maxBufferedBytes` closes the connection instead (a client that never reads). HTTP request
 * bodies over the size limit are refused without being kept (`readBody`). Registrations are counted per
 * WebSocket and per HTTP peer address (service.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { ArgumentError, CodecError } from '../errors.ts';
import {
  closeServer,
  createHttpServer,
  hostForUrl,
  listen,
  type OpsServer,
  probeCheck,
  readBody,
  startServiceOps,
} from '../ops/http.ts';
import { type Logger, silentLogger } from '../ops/logger.ts';
import { MetricsRegistry } from '../ops/metrics.ts';
import { decodeFrame, encodeFrame, FRAME_OVERHEAD } from '../protocol/frames.ts';
import { DEFAULT_MAX_REQUEST_BYTES, encodeErrorResponse } from '../protocol/messages.ts';
import { DeliveryService, type DeliveryServiceOptions } from './service.ts';

/** Requests one WebSocket may have waiting at once; more closes it (policy violation). */
export const MAX_IN_FLIGHT = 256;
/** Interval of WebSocket pings; a connection that missed the previous pong is dropped. */
export const DEFAULT_PING_INTERVAL_MS = 30_000;
/** WebSockets one remote address may hold open at once. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 16;
/** WebSockets the server holds open at once. */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** Outgoing bytes one WebSocket may have waiting; four of the largest responses. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * DEFAULT_MAX_REQUEST_BYTES;
/** TCP connections accepted beyond `maxConnections`, for HTTP peers and upgrades being refused. */
const HTTP_HEADROOM = 256;
export const WEBSOCKET_PATH = '/v1/ws';
export const REQUEST_PATH = '/v1/request';

const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_GOING_AWAY = 1001;

export interface DeliveryServerConfig extends Omit<DeliveryServiceOptions, 'metrics' | 'logger'> {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port; the handle tells which). */
  readonly port?: number;
  /** Where /metrics and /health listen; absent, they are not served. */
  readonly ops?: { readonly host?: string; readonly port: number };
  readonly pingIntervalMs?: number;
  /** Default `DEFAULT_MAX_CONNECTIONS_PER_IP`. */
  readonly maxConnectionsPerIp?: number;
  /** Default `DEFAULT_MAX_CONNECTIONS`. */
  readonly maxConnections?: number;
  /** Default `DEFAULT_MAX_BUFFERED_BYTES`; at least the largest frame. */
  readonly maxBufferedBytes?: number;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
}

export interface DeliveryServerHandle {
  /** http://host:port (POST `${url}/v1/request`). */
  readonly url: string;
  /** ws://host:port/v1/ws, for `DirectCarrier`. */
  readonly webSocketUrl: string;
  readonly port: number;
  readonly service: DeliveryService;
  readonly ops: OpsServer | undefined;
  /** WebSockets open now (counted from their upgrade request until their socket closes). */
  readonly openConnections: number;
  /** Closes every connection and stops serving. The store stays open: close it after. */
  close(): Promise<void>;
}

function positive(argument: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < 1)
    throw new ArgumentError(argument, 'expected an integer >= 1');
  return chosen;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

export async function startDeliveryServer(config: DeliveryServerConfig): Promise<DeliveryServerHandle> {
  const logger = config.logger ?? silentLogger;
  const metrics = config.metrics ?? new MetricsRegistry();
  const host = config.host ?? '127.0.0.1';
  const maxConnectionsPerIp = positive(
    'maxConnectionsPerIp',
    config.maxConnectionsPerIp,
    DEFAULT_MAX_CONNECTIONS_PER_IP,
  );
  const maxConnections = positive('maxConnections', config.maxConnections, DEFAULT_MAX_CONNECTIONS);
  const maxBufferedBytes = positive('maxBufferedBytes', config.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES);
  const service = await DeliveryService.start({ ...config, logger, metrics });
  const maxFrameBytes = service.maxRequestBytes + FRAME_OVERHEAD;
  if (maxBufferedBytes < maxFrameBytes) {
    await service.close();
    throw new ArgumentError('maxBufferedBytes', `must hold the largest frame (${maxFrameBytes} bytes)`);
  }
  let stopping = false;
  /** Open WebSockets (counted from the upgrade request on), in all and per remote address. */
  let open = 0;
  const openPerAddress = new Map<string, number>();

  const connections = metrics.gauge({
    name: 'umbra_delivery_websocket_connections',
    help: 'Open direct-carrier WebSocket connections.',
  });
  const closedConnections = metrics.counter({
    name: 'umbra_delivery_websocket_closed_total',
    help: 'WebSocket connections closed by the server, by reason.',
    labelNames: ['reason'],
  });
  const refusedConnections = metrics.counter({
    name: 'umbra_delivery_websocket_refused_total',
    help: 'WebSocket upgrades refused with HTTP 429, by the cap that refused them (per_address, total).',
    labelNames: ['reason'],
  });

  async function serveRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/octet-stream') {
      request.resume();
      response.writeHead(415, { connection: 'close' }).end();
      return;
    }
    const body = await readBody(request, service.maxRequestBytes);
    const registrations = service.peerRegistrations(request.socket.remoteAddress ?? '');
    const answer =
      body === undefined ? encodeErrorResponse('too_large') : await service.handle(body, { registrations });
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': answer.length,
      'cache-control': 'no-store',
      ...(body === undefined ? { connection: 'close' } : {}),
    });
    response.end(answer);
  }

  const server = createHttpServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== REQUEST_PATH) {
      request.resume();
      response.writeHead(404).end();
      return;
    }
    if (request.method !== 'POST') {
      request.resume();
      response.writeHead(405, { allow: 'POST', connection: 'close' }).end();
      return;
    }
    serveRequest(request, response).catch((error: unknown) => {
      logger.error('request failed', { error });
      if (!response.headersSent) response.writeHead(500, { connection: 'close' }).end();
      else response.destroy();
    });
  });

  const webSockets = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== WEBSOCKET_PATH || stopping) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      return;
    }
    const address = request.socket.remoteAddress ?? '';
    const fromAddress = openPerAddress.get(address) ?? 0;
    if (fromAddress >= maxConnectionsPerIp || open >= maxConnections) {
      refusedConnections.inc(1, { reason: fromAddress >= maxConnectionsPerIp ? 'per_address' : 'total' });
      socket.end(
        'HTTP/1.1 429 Too Many Requests\r\nretry-after: 30\r\ncontent-length: 0\r\nconnection: close\r\n\r\n',
      );
      return;
    }
    open += 1;
    openPerAddress.set(address, fromAddress + 1);
    // The socket closes once, whether the handshake failed or the WebSocket ended.
    socket.once('close', () => {
      open -= 1;
      const left = (openPerAddress.get(address) ?? 1) - 1;
      if (left === 0) openPerAddress.delete(address);
      else openPerAddress.set(address, left);
    });
    webSockets.handleUpgrade(request, socket, head, (ws) => serveWebSocket(ws));
  });

  function serveWebSocket(ws: WebSocket): void {
    connections.inc();
    let inFlight = 0;
    let alive = true;
    /** Resumes reading requests once the client has read most of what waits for it. */
    const drained = () => {
      if (ws.isPaused && ws.bufferedAmount <= maxBufferedBytes / 4) ws.resume();
    };
    const send = (bytes: Uint8Array) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount + bytes.length > maxBufferedBytes) {
        // The client does not read: drop it rather than hold its answers without bound.
        closedConnections.inc(1, { reason: 'slow_consumer' });
        ws.terminate();
        return;
      }
      ws.send(bytes, drained);
      if (ws.bufferedAmount > maxBufferedBytes / 2) ws.pause();
    };
    const session = service.openSession((push) => send(encodeFrame({ type: 'push', payload: push })));
    const registrations = service.connectionRegistrations();
    const closeWith = (code: number, reason: string) => {
      closedConnections.inc(1, { reason });
      ws.close(code, reason);
    };
    const pinger = setInterval(() => {
      if (!alive) {
        closedConnections.inc(1, { reason: 'no_pong' });
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, config.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
    pinger.unref();
    ws.on('pong', () => {
      alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        closeWith(CLOSE_PROTOCOL_ERROR, 'text_frame');
        return;
      }
      let frame: ReturnType<typeof decodeFrame>;
      try {
        frame = decodeFrame(toBytes(data));
      } catch (error) {
        if (!(error instanceof CodecError)) throw error;
        closeWith(CLOSE_PROTOCOL_ERROR, 'malformed_frame');
        return;
      }
      if (frame.type !== 'request') {
        closeWith(CLOSE_PROTOCOL_ERROR, 'unexpected_frame');
        return;
      }
      if (inFlight >= MAX_IN_FLIGHT) {
        closeWith(CLOSE_POLICY_VIOLATION, 'too_many_requests');
        return;
      }
      inFlight++;
      const { id } = frame;
      void service.handle(frame.payload, { session, registrations }).then((answer) => {
        inFlight--;
        send(encodeFrame({ type: 'response', id, payload: answer }));
      });
    });
    ws.on('error', (error) => logger.debug('websocket error', { error }));
    ws.on('close', () => {
      clearInterval(pinger);
      session.close();
      connections.dec();
    });
  }

  // Connections that never upgrade (slow or idle handshakes) are bounded too.
  server.maxConnections = maxConnections + HTTP_HEADROOM;
  const port = await listen(server, host, config.port ?? 0);
  const ops = await startServiceOps(
    config.ops,
    {
      role: 'delivery',
      metrics,
      logger,
      ready: () => ({
        serving: stopping ? { ok: false, detail: 'stopping' } : { ok: true },
        store: probeCheck(() => service.store.ping()),
      }),
    },
    async () => {
      await closeServer(server);
      await service.close();
    },
  );
  logger.info('delivery service listening', { port, backend: service.store.backend });

  return {
    url: `http://${hostForUrl(host)}:${port}`,
    webSocketUrl: `ws://${hostForUrl(host)}:${port}${WEBSOCKET_PATH}`,
    port,
    service,
    ops,
    get openConnections() {
      return open;
    },
    async close() {
      stopping = true;
      for (const ws of webSockets.clients) ws.close(CLOSE_GOING_AWAY, 'shutting_down');
      const closing = closeServer(server);
      // Clients that do not answer the close handshake in time are cut off with the server's sockets.
      const cutoff = setTimeout(() => {
        for (const ws of webSockets.clients) ws.terminate();
      }, 1_000);
      await closing;
      clearTimeout(cutoff);
      await new Promise<void>((resolve) => webSockets.close(() => resolve()));
      await Promise.all([ops?.close(), service.close()]);
    },
  };
}
