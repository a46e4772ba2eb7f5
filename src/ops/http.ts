/**
 * HTTP plumbing shared by every role (node:http, no framework): listening and closing without leaking
 * sockets, reading request bodies under a hard size limit, and the operator endpoints — `GET /metrics` in
 * the Prometheus text format and `GET /health` as JSON `{ status, role, epoch, uptime }` (503 unless the
 * status is 'ok', so load balancers and orchestrators can act on the code alone). The operator endpoints are
 * meant for a private interface; they reveal counts and timings, never identifiers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './metrics.ts';

export type HealthStatus = 'ok' | 'starting' | 'degraded' | 'stopping';

export interface HealthReport {
  readonly status: HealthStatus;
  /** The epoch the process is working in, when it has one. */
  readonly epoch?: number;
}

export interface OpsEndpointOptions {
  readonly role: string;
  readonly metrics: MetricsRegistry;
  /** Called on every /health request; default reports 'ok' with no epoch. */
  readonly health?: () => HealthReport;
  /** Milliseconds on a monotonic clock, for the uptime; default performance.now. */
  readonly monotonicNow?: () => number;
  readonly logger?: Logger;
}

export interface OpsServerOptions extends OpsEndpointOptions {
  /** Default 127.0.0.1: the endpoints are for operators, not the Internet. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
}

export interface OpsServer {
  readonly port: number;
  /** http://host:port, for scrapers and tests. */
  readonly url: string;
  close(): Promise<void>;
}

/** Seconds a client may take to send its headers or a whole request before the socket is dropped. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Creates a server with timeouts that stop slow clients from holding sockets open. */
export function createHttpServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Server {
  const server = createServer(
    { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS },
    handler,
  );
  server.keepAliveTimeout = 5_000;
  return server;
}

/** Starts listening and resolves with the bound port (useful with port 0). */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting, lets requests in flight finish for up to `graceMs`, then drops what is left. */
export function closeServer(server: Server, graceMs = 2_000): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close((error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * The request body, or undefined when it exceeds `maxBytes` (announced or actual). Collection stops at the
 * limit and the rest is discarded unread, so an oversized body costs at most `maxBytes` of memory; answer
 * it with `connection: close` (see `sendJson`) so the client stops sending.
 */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      request.resume();
      resolve(undefined);
      return;
    }
    const chunks: Uint8Array[] = [];
    let length = 0;
    const onData = (chunk: Uint8Array) => {
      length += chunk.length;
      if (length > maxBytes) {
        cleanup();
        chunks.length = 0;
        request.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const body = new Uint8Array(length);
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.length;
      }
      resolve(body);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    function cleanup(): void {
      request.off('data', onData).off('end', onEnd).off('error', onError);
    }
    request.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/** Sends `value` as JSON; `close` ends the connection after it (for refusals of a body left unread). */
export function sendJson(response: ServerResponse, status: number, value: unknown, close = false): void {
  const body = JSON.stringify(value);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(close ? { connection: 'close' } : {}),
  });
  response.end(body);
}

/**
 * A handler for /metrics and /health, to mount on an existing server: returns false for any other path so
 * the caller can route it.
 */
export function opsEndpoints(
  options: OpsEndpointOptions,
): (request: IncomingMessage, response: ServerResponse) => boolean {
  const monotonicNow = options.monotonicNow ?? (() => performance.now());
  const startedAt = monotonicNow();
  return (request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' && path !== '/health') return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    if (path === '/metrics') {
      options.metrics.render().then(
        (body) => {
          response.writeHead(200, {
            'content-type': METRICS_CONTENT_TYPE,
            'content-length': Buffer.byteLength(body),
          });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => {
          options.logger?.error('metrics collection failed', { error });
          response.writeHead(500).end();
        },
      );
      return true;
    }
    const report = options.health?.() ?? { status: 'ok' };
    sendJson(response, report.status === 'ok' ? 200 : 503, {
      status: report.status,
      role: options.role,
      epoch: report.epoch ?? null,
      uptime: Math.floor((monotonicNow() - startedAt) / 1000),
    });
    return true;
  };
}

/** A host as it stands in a URL or a host:port address: IPv6 in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The operator endpoints of a service, at `address` when the operator gave one (else none). If they cannot
 * start, `undo` stops what the service had started before the error is thrown on.
 */
export async function startServiceOps(
  address: { readonly host?: string; readonly port: number } | undefined,
  options: Omit<OpsServerOptions, 'host' | 'port'>,
  undo: () => Promise<void>,
): Promise<OpsServer | undefined> {
  if (address === undefined) return undefined;
  try {
    return await startOpsServer({ ...options, ...address });
  } catch (error) {
    await undo();
    throw error;
  }
}

/** A server with only the operator endpoints, on its own (usually private) address. */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const host = options.host ?? '127.0.0.1';
  const endpoints = opsEndpoints(options);
  const server = createHttpServer((request, response) => {
    if (!endpoints(request, response)) response.writeHead(404).end();
  });
  const port = await listen(server, host, options.port ?? 0);
  const url = `http://${hostForUrl(host)}:${port}`;
  options.logger?.info('operator endpoints listening', { port });
  return { port, url, close: () => closeServer(server) };
}
