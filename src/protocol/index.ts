/**
 * The delivery protocol (issue #4, docs/delivery.md): the typed API, its client over any carrier, identities
 * and the wire codecs, as the client SDK and the delivery service import them.
 */
export * from './api.ts';
export type * from './carrier.ts';
export { DeliveryClient, type DeliveryClientOptions } from './client.ts';
export * from './identity.ts';
