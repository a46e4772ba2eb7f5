// Bundles a test page's entry for browsers the way `umbra up` bundles the web app (esbuild-wasm, the
// `browser` import condition), and finds Debian's Chromium for the tests that load it.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Plugin } from 'esbuild-wasm';

export const ROOT = resolve(import.meta.dirname, '../..');

/** Debian's Chromium, or undefined: the caller then skips with a line saying so. */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));

export interface TestBundle {
  readonly js: Uint8Array;
  /** esbuild's metafile inputs: every module in the graph, with its imports. */
  readonly inputs: Record<string, { readonly imports: readonly { readonly path: string }[] }>;
}

/** `entry` is TypeScript source resolved from the repository root. */
export async function bundleForBrowser(
  entry: string,
  outfile: string,
  plugins: readonly Plugin[] = [],
): Promise<TestBundle> {
  const esbuild = await import('esbuild-wasm');
  try {
    const result = await esbuild.build({
      absWorkingDir: ROOT,
      stdin: { contents: entry, resolveDir: ROOT, loader: 'ts', sourcefile: 'entry.ts' },
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      target: 'es2023',
      conditions: ['browser'],
      metafile: true,
      logLevel: 'silent',
      outfile,
      plugins: [...plugins],
    });
    const output = result.outputFiles.find((file) => file.path.endsWith('.js'));
    if (output === undefined) throw new Error('esbuild produced no JavaScript');
    return { js: output.contents, inputs: result.metafile.inputs };
  } finally {
    await esbuild.stop();
  }
}
