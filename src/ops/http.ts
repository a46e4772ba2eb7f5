/**
 * HTTP plumbing shared by every role (node:http, no framework): listening and closing without leaking
 * sockets, reading request bodies under a hard size limit, and the operator endpoints: `GET /metrics` in
 * the Prometheus text format; `GET /health`, liveness: 200 and `{ status: 'ok', role, epoch, uptime }`
 * whenever the process answers at all; and `GET /ready`, readiness: the role's named checks (a current
 * network document, keys for this epoch and the next, links up, the store answering), each `{ ok, detail }`,
 * with `notReady` naming those that fail — 200 when every check passes, 503 otherwise, so load balancers and
 * orchestrators can act on the code alone and a person can read the body. A check that does not settle
 * within `READY_CHECK_TIMEOUT_MS` fails as such. The operator endpoints are meant for a private interface;
 * they reveal counts and timings, never identifiers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './metrics.ts';

/** One readiness check's verdict; `detail` says what is missing when it fails (and may add facts when not). */
export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

/** A role's readiness checks by name: `document`, `keys`, `links`, `store`, … */
export type Readiness = Readonly<Record<string, ReadinessCheck | Promise<ReadinessCheck>>>;

/** How long /ready waits for one check (a store query) before it counts as failed. */
export const READY_CHECK_TIMEOUT_MS = 2_000;

export interface OpsEndpointOptions {
  readonly role: string;
  readonly metrics: MetricsRegistry;
  /** The epoch the process works in, for /health and /ready; default none. */
  readonly epoch?: () => number | undefined;
  /** The checks /ready runs on every request; default none (always ready). */
  readonly ready?: () => Readiness;
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

/** A check that runs `probe` (a store query): ok when it settles, failed with its error's message otherwise. */
export async function probeCheck(probe: () => unknown): Promise<ReadinessCheck> {
  try {
    await probe();
    return { ok: true };
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}

/** Every check settled (or timed out), and the names of those that failed. */
async function evaluate(readiness: Readiness): Promise<{
  checks: Record<string, ReadinessCheck>;
  notReady: string[];
}> {
  const entries = await Promise.all(
    Object.entries(readiness).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<ReadinessCheck>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, detail: `no answer within ${READY_CHECK_TIMEOUT_MS} ms` }),
          READY_CHECK_TIMEOUT_MS,
        );
      });
      const settled = await Promise.race([Promise.resolve(check), late]).finally(() => clearTimeout(timer));
      return [name, settled] as const;
    }),
  );
  return {
    checks: Object.fromEntries(entries),
    notReady: entries.filter(([, check]) => !check.ok).map(([name]) => name),
  };
}

/**
 * A handler for /metrics, /health and /ready, to mount on an existing server: returns false for any other
 * path so the caller can route it.
 */
export function opsEndpoints(
  options: OpsEndpointOptions,
): (request: IncomingMessage, response: ServerResponse) => boolean {
  const monotonicNow = options.monotonicNow ?? (() => performance.now());
  const startedAt = monotonicNow();
  const { role, logger } = options;
  return (request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' && path !== '/health' && path !== '/ready') return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    const epoch = options.epoch?.() ?? null;
    if (path === '/health') {
      sendJson(response, 200, {
        status: 'ok',
        role,
        epoch,
        uptime: Math.floor((monotonicNow() - startedAt) / 1000),
      });
      return true;
    }
    const answer =
      path === '/metrics'
        ? options.metrics.render().then((body) => {
            response.writeHead(200, {
              'content-type': METRICS_CONTENT_TYPE,
              'content-length': Buffer.byteLength(body),
            });
            response.end(request.method === 'HEAD' ? undefined : body);
          })
        : evaluate(options.ready?.() ?? {}).then(({ checks, notReady }) => {
            const ready = notReady.length === 0;
            sendJson(response, ready ? 200 : 503, { ready, role, epoch, notReady, checks });
          });
    answer.catch((error: unknown) => {
      logger?.error('operator endpoint failed', { path, error });
      response.writeHead(500).end();
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
