/**
 * The directory authority and its network document (docs/network.md): the formats, their signing and
 * verification, epochs, the HTTP client nodes and clients use, and the authority's state machine. Everything
 * exported here also runs in browsers; the Node process (`startDirectory`, persistence, the command line) is
 * in server.ts, store.ts and main.ts, imported from there so that browser bundles never pull node:http.
 */
export type {
  DirectoryAuthorityOptions,
  Registration,
  RegistrationPolicy,
  RestoreResult,
} from './authority.ts';
export { DirectoryAuthority } from './authority.ts';
export type { AuthorityPublicKeys } from './authority-keys.ts';
export {
  AUTHORITY_SEED_LENGTH,
  AuthorityKeys,
  ED25519_PUBLIC_KEY_LENGTH,
  formatAuthorityPublicKeys,
  MLDSA65_PUBLIC_KEY_LENGTH,
  parseAuthorityPublicKeys,
} from './authority-keys.ts';
export type { DirectoryRequestOptions, FetchDocumentOptions, RegistrationReceipt } from './client.ts';
export {
  DEFAULT_DIRECTORY_TIMEOUT_MS,
  fetchNetworkDocument,
  fetchSignedNetworkDocument,
  registerDescriptor,
} from './client.ts';
export type {
  DocumentNode,
  DocumentSignature,
  DocumentSignatureScheme,
  MixingParameters,
  NetworkDocument,
  NetworkDocumentContents,
  NodeDescriptor,
  NodeEntry,
  NodeRole,
  SignedNetworkDocument,
  SphinxKeys,
  VerifiedDescriptor,
  VerifyDocumentOptions,
} from './document.ts';
export {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MIXING_PARAMETERS,
  DESCRIPTOR_VERSION,
  decodeDescriptor,
  decodeNetworkDocument,
  decodeSignedNetworkDocument,
  encodeDescriptor,
  encodeNetworkDocument,
  encodeSignedNetworkDocument,
  GEOMETRY_HASH_LENGTH,
  IDENTITY_KEY_LENGTH,
  MAX_ADDRESS_BYTES,
  MAX_LAYERS,
  MAX_NODES,
  MAX_SIGNED_DESCRIPTOR_BYTES,
  MAX_SIGNED_DOCUMENT_BYTES,
  MAX_SPHINX_PUBLIC_KEY_BYTES,
  NETWORK_DOCUMENT_VERSION,
  nodeId,
  openSignedDescriptor,
  parseAddress,
  signDescriptor,
  signNetworkDocument,
  sortNodes,
  TLS_FINGERPRINT_LENGTH,
  verifyNetworkDocument,
} from './document.ts';
export type { EpochSchedule } from './epoch.ts';
export { checkSchedule, DEFAULT_EPOCH_PERIOD_MS, epochAt, epochBounds } from './epoch.ts';
