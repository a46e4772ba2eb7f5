/**
 * Argon2id (RFC 9106) for the portable backend: hash-wasm's WebAssembly build (a pure WebAssembly package,
 * no native code), 5–10 times faster than JavaScript — 64 MiB × 3 passes take ~0.4 s where @noble/hashes'
 * JavaScript took 3–8 s on the 2-core test machine (bench/results/app.md). Each call instantiates its own
 * WebAssembly memory, which is garbage once the call returns; a page runs it in a worker that is terminated
 * afterwards (argon2-worker.ts), so the memory holding the password's traces goes with the worker. Pages need
 * `'wasm-unsafe-eval'` in their Content-Security-Policy (src/up/web-server.ts has it).
 */
import { argon2id } from 'hash-wasm';
import type { Argon2Parameters } from '../backend.ts';

/** The 32-byte Argon2id output; parameters are checked by the caller (checked.ts). */
export function argon2idWasm(
  password: Uint8Array,
  salt: Uint8Array,
  parameters: Argon2Parameters,
): Promise<Uint8Array> {
  return argon2id({
    password,
    salt,
    memorySize: parameters.memoryKiB,
    iterations: parameters.iterations,
    parallelism: parameters.parallelism,
    hashLength: 32,
    outputType: 'binary',
  });
}
