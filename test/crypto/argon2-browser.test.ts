// The portable backend's Argon2id in a real browser page, bundled as `umbra up` bundles the web app (the
// `browser` condition and workerScriptsPlugin) and served under the web app's Content-Security-Policy: the
// key equals the node backend's for the same inputs, and the page's own timers keep firing meanwhile (the
// derivation runs in a worker, not on the page's thread). Skipped, with a line saying so, without Chromium.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { chromium } from 'playwright-core';
import { toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { workerScriptsPlugin } from '../../src/up/bundle.ts';
import { CONTENT_SECURITY_POLICY } from '../../src/up/web-server.ts';
import { bundleForBrowser, CHROMIUM } from '../support/browser-bundle.ts';

/** The vault's parameters (docs/crypto.md). */
const PARAMETERS = { memoryKiB: 64 * 1024, iterations: 3, parallelism: 1 };

const ENTRY = `
import { portableBackend } from './src/crypto/backends/portable.ts';
import { fromHex, toHex } from './src/bytes.ts';

globalThis.deriveWhileTicking = async (passwordHex, saltHex, parameters) => {
  let ticks = 0;
  const timer = setInterval(() => { ticks += 1; }, 10);
  try {
    const key = await portableBackend.argon2id(fromHex(passwordHex), fromHex(saltHex), parameters);
    return { key: toHex(key), ticks };
  } finally {
    clearInterval(timer);
  }
};
`;

if (CHROMIUM === undefined) {
  console.log('# skip: no Chromium (apt-get install chromium); the browser Argon2id test did not run');
  test.skip('Argon2id in a browser page (no Chromium)');
} else {
  const executablePath = CHROMIUM;
  test('Argon2id in a browser page: the node backend key, and the page stays responsive', async () => {
    const { js } = await bundleForBrowser(ENTRY, 'argon2.js', [workerScriptsPlugin()]);
    const server = createServer((request, response) => {
      const isScript = request.url === '/argon2.js';
      response.writeHead(200, {
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'content-type': isScript ? 'text/javascript' : 'text/html',
      });
      response.end(isScript ? js : '<!doctype html><script type="module" src="/argon2.js"></script>');
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    after(() => server.close());
    const { port } = server.address() as AddressInfo;
    const browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox'] });
    after(() => browser.close());
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') violations.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => 'deriveWhileTicking' in globalThis);

    const password = new TextEncoder().encode('correct horse battery staple');
    const salt = new TextEncoder().encode('umbra-vault-salt');
    const expected = toHex(await nodeBackend.argon2id(password, salt, PARAMETERS));
    const result = await page.evaluate(
      ([passwordHex, saltHex, parameters]) =>
        (
          globalThis as unknown as {
            deriveWhileTicking(
              p: string,
              s: string,
              q: typeof parameters,
            ): Promise<{ key: string; ticks: number }>;
          }
        ).deriveWhileTicking(passwordHex, saltHex, parameters),
      [toHex(password), toHex(salt), PARAMETERS] as const,
    );
    assert.equal(result.key, expected);
    // On the page's thread the interval would not fire once during the derivation (it took seconds).
    assert.ok(result.ticks >= 5, `the page's 10 ms interval fired only ${result.ticks} times`);
    assert.deepEqual(violations, []);
  });
}
