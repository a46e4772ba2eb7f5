/**
 * umbra's MLS layer (RFC 9420), a facade over ts-mls 1.6.4: typed stages for received messages
 * (decodeMessage → Group.verify → StagedCommit → Group.merge), a mandatory authentication service, the
 * standard wire formats as bytes, exporter-derived routing IDs and outer keys for the delivery service, and
 * group state as bytes for the vault. docs/mls.md explains the choices.
 */
export type { AuthenticationService, MlsCredential } from './authentication.ts';
export {
  ciphersuiteName,
  DEFAULT_CIPHERSUITE,
  type MlsCiphersuiteName,
  POST_QUANTUM_CIPHERSUITE,
} from './ciphersuites.ts';
export { KEY_RETENTION, LIFETIME } from './config.ts';
export type {
  CommitRequest,
  CommitResult,
  Member,
  MergeResult,
  ProposalKind,
  Rejected,
  RejectionReason,
  StagedCommit,
  Verified,
} from './group.ts';
export { Group } from './group.ts';
export { type GeneratedKeyPackage, KeyPackageSecrets } from './key-package.ts';
export {
  type ExternalPsks,
  type JoinOptions,
  type JoinResult,
  type KeyPackageOptions,
  Mls,
  type MlsOptions,
  type OwnKeyPackage,
} from './mls.ts';
export {
  MAX_EXPORT_CONTEXT_BYTES,
  MAX_EXPORT_LABEL_BYTES,
  MAX_EXPORT_LENGTH,
  MAX_OUTER_MESSAGE,
  OUTER_BUCKETS,
  OUTER_KEY_LABEL,
  type OuterAddress,
  OuterKey,
  type OuterKind,
  outerBucket,
  ROUTING_ID_LABEL,
  ROUTING_ID_LENGTH,
} from './outer.ts';
export {
  type ContentType,
  decodeMessage,
  encodeMessage,
  type ReceivedMessage,
  type SenderType,
} from './wire.ts';
