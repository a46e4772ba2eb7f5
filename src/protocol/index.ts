/**
 * The delivery protocol (issue #4, docs/delivery.md): the typed API, its client over any carrier, identities
 * and the wire codecs, as the client SDK and the delivery service import them. src/protocol holds every
 * other format both ends speak too, imported by path: the client ↔ gateway protocol (gateway-protocol.ts),
 * the service and reply framing (service-framing.ts), `/config.json` (web-config.ts), Privacy Pass tokens
 * (tokens.ts), first-contact packages (contact.ts). It imports nothing above it (docs/ARCHITECTURE.md).
 */
export * from './api.ts';
export type * from './carrier.ts';
export { DeliveryClient, type DeliveryClientOptions } from './client.ts';
export * from './identity.ts';
