/**
 * The umbra client SDK's package root for browsers (package.json maps `umbra` here under the `browser`
 * condition; the web app imports nothing else): `Client`, conversations, the privacy policy, the carriers
 * and `openCarriers` (which opens those a policy allows), a deployment's `/config.json`, the storage seam
 * (`vaultStorage` over any vault `BlobStore`, `indexedDbStorage` in browsers), the error classes, the seeds'
 * `ISecureTransport` / `ISecureCrypto`, and the wellness layer's types (`client.wellness`,
 * docs/wellness.md). No Node built-in is in its import graph. In Node, the package root (src/index.ts) adds
 * `directoryStorage`. docs/client.md describes the API.
 */

export type { BlobStore } from '../crypto/vault/blob-store.ts';
export { IndexedDbStore } from '../crypto/vault/indexeddb-store.ts';
export * from '../errors.ts';
/** The limits of `Conversation.exportKey`'s label, context and length (docs/client.md). */
export { MAX_EXPORT_CONTEXT_BYTES, MAX_EXPORT_LABEL_BYTES, MAX_EXPORT_LENGTH } from '../mls/index.ts';
export {
  type Carrier,
  type CarrierKind,
  type CarrierStatus,
  PRIVACY_POLICIES,
  type PrivacyPolicy,
} from '../protocol/carrier.ts';
export { WEB_CONFIG_VERSION, type WebConfig } from '../protocol/web-config.ts';
export { DirectCarrier, type DirectCarrierOptions } from './carrier/direct.ts';
export { MixnetCarrier, type MixnetCarrierOptions } from './carrier/mixnet.ts';
export {
  type CarrierEndpoints,
  type Carriers,
  deploymentEndpoints,
  fetchWebConfig,
  openCarriers,
} from './carriers.ts';
export {
  Client,
  type ClientEvents,
  type ClientOptions,
  DEFAULT_KEY_PACKAGES,
  DEFAULT_POLL_INTERVAL_MS,
  type RegistrationState,
} from './client.ts';
export type { Contact, KeyChange } from './contacts.ts';
export {
  CONTENT_VERSION,
  type Content,
  isText,
  MAX_TEXT_BYTES,
  type TextContent,
  type WellnessContent,
} from './content.ts';
export {
  Conversation,
  type ConversationEvents,
  type ConversationStatus,
  type DeliveryState,
  EXPORTED_KEY_LENGTH,
  type ExportedKey,
  HISTORY_LIMIT,
  type MembershipChange,
  type Message,
  ROTATE_AFTER_POSTS,
} from './conversation.ts';
export { type IndexedDbStorageOptions, indexedDbStorage } from './indexeddb-storage.ts';
export { allowedCarriers, type PrivacyLevel, type PrivacyState, privacyState } from './privacy.ts';
export { clientTransport, type ISecureCrypto, type ISecureTransport, secureCrypto } from './secure.ts';
export { type ClientStorage, type ClientVault, type Passphrase, RECORD, vaultStorage } from './storage.ts';
export {
  ENTRY_KINDS,
  type EntryKind,
  type EntryRange,
  type NewEntry,
  type RawEntry,
} from './wellness/entries.ts';
export {
  LOINC_SYSTEM,
  OBSERVATION_CODES,
  type SourceKind,
  WELLNESS_SYSTEM,
} from './wellness/fhir.ts';
export {
  type Adherence,
  type DayScore,
  FWI_WEIGHTS,
  type FwiBand,
  type FwiComponent,
  type Insights,
  type Patterns,
  type Trend,
  type TrendDirection,
} from './wellness/insights.ts';
export type { Roster, WellnessItem } from './wellness/items.ts';
export {
  type InsightKind,
  maySchedule,
  SUPPORTER_ROLES,
  type SupporterRole,
  TIERS,
  type Tier,
  tierOf,
  VISIBLE_TO,
} from './wellness/roles.ts';
export type {
  CheckInAnswer,
  DroppedItem,
  ReceivedCheckIn,
  ReceivedReminder,
  SharedWithMe,
  ShareResult,
  Supporter,
  Wellness,
  WellnessEvents,
} from './wellness/wellness.ts';
