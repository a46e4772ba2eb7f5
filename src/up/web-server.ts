/**
 * The web app's HTTP server for `umbra up`: serves the page, the bundled app and `/config.json`, and proxies
 * what a page cannot reach across origins — the directory's HTTP API under `/directory/`, and the gateway's
 * and delivery service's WebSockets under `/ws/gateway` and `/ws/delivery` (raw byte relays after the
 * upgrade, so the proxy sees only TLS-free framing of Sphinx packets and sealed requests, never plaintext).
 * The page is held to this origin by its Content-Security-Policy: whatever it runs cannot send anything
 * anywhere else.
 *
 * Upstream addresses are read on every request, so a component restarted on a new port is found again.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { closeServer, createHttpServer, listen, sendJson } from '../ops/http.ts';
import type { Logger } from '../ops/logger.ts';
import type { WebConfig } from '../protocol/web-config.ts';

/** host:port of a TCP service. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface Upstreams {
  /** The directory's HTTP base URL. */
  readonly directory: string;
  /** The gateway's client WebSocket listener, and the path it serves it on. */
  readonly gateway: Endpoint & { readonly path: string };
  /** The delivery service's WebSocket listener (direct carrier), when offered. */
  readonly delivery?: Endpoint & { readonly path: string };
}

export interface WebServerOptions {
  readonly host: string;
  readonly port: number;
  /** The folder holding index.html and styles.css. */
  readonly webRoot: string;
  /** The bundled app; awaited on each request of /app.js, so the server may listen before it is built. */
  readonly app: () => Promise<Uint8Array>;
  readonly config: () => WebConfig;
  readonly upstreams: () => Upstreams;
  /** False while the network behind is starting: the configuration and relays answer 503 meanwhile. */
  readonly ready?: () => boolean;
  readonly logger: Logger;
}

export interface WebServer {
  readonly port: number;
  /** http://localhost:port (what people type), or the listen host when it is not loopback. */
  readonly url: string;
  close(): Promise<void>;
}

/** Directory documents are at most 16 MiB (docs/network.md); nothing else proxied is larger. */
const MAX_PROXIED_BYTES = 16 * 1024 * 1024 + 4096;
const DIRECTORY_PREFIX = '/directory/';

/** The page's policy; `worker-src blob:` admits the Argon2id worker, which the app starts from its own text. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  'worker-src blob:',
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

function sendBytes(
  response: ServerResponse,
  type: string,
  body: Uint8Array | string,
  cache = 'no-cache',
): void {
  response.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
    'cache-control': cache,
  });
  response.end(body);
}

async function proxyDirectory(
  request: IncomingMessage,
  response: ServerResponse,
  base: string,
  path: string,
): Promise<void> {
  const target = new URL(path.slice(DIRECTORY_PREFIX.length - 1), base.endsWith('/') ? base : `${base}/`);
  let upstream: Response;
  try {
    upstream = await fetch(target, { method: 'GET', signal: AbortSignal.timeout(10_000) });
  } catch {
    sendJson(response, 502, { error: 'unavailable', message: 'the directory authority is unreachable' });
    return;
  }
  const body = new Uint8Array(await upstream.arrayBuffer());
  if (body.length > MAX_PROXIED_BYTES) {
    sendJson(response, 502, { error: 'too_large', message: 'the directory answered too much' });
    return;
  }
  response.writeHead(upstream.status, {
    ...SECURITY_HEADERS,
    'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  response.end(request.method === 'HEAD' ? undefined : body);
}

/**
 * Relays an upgraded connection to `target` byte for byte: the request line is rewritten to the upstream
 * path and the headers are passed on unchanged, so the WebSocket handshake happens end to end.
 */
function relayUpgrade(
  request: IncomingMessage,
  client: Duplex,
  head: Buffer,
  target: Endpoint & { readonly path: string },
  logger: Logger,
  open: Set<Duplex>,
): void {
  const upstream: Socket = connect(target.port, target.host);
  open.add(client);
  client.once('close', () => open.delete(client));
  const fail = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.once('error', () => {
    logger.debug('websocket upstream unreachable', { port: target.port });
    fail();
  });
  client.once('error', fail);
  upstream.once('connect', () => {
    const lines = [`GET ${target.path} HTTP/1.1`];
    for (let index = 0; index < request.rawHeaders.length; index += 2) {
      const name = request.rawHeaders[index] as string;
      const value = request.rawHeaders[index + 1] as string;
      lines.push(`${name}: ${name.toLowerCase() === 'host' ? `${target.host}:${target.port}` : value}`);
    }
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.once('close', () => client.destroy());
  client.once('close', () => upstream.destroy());
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const { logger } = options;
  const [indexHtml, stylesCss] = await Promise.all([
    readFile(join(options.webRoot, 'index.html')),
    readFile(join(options.webRoot, 'styles.css')),
  ]);

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const needsNetwork = path === '/config.json' || path.startsWith(DIRECTORY_PREFIX);
    if (needsNetwork && options.ready?.() === false) {
      sendJson(response, 503, { error: 'starting', message: 'umbra is starting; try again in a moment' });
    } else if (path === '/' || path === '/index.html') {
      sendBytes(response, 'text/html; charset=utf-8', indexHtml);
    } else if (path === '/app.js') {
      sendBytes(response, 'text/javascript; charset=utf-8', await options.app());
    } else if (path === '/styles.css') {
      sendBytes(response, 'text/css; charset=utf-8', stylesCss);
    } else if (path === '/config.json') {
      sendBytes(response, 'application/json; charset=utf-8', JSON.stringify(options.config()), 'no-store');
    } else if (path === '/health') {
      sendJson(response, 200, { status: 'ok', role: 'web' });
    } else if (path.startsWith(DIRECTORY_PREFIX)) {
      await proxyDirectory(request, response, options.upstreams().directory, path);
    } else {
      sendJson(response, 404, { error: 'not_found', message: 'no such page' });
    }
  }

  // Upgraded sockets leave the HTTP server's bookkeeping: they are tracked here so close() ends them.
  const relayed = new Set<Duplex>();
  const server = createHttpServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error('web request failed', { error });
      if (!response.headersSent) sendJson(response, 500, { error: 'internal', message: 'internal error' });
      else response.destroy();
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      if (options.ready?.() === false) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      const upstreams = options.upstreams();
      const target =
        path === '/ws/gateway' ? upstreams.gateway : path === '/ws/delivery' ? upstreams.delivery : undefined;
      if (target === undefined) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      relayUpgrade(request, socket, head, target, logger, relayed);
    } catch (error) {
      logger.error('websocket relay failed', { error });
      socket.destroy();
    }
  });
  const port = await listen(server, options.host, options.port);
  const loopback = options.host === '127.0.0.1' || options.host === 'localhost' || options.host === '::1';
  const url = `http://${loopback ? 'localhost' : options.host}:${port}`;
  return {
    port,
    url,
    close: async () => {
      for (const socket of relayed) socket.destroy();
      await closeServer(server, 500);
    },
  };
}
