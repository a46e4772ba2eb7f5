/**
 * The umbra package root for Node.js: the client SDK (src/client) with the vault in a directory
 * (`directoryStorage`), both carriers, the error classes, and the seeds' `ISecureTransport` and
 * `ISecureCrypto`. Browser bundles import src/client/index.ts (and the carriers' own modules) instead: it has
 * no Node built-ins in its import graph.
 */

export { DirectCarrier, type DirectCarrierOptions } from './client/carrier/direct.ts';
export { MixnetCarrier, type MixnetCarrierOptions } from './client/carrier/mixnet.ts';
export { directoryStorage } from './client/directory-storage.ts';
export * from './client/index.ts';
export * from './errors.ts';
export type { Carrier, CarrierKind, CarrierStatus } from './protocol/carrier.ts';
