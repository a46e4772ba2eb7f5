/**
 * Sphinx packets for the mixnet: Katzenpost-compatible X25519 Sphinx and post-quantum KEM Sphinx (ML-KEM-768,
 * X-Wing), their geometry, routing commands and SURBs. See docs/sphinx.md for the packet format.
 */
export type { HopCommand, RoutingCommand } from './commands.ts';
export { decodeCommands, encodeCommand } from './commands.ts';
export { decodeForwardPayload, encodeForwardPayload } from './forward-payload.ts';
export type {
  GeometryChoices,
  GeometryFields,
  KemSchemeName,
  NikeSchemeName,
  SphinxSchemeName,
} from './geometry.ts';
export {
  Geometry,
  MAX_HOPS,
  MAX_PACKET_LENGTH,
  NODE_ID_LENGTH,
  RECIPIENT_ID_LENGTH,
  SURB_ID_LENGTH,
} from './geometry.ts';
export type {
  FinalResult,
  ForwardResult,
  PathHop,
  ReplyResult,
  SphinxOptions,
  Surb,
  UnwrapResult,
} from './sphinx.ts';
export { Sphinx, SurbKeys } from './sphinx.ts';
