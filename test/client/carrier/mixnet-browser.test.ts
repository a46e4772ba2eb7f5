// The mixnet carrier in a real browser: bundled for browsers (the `browser` condition, as the web app is),
// its import graph holds the portable crypto backend and not the Node one, and no Node built-in at all;
// loaded into Debian's Chromium, it
// connects to the in-test gateway over the page's own WebSocket, builds its packets in the packet worker
// (bundled as the web app bundles it), and gets an echo back through the mix layers. Skipped, with a line saying so, when no Chromium is installed.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { Plugin } from 'esbuild-wasm';
import { chromium } from 'playwright-core';
import { toHex } from '../../../src/bytes.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { workerScriptsPlugin } from '../../../src/up/bundle.ts';
import { bundleForBrowser, CHROMIUM } from '../../support/browser-bundle.ts';
import { TestGateway, TestNetwork } from './support.ts';

const ENTRY = `
import { MixnetCarrier } from './src/client/carrier/mixnet.ts';
import { fromHex, toHex } from './src/bytes.ts';
import { decodeNetworkDocument } from './src/directory/document.ts';
import { ECHO_SERVICE } from './src/protocol/service-framing.ts';
import { Geometry } from './src/sphinx/geometry.ts';

globalThis.echoThroughMixnet = async (gatewayUrl, documentHex, requestHex) => {
  const geometry = Geometry.create({ scheme: 'x25519', userForwardPayloadLength: 512, withSurb: true, nrHops: 5 });
  const document = decodeNetworkDocument(fromHex(documentHex));
  const carrier = await MixnetCarrier.connect({
    gatewayUrl, geometry, fetchDocument: async () => document, service: ECHO_SERVICE,
  });
  const statuses = [];
  carrier.onStatus((status) => statuses.push(status.state === 'up' ? 'up' : status.state + ': ' + status.reason));
  try {
    const status = carrier.status().state;
    const response = toHex(await carrier.request(fromHex(requestHex)));
    const { sent, packetWorker } = carrier.stats();
    return { status, response, sent, packetWorker, node: typeof process !== 'undefined' };
  } catch (error) {
    // What the carrier went through, for the failure message: a bare timeout says nothing of why.
    throw new Error(error.message + '; statuses ' + JSON.stringify(statuses) + '; stats ' +
      JSON.stringify(carrier.stats(), (_, value) => (typeof value === 'bigint' ? String(value) : value)));
  } finally {
    await carrier.close();
  }
};
`;

/** Node built-ins resolve to empty modules, so the test can list which modules import one. */
const nodeBuiltinsAsEmpty: Plugin = {
  name: 'node-builtins',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'stub' }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'module.exports = {};',
      loader: 'js',
    }));
  },
};

/** How often the test gateway pads, as a real gateway's downstream ticks do (a frame at 2λ). */
const HEARTBEAT_MS = 50;

describe('MixnetCarrier in a browser', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('bundles without the Node backend and echoes through the mix layers from Chromium', async (t) => {
    if (!CHROMIUM) {
      t.skip('SKIP: no Chromium installed (/usr/bin/chromium); the browser test did not run');
      return;
    }
    const { js, inputs } = await bundleForBrowser(ENTRY, 'carrier.js', [
      nodeBuiltinsAsEmpty,
      workerScriptsPlugin(),
    ]);
    const files = Object.keys(inputs);
    assert.ok(files.includes('src/crypto/backends/portable.ts'), 'the portable backend is bundled');
    assert.ok(!files.includes('src/crypto/backends/node.ts'), 'the Node backend is not');
    const withBuiltins = files.filter((file) =>
      (inputs[file]?.imports ?? []).some((entry) => entry.path.startsWith('node:')),
    );
    assert.deepEqual(withBuiltins, [], 'no module of the carrier’s graph imports a Node built-in');

    const network = new TestNetwork();
    const gateway = await new TestGateway(network).start();
    // A real gateway sends a frame every downstream tick. Without them the carrier hears only its loops, and
    // on a busy machine a gap of 2 s between two of them reads as a hung gateway: it reconnected and started
    // the request again, over and over, until the request timed out (twice in CI, never when quiet).
    gateway.heartbeat(HEARTBEAT_MS);
    cleanups.push(() => gateway.stop());
    const server = createServer((request, response) => {
      if (request.url === '/carrier.js') {
        response.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      } else {
        response
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script type="module" src="/carrier.js"></script>');
      }
    });
    server.listen(0, '127.0.0.1');
    await new Promise((ready) => server.once('listening', ready));
    cleanups.push(() => new Promise((done) => server.close(() => done())));
    const { port } = server.address() as AddressInfo;

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => 'echoThroughMixnet' in globalThis);
    const request = randomBytes(1500);
    const result = await page.evaluate(
      ([url, document, bytes]) =>
        (
          globalThis as unknown as {
            echoThroughMixnet: (
              url: string,
              document: string,
              bytes: string,
            ) => Promise<{
              status: string;
              response: string;
              sent: { real: number };
              packetWorker: boolean;
              node: boolean;
            }>;
          }
        ).echoThroughMixnet(url, document, bytes),
      [gateway.url, toHex(network.body), toHex(request)] as const,
    );
    assert.equal(result.node, false, 'the page is not Node');
    assert.equal(result.packetWorker, true, 'the packets were built in the packet worker');
    assert.equal(result.status, 'up');
    assert.equal(result.response, toHex(request));
    assert.ok(result.sent.real >= 4, 'a 1,500-byte request took several fragments');
    assert.equal(gateway.serviceCalls.length, 1);
  });
});
