/**
 * Bundles the web app (`web/src/main.ts` and the SDK it imports) for browsers with esbuild-wasm (pure
 * WebAssembly, so it runs wherever Node does; Vite's native binaries are not on every registry). The
 * `browser` import condition makes `#default-backend` resolve to the portable crypto backend (package.json
 * "imports"). The page passes the SDK's IndexedDB storage to the client explicitly, so no module is swapped,
 * and no Node built-in is reachable: if one ever is, the build fails instead of shipping a stub. (A package
 * may declare in its own `browser` field that it does without one in browsers — libsodium's Node-only
 * randomness fallback, `crypto` — and esbuild then leaves it out; such `(disabled):` inputs are not files.)
 * The portable backend's Argon2id worker is built as a second, self-contained script and carried in the app
 * as text (`argon2WorkerPlugin`), which the page starts from a Blob URL: one file to serve, no extra route.
 *
 * The result is cached under the data directory with the size and modification time of every input file,
 * so a second `umbra up` with unchanged sources skips the few seconds esbuild takes.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Plugin } from 'esbuild-wasm';
import type { Logger } from '../ops/logger.ts';

export interface BundleOptions {
  /** The repository root (where package.json and web/ are). */
  readonly root: string;
  /** Where to keep the cached bundle; none when undefined. */
  readonly cacheDir?: string;
  readonly logger?: Logger;
}

export interface WebBundle {
  readonly js: Uint8Array;
  /** Whether it came from the cache. */
  readonly cached: boolean;
}

interface CacheManifest {
  readonly esbuild: string;
  readonly inputs: Readonly<Record<string, { readonly size: number; readonly mtimeMs: number }>>;
}

const ENTRY = 'web/src/main.ts';
const CACHE_JS = 'app.js';
const CACHE_MANIFEST = 'app.inputs.json';

const ARGON2_WORKER = /[\\/]src[\\/]crypto[\\/]backends[\\/]argon2-worker\.ts$/;

/**
 * Replaces src/crypto/backends/argon2-worker.ts, as imported by the portable backend, by a module exporting
 * the worker's own bundle (a classic script running `serveArgon2id(self)`) as `argon2WorkerSource`. Its
 * inputs are that file and the WebAssembly Argon2id (argon2-wasm.ts, hash-wasm), which the app imports too,
 * so the cache fingerprint covers them.
 */
export function argon2WorkerPlugin(): Plugin {
  return {
    name: 'argon2-worker',
    setup(build) {
      build.onLoad({ filter: ARGON2_WORKER }, async (args) => {
        const worker = await build.esbuild.build({
          stdin: {
            contents: `import { serveArgon2id } from ${JSON.stringify(args.path)};\nserveArgon2id(self);\n`,
            resolveDir: dirname(args.path),
            loader: 'ts',
            sourcefile: 'argon2-worker-entry.ts',
          },
          bundle: true,
          write: false,
          platform: 'browser',
          format: 'iife',
          target: build.initialOptions.target ?? 'es2023',
          conditions: ['browser'],
          minify: build.initialOptions.minify ?? false,
          legalComments: 'none',
          logLevel: 'silent',
        });
        const script = worker.outputFiles[0];
        if (script === undefined) throw new Error('esbuild produced no Argon2id worker');
        return {
          contents: `export const argon2WorkerSource = ${JSON.stringify(script.text)};`,
          loader: 'js',
        };
      });
    },
  };
}

async function fingerprint(root: string, inputs: readonly string[]): Promise<CacheManifest['inputs']> {
  const entries: [string, { size: number; mtimeMs: number }][] = [];
  for (const input of inputs) {
    const info = await stat(join(root, input));
    entries.push([input, { size: info.size, mtimeMs: info.mtimeMs }]);
  }
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

async function readCache(root: string, cacheDir: string, version: string): Promise<Uint8Array | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(cacheDir, CACHE_MANIFEST), 'utf8')) as CacheManifest;
    if (manifest.esbuild !== version) return undefined;
    const current = await fingerprint(root, Object.keys(manifest.inputs));
    if (JSON.stringify(current) !== JSON.stringify(manifest.inputs)) return undefined;
    return new Uint8Array(await readFile(join(cacheDir, CACHE_JS)));
  } catch {
    // No cache, a changed or deleted input, or an unreadable manifest: rebuild.
    return undefined;
  }
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

/** Bundles the web app, or returns the cached bundle when no input changed. */
export async function bundleWebApp(options: BundleOptions): Promise<WebBundle> {
  const root = resolve(options.root);
  const esbuild = await import('esbuild-wasm');
  if (options.cacheDir !== undefined) {
    const cached = await readCache(root, options.cacheDir, esbuild.version);
    if (cached !== undefined) return { js: cached, cached: true };
  }
  options.logger?.info('bundling the web app', { esbuild: esbuild.version });
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      target: 'es2023',
      conditions: ['browser'],
      minify: true,
      keepNames: true,
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
      outfile: 'app.js',
      plugins: [argon2WorkerPlugin()],
    });
    const output = result.outputFiles.find((file) => file.path.endsWith('.js'));
    if (output === undefined) throw new Error('esbuild produced no JavaScript');
    const js = output.contents;
    if (options.cacheDir !== undefined) {
      await mkdir(options.cacheDir, { recursive: true, mode: 0o700 });
      const manifest: CacheManifest = {
        esbuild: esbuild.version,
        inputs: await fingerprint(
          root,
          Object.keys(result.metafile.inputs).filter((input) => !input.startsWith('(disabled):')),
        ),
      };
      await writeAtomically(join(options.cacheDir, CACHE_JS), js);
      await writeAtomically(join(options.cacheDir, CACHE_MANIFEST), JSON.stringify(manifest));
    }
    return { js, cached: false };
  } finally {
    // The WebAssembly service holds a worker and ~100 MB; a running deployment needs neither.
    await esbuild.stop();
  }
}
