/**
 * The umbra package root for Node.js: the client SDK's root (src/client/index.ts: Client, carriers,
 * `openCarriers`, storage, errors, `ISecureTransport`/`ISecureCrypto`) plus `directoryStorage`, the vault in
 * a directory, which needs `node:fs`. Browsers get src/client/index.ts as `umbra` (package.json's `browser`
 * condition), which has no Node built-in in its import graph.
 */

export { directoryStorage } from './client/directory-storage.ts';
export * from './client/index.ts';
