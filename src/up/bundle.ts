/**
 * Bundles the web app (`web/src/main.ts` and the SDK it imports) for browsers with esbuild-wasm (pure
 * WebAssembly, so it runs wherever Node does; Vite's native binaries are not on every registry). The
 * `browser` import condition makes `#default-backend` resolve to the portable crypto backend (package.json
 * "imports"). The page passes the SDK's IndexedDB storage to the client explicitly, so no module is swapped,
 * and no Node built-in is reachable: if one ever is, the build fails instead of shipping a stub. (A package
 * may declare in its own `browser` field that it does without one in browsers — libsodium's Node-only
 * randomness fallback, `crypto` — and esbuild then leaves it out; such `(disabled):` inputs are not files.)
 * The page's workers (the portable backend's Argon2id, the mixnet carrier's packet builder) are built as
 * self-contained scripts and carried in the app as text (`workerScriptsPlugin`), which the page starts from
 * Blob URLs: one file to serve, no extra route.
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

/**
 * The scripts the page starts as dedicated workers, each carried in the app as the text its module exports:
 * Argon2id for the vault (a classic script) and the mixnet packet builder (a module script: the portable
 * backend awaits its WebAssembly at the top level).
 */
const WORKER_SCRIPTS = [
  {
    module: /[\\/]src[\\/]crypto[\\/]backends[\\/]argon2-worker\.ts$/,
    serve: 'serveArgon2id',
    exportName: 'argon2WorkerSource',
    format: 'iife',
  },
  {
    module: /[\\/]src[\\/]client[\\/]carrier[\\/]packet-worker\.ts$/,
    serve: 'servePackets',
    exportName: 'packetWorkerSource',
    format: 'esm',
  },
] as const;

/**
 * Replaces each worker module of `WORKER_SCRIPTS`, as the app imports it, by a module exporting the worker's
 * own bundle (a script running `serve(self)` over the module) as the text the app starts the worker from.
 * The worker's inputs are modules the app imports too, so the cache fingerprint covers them.
 */
export function workerScriptsPlugin(): Plugin {
  return {
    name: 'worker-scripts',
    setup(build) {
      for (const { module, serve, exportName, format } of WORKER_SCRIPTS) {
        build.onLoad({ filter: module }, async (args) => {
          const worker = await build.esbuild.build({
            stdin: {
              contents: `import { ${serve} } from ${JSON.stringify(args.path)};\n${serve}(self);\n`,
              resolveDir: dirname(args.path),
              loader: 'ts',
              sourcefile: `${exportName}-entry.ts`,
            },
            bundle: true,
            write: false,
            platform: 'browser',
            format,
            target: build.initialOptions.target ?? 'es2023',
            conditions: ['browser'],
            minify: build.initialOptions.minify ?? false,
            legalComments: 'none',
            logLevel: 'silent',
          });
          const script = worker.outputFiles[0];
          if (script === undefined) throw new Error(`esbuild produced no script for ${exportName}`);
          return {
            contents: `export const ${exportName} = ${JSON.stringify(script.text)};`,
            loader: 'js',
          };
        });
      }
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
      plugins: [workerScriptsPlugin()],
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
