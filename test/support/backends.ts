// The two crypto backends, so that every known-answer suite runs on both with one loop.
import type { CryptoBackend } from '../../src/crypto/backend.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { portableBackend } from '../../src/crypto/backends/portable.ts';

export const backends: readonly CryptoBackend[] = [nodeBackend, portableBackend];
export { nodeBackend, portableBackend };
