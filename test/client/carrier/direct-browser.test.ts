// The direct carrier and DeliveryClient in a real browser (Debian's Chromium driven by playwright-core),
// bundled for the browser with esbuild-wasm (the portable crypto backend, the global WebSocket): a page
// registers a handle, publishes a KeyPackage, looks itself up (verifying the registration in the browser),
// posts a commit, reads it back and receives a push for a post made from Node. Skipped without Chromium.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild-wasm';
import { chromium } from 'playwright-core';
import { DirectCarrier } from '../../../src/client/carrier/direct.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { closeServer, listen } from '../../../src/ops/http.ts';
import { DeliveryClient } from '../../../src/protocol/client.ts';
import type { IdentityKeyPair } from '../../../src/protocol/identity.ts';
import { startServer } from '../../delivery/support.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// A module (the portable backend awaits its WebAssembly at import), which hands the page its exports.
const ENTRY = `
import { DirectCarrier } from './src/client/carrier/direct.ts';
import { DeliveryClient } from './src/protocol/client.ts';
import { IdentityKeyPair } from './src/protocol/identity.ts';
globalThis.umbra = { DirectCarrier, DeliveryClient, IdentityKeyPair };
`;

/** The bundle's exports, as the page sees them on `globalThis.umbra`. */
interface Umbra {
  readonly DirectCarrier: typeof DirectCarrier;
  readonly DeliveryClient: typeof DeliveryClient;
  readonly IdentityKeyPair: typeof IdentityKeyPair;
}

/** What the page reports back. */
interface PageResult {
  readonly registered: unknown;
  readonly published: unknown;
  readonly lookedUp: boolean;
  readonly posted: unknown;
  readonly entries: number;
  readonly push: unknown;
}

if (!existsSync(CHROMIUM)) {
  console.log(`# skip: no Chromium at ${CHROMIUM}; the direct carrier's browser test did not run`);
  test.skip('the direct carrier in a browser (no Chromium)');
} else {
  test('the direct carrier and DeliveryClient work in a browser', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'umbra-direct-browser-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const running = await startServer({ sqlitePath: join(dir, 'delivery.sqlite') });
    t.after(() => running.close());

    const bundle = await build({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      conditions: ['browser'],
      write: false,
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]?.text ?? '';
    // A page on http://127.0.0.1 is a secure context, as a deployed app on https would be.
    const page = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>umbra</title>');
    });
    const pagePort = await listen(page, '127.0.0.1', 0);
    t.after(() => closeServer(page));

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    t.after(() => browser.close());
    const tab = await browser.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (error) => errors.push(error.message));
    await tab.goto(`http://127.0.0.1:${pagePort}/`);
    await tab.addScriptTag({ content: script, type: 'module' });
    await tab.waitForFunction(() => 'umbra' in globalThis);

    const routingId = randomBytes(32);
    const pushed = tab.evaluate(
      async ({ url, routingId }) => {
        const umbra = (globalThis as unknown as { umbra: Umbra }).umbra;
        const carrier = new umbra.DirectCarrier({ url });
        const identity = umbra.IdentityKeyPair.generate();
        const client = new umbra.DeliveryClient({ carrier, identity });
        const id = Uint8Array.from(routingId);
        const registered = await client.register('browser-alice');
        const published = await client.publishKeyPackages({
          handle: 'browser-alice',
          deviceId: new Uint8Array([1]),
          oneTime: [{ id: new Uint8Array([1]), data: new Uint8Array([1, 2, 3]) }],
        });
        const lookup = await client.lookup('browser-alice');
        const posted = await client.postToLog(id, {
          kind: 'commit',
          messageId: new Uint8Array([9]),
          blob: new Uint8Array([4, 5, 6]),
          bucket: 16,
        });
        const page = await client.fetchLog(id, 0);
        const push = new Promise((resolve) => {
          client.onPush((event) => {
            if (event.type === 'log' && event.kind === 'welcome')
              resolve({ type: event.type, seq: event.seq });
          });
        });
        await client.subscribe({ routingIds: [id], mailboxSecrets: [] });
        (globalThis as unknown as { subscribed: boolean }).subscribed = true;
        const result = {
          registered,
          published,
          lookedUp: lookup.ok,
          posted,
          entries: page.entries.length,
          push: await push,
        };
        await carrier.close();
        return result;
      },
      { url: running.server.webSocketUrl, routingId: [...routingId] },
    );
    await tab.waitForFunction(() => (globalThis as unknown as { subscribed?: boolean }).subscribed === true);
    const carrier = new DirectCarrier({ url: running.server.webSocketUrl });
    const node = new DeliveryClient({ carrier });
    await node.postToLog(routingId, {
      kind: 'welcome',
      messageId: new Uint8Array([10]),
      blob: new Uint8Array(3),
      bucket: 16,
      commitMessageId: new Uint8Array([9]),
    });
    await carrier.close();
    const result: PageResult = await pushed;
    assert.deepEqual(errors, []);
    assert.deepEqual(result, {
      registered: { ok: true, created: true },
      published: { ok: true, added: 1 },
      lookedUp: true,
      posted: { ok: true, status: 'stored', seq: 1 },
      entries: 1,
      push: { type: 'log', seq: 2 },
    });
  });
}
