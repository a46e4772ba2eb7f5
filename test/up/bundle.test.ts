/**
 * The web app bundle: it builds from this checkout, holds nothing that only Node can run (no `node:` import,
 * no native module: the portable crypto backend is the one bundled), and a second build with unchanged
 * sources comes from the cache under the data directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bundleWebApp } from '../../src/up/bundle.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('the web app bundles for browsers, then comes from the cache', async () => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'umbra-bundle-'));
  try {
    const first = await bundleWebApp({ root: ROOT, cacheDir });
    assert.equal(first.cached, false);
    const js = new TextDecoder().decode(first.js);
    assert.doesNotMatch(js, /from\s*["']node:/);
    assert.doesNotMatch(js, /sodium-native/);
    assert.match(js, /indexedDB/);
    const second = await bundleWebApp({ root: ROOT, cacheDir });
    assert.equal(second.cached, true);
    assert.deepEqual(second.js, first.js);
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
});
