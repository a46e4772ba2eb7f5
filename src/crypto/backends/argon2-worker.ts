/**
 * Argon2id (RFC 9106) off a browser page's thread: the body of the dedicated Web Worker in which the portable
 * backend derives vault keys on a page (argon2-wasm.ts). Run on the page, the derivation would hold its thread
 * for the whole computation (rendering, timers and input stop); in a worker the page stays live, and the
 * worker is terminated after one derivation, which frees its WebAssembly memory.
 *
 * src/up/bundle.ts (`workerScriptsPlugin`) builds `serveArgon2id(self)` over this module as a separate script
 * and, in the page's bundle, replaces this module by one exporting only that script's text as
 * `argon2WorkerSource`. Unbundled (Node, tests) or bundled without the plugin, the text is undefined and the
 * portable backend derives inline.
 */
import type { Argon2Parameters } from '../backend.ts';
import { argon2idWasm } from './argon2-wasm.ts';

/** The worker's bundled script, when a bundler put it here; see the header. */
export const argon2WorkerSource: string | undefined = undefined;

/** The page's request; the worker owns (and wipes) the password buffer it receives. */
export interface Argon2Request {
  readonly password: Uint8Array;
  readonly salt: Uint8Array;
  readonly parameters: Argon2Parameters;
}

export type Argon2Reply = { readonly key: Uint8Array } | { readonly error: string };

/** What the worker needs of its global scope. */
export interface Argon2WorkerScope {
  onmessage: ((event: MessageEvent<Argon2Request>) => void) | null;
  postMessage(message: Argon2Reply, transfer: Transferable[]): void;
}

/** Answers each request with the 32-byte key (transferred), or the error's message. */
export function serveArgon2id(scope: Argon2WorkerScope): void {
  scope.onmessage = async ({ data: { password, salt, parameters } }) => {
    try {
      const key = await argon2idWasm(password, salt, parameters);
      scope.postMessage({ key }, [key.buffer]);
    } catch (error) {
      scope.postMessage({ error: error instanceof Error ? error.message : 'unknown failure' }, []);
    } finally {
      password.fill(0);
    }
  };
}
