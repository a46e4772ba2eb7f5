// The operator endpoints and HTTP plumbing over real sockets with fetch: /metrics serves the registry in
// the Prometheus content type, /health reports status, role, epoch and uptime while the process answers,
// /ready runs the role's checks (200 when all pass, 503 naming those that fail or do not settle), other
// paths and methods are refused; readBody enforces its limit on announced and streamed bodies; closeServer
// returns even while a keep-alive connection is open.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { describe, test } from 'node:test';
import {
  closeServer,
  createHttpServer,
  listen,
  READY_CHECK_TIMEOUT_MS,
  type Readiness,
  readBody,
  sendJson,
  startOpsServer,
} from '../../src/ops/http.ts';
import { METRICS_CONTENT_TYPE, MetricsRegistry } from '../../src/ops/metrics.ts';

describe('operator endpoints', () => {
  test('/metrics, /health and /ready over HTTP', async () => {
    const metrics = new MetricsRegistry();
    metrics.counter({ name: 'umbra_mix_packets_in_total', help: 'Packets received.' }).inc(5);
    let epoch: number | undefined = 1234;
    let checks: Readiness = {
      document: { ok: true, detail: 'epoch 1234' },
      store: Promise.resolve({ ok: true }),
    };
    let clock = 1_000;
    const server = await startOpsServer({
      role: 'mix',
      metrics,
      epoch: () => epoch,
      ready: () => checks,
      monotonicNow: () => clock,
    });
    try {
      const metricsResponse = await fetch(`${server.url}/metrics`);
      assert.equal(metricsResponse.status, 200);
      assert.equal(metricsResponse.headers.get('content-type'), METRICS_CONTENT_TYPE);
      assert.match(await metricsResponse.text(), /^umbra_mix_packets_in_total 5$/m);

      clock += 61_500;
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 200);
      assert.match(health.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await health.json(), { status: 'ok', role: 'mix', epoch: 1234, uptime: 61 });

      const ready = await fetch(`${server.url}/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), {
        ready: true,
        role: 'mix',
        epoch: 1234,
        notReady: [],
        checks: { document: { ok: true, detail: 'epoch 1234' }, store: { ok: true } },
      });

      epoch = undefined;
      checks = {
        document: { ok: false, detail: 'not yet listed' },
        links: { ok: true },
        store: new Promise(() => {}), // a store that never answers
      };
      const notReady = await fetch(`${server.url}/ready`);
      assert.equal(notReady.status, 503);
      assert.deepEqual(await notReady.json(), {
        ready: false,
        role: 'mix',
        epoch: null,
        notReady: ['document', 'store'],
        checks: {
          document: { ok: false, detail: 'not yet listed' },
          links: { ok: true },
          store: { ok: false, detail: `no answer within ${READY_CHECK_TIMEOUT_MS} ms` },
        },
      });
      const alive = await fetch(`${server.url}/health`);
      assert.equal(alive.status, 200, 'alive while not ready');
      assert.equal(((await alive.json()) as { status: string }).status, 'ok');

      assert.equal((await fetch(`${server.url}/other`)).status, 404);
      const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
    } finally {
      await server.close();
    }
  });
});

describe('readBody and closeServer', () => {
  async function echoServer(limit: number): Promise<{ server: Server; url: string }> {
    const server = createHttpServer((request, response) => {
      void readBody(request, limit).then((body) => {
        if (body === undefined) sendJson(response, 413, { error: 'too_large' }, true);
        else sendJson(response, 200, { length: body.length });
      });
    });
    const port = await listen(server, '127.0.0.1', 0);
    return { server, url: `http://127.0.0.1:${port}/` };
  }

  test('reads bodies up to the limit and refuses larger ones, announced or streamed', async () => {
    const { server, url } = await echoServer(1000);
    try {
      const ok = await fetch(url, { method: 'POST', body: new Uint8Array(1000) });
      assert.deepEqual(await ok.json(), { length: 1000 });

      const announced = await fetch(url, { method: 'POST', body: new Uint8Array(1001) });
      assert.equal(announced.status, 413);

      // A chunked body announces nothing: the limit must hold while reading.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 8; i++) controller.enqueue(new Uint8Array(500));
          controller.close();
        },
      });
      const streamed = await fetch(url, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
      assert.equal(streamed.status, 413);
    } finally {
      await closeServer(server);
    }
  });

  test('closeServer returns while a client keeps its connection alive', async () => {
    const { server, url } = await echoServer(10);
    const response = await fetch(url, { method: 'POST', body: 'hi', keepalive: true });
    assert.equal(response.status, 200);
    await response.text();
    await closeServer(server, 200);
    assert.equal(server.listening, false);
  });
});
