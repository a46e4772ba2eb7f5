// The SDK must bundle for browsers: esbuild (platform browser, the package's `browser` import condition)
// resolves src/client/index.ts and everything it imports without any Node built-in. A `node:` import
// anywhere in that graph fails the build with "Could not resolve".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild-wasm';

const entry = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));

async function nodeImports(): Promise<string[]> {
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      conditions: ['browser'],
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    return Object.keys(result.metafile.inputs).filter((input) => input.startsWith('node:'));
  } catch (error) {
    const errors = (error as { errors?: { text: string; location?: { file: string } | null }[] }).errors;
    if (errors === undefined) throw error;
    return errors.map((e) => `${e.location?.file ?? '?'}: ${e.text}`);
  }
}

test('src/client/index.ts bundles for browsers with no Node built-in', async () => {
  assert.deepEqual(await nodeImports(), []);
});
