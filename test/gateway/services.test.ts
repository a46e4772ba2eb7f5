// The gateway's services: `--service` entries parse into echo and HTTP services (and bad ones are
// ConfigErrors); an HTTP service POSTs the request as octet-stream to a real server and returns its body,
// and turns an error status, a timeout, an oversized answer or an unreachable endpoint into
// GatewayError('service_failed').
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { ConfigError, GatewayError } from '../../src/errors.ts';
import { echoService, httpService, parseServices } from '../../src/gateway/services.ts';

let server: Server;
let base: string;
const seen: { method: string | undefined; type: string | undefined }[] = [];

before(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ method: request.method, type: request.headers['content-type'] });
      const body = Buffer.concat(chunks);
      if (request.url === '/v1/request')
        response.writeHead(200).end(Buffer.concat([Buffer.from('re:'), body]));
      else if (request.url === '/broken') response.writeHead(500).end('no');
      else if (request.url === '/huge') response.writeHead(200).end(Buffer.alloc(2048));
      // '/slow' never answers.
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const failed = (error: unknown) => error instanceof GatewayError && error.reason === 'service_failed';

describe('services', () => {
  test('echo answers with the request', async () => {
    const request = randomBytes(100);
    assert.deepEqual(await echoService(request), request);
  });

  test('an HTTP service POSTs octet-stream and returns the body', async () => {
    const service = httpService(`${base}/v1/request`);
    assert.deepEqual(
      await service(Uint8Array.from([1, 2, 3])),
      Uint8Array.from([...Buffer.from('re:'), 1, 2, 3]),
    );
    assert.deepEqual(seen.at(-1), { method: 'POST', type: 'application/octet-stream' });
  });

  test('error statuses, timeouts, oversized answers and unreachable endpoints are service_failed', async () => {
    await assert.rejects(httpService(`${base}/broken`)(new Uint8Array(1)), failed);
    await assert.rejects(httpService(`${base}/slow`, { timeoutMs: 200 })(new Uint8Array(1)), failed);
    await assert.rejects(httpService(`${base}/huge`, { maxResponseBytes: 1024 })(new Uint8Array(1)), failed);
    await assert.rejects(httpService('http://127.0.0.1:1/v1/request')(new Uint8Array(1)), failed);
  });

  test('--service entries: echo, name=url; anything else is a ConfigError', async () => {
    const services = parseServices(['echo', `delivery=${base}/v1/request`]);
    assert.deepEqual([...services.keys()], ['echo', 'delivery']);
    assert.deepEqual(
      await services.get('delivery')?.(Uint8Array.from([9])),
      Uint8Array.from([...Buffer.from('re:'), 9]),
    );
    for (const bad of [['delivery'], ['Echo'], ['echo', 'echo'], ['x=ftp://a/b'], ['x=not a url']]) {
      assert.throws(() => parseServices(bad), ConfigError, bad.join(' '));
    }
  });
});
