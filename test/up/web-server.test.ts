/**
 * The web app's server as a browser meets it: the page with its Content-Security-Policy, /config.json, the
 * directory proxied under /directory/, and WebSockets relayed to the gateway and the delivery service —
 * including after the upstream restarts, and closed when the server stops.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { silentLogger } from '../../src/ops/logger.ts';
import { WEB_CONFIG_VERSION, type WebConfig } from '../../src/protocol/web-config.ts';
import { startWebServer, type WebServer } from '../../src/up/web-server.ts';

const CONFIG: WebConfig = {
  version: WEB_CONFIG_VERSION,
  directoryPath: '/directory',
  authorityPublicKeys: 'not-a-real-key',
  gatewayPath: '/ws/gateway',
  deliveryPath: '/ws/delivery',
  geometry: { scheme: 'x25519', payloadLength: 2000, withSurb: true, hops: 5 },
  privacy: 'mixnet',
};

let webRoot: string;
let directory: Server;
let echo: WebSocketServer;
let web: WebServer;
/** The echo server's port, kept across its restart (a closed server has no address). */
let echoPort: number;

function port(server: Server | WebSocketServer): number {
  return (server.address() as AddressInfo).port;
}

async function startEcho(at = 0): Promise<WebSocketServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: at, path: '/v1/client' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
  return server;
}

function roundTrip(url: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => socket.send(text));
    socket.once('message', (data) => {
      resolve(String(data));
      socket.close();
    });
    socket.once('error', reject);
  });
}

before(async () => {
  webRoot = await mkdtemp(join(tmpdir(), 'umbra-web-'));
  await writeFile(join(webRoot, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(join(webRoot, 'styles.css'), 'body{}');
  directory = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.end(`document at ${request.url}`);
  });
  await new Promise<void>((resolve) => directory.listen(0, '127.0.0.1', resolve));
  echo = await startEcho();
  echoPort = port(echo);
  web = await startWebServer({
    host: '127.0.0.1',
    port: 0,
    webRoot,
    app: async () => new TextEncoder().encode('console.log("app")'),
    config: () => CONFIG,
    upstreams: () => ({
      directory: `http://127.0.0.1:${port(directory)}`,
      gateway: { host: '127.0.0.1', port: echoPort, path: '/v1/client' },
      delivery: { host: '127.0.0.1', port: echoPort, path: '/v1/client' },
    }),
    logger: silentLogger,
  });
});

after(async () => {
  await web.close();
  echo.close();
  directory.close();
  await rm(webRoot, { recursive: true, force: true });
});

test('the page is served with a policy that keeps connections to its own origin', async () => {
  const response = await fetch(`${web.url}/`);
  assert.equal(response.status, 200);
  const policy = response.headers.get('content-security-policy') ?? '';
  assert.match(policy, /connect-src 'self'/);
  assert.match(policy, /default-src 'none'/);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  const app = await fetch(`${web.url}/app.js`);
  assert.match(app.headers.get('content-type') ?? '', /javascript/);
  assert.equal(await app.text(), 'console.log("app")');
});

test('/config.json is the configuration, never cached', async () => {
  const response = await fetch(`${web.url}/config.json`);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  assert.deepEqual(await response.json(), CONFIG);
});

test('the directory is proxied under /directory/', async () => {
  const response = await fetch(`${web.url}/directory/v1/document/current`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'document at /v1/document/current');
});

test('unknown paths are 404 and other methods 405', async () => {
  assert.equal((await fetch(`${web.url}/nope`)).status, 404);
  assert.equal((await fetch(`${web.url}/`, { method: 'POST' })).status, 405);
});

test('WebSockets are relayed to the gateway and the delivery service', async () => {
  const wsUrl = web.url.replace('http:', 'ws:');
  assert.equal(await roundTrip(`${wsUrl}/ws/gateway`, 'to the gateway'), 'to the gateway');
  assert.equal(await roundTrip(`${wsUrl}/ws/delivery`, 'to delivery'), 'to delivery');
});

test('a WebSocket to an upstream that is down fails, and works again once it is back', async () => {
  const wsUrl = web.url.replace('http:', 'ws:');
  await new Promise<void>((resolve) => echo.close(() => resolve()));
  await assert.rejects(roundTrip(`${wsUrl}/ws/gateway`, 'lost'));
  echo = await startEcho(echoPort);
  assert.equal(await roundTrip(`${wsUrl}/ws/gateway`, 'back'), 'back');
});

test('closing the server ends relayed WebSockets', async () => {
  const other = await startWebServer({
    host: '127.0.0.1',
    port: 0,
    webRoot,
    app: async () => new Uint8Array(0),
    config: () => CONFIG,
    upstreams: () => ({
      directory: 'http://127.0.0.1:1',
      gateway: { host: '127.0.0.1', port: echoPort, path: '/v1/client' },
    }),
    logger: silentLogger,
  });
  const socket = new WebSocket(`${other.url.replace('http:', 'ws:')}/ws/gateway`);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await other.close();
  await closed;
  assert.equal(socket.readyState, WebSocket.CLOSED);
});
