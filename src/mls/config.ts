/**
 * The ts-mls client settings umbra chooses instead of the library's defaults (see docs/mls.md and
 * ARCHITECTURE.md §8), and the per-message padding of application messages. Every group state the facade
 * creates, joins or restores carries this configuration with the application's authentication service.
 */
import type { ClientConfig, KeyRetentionConfig, LifetimeConfig, PaddingConfig } from 'ts-mls';
import { defaultKeyPackageEqualityConfig } from 'ts-mls';
import { ArgumentError } from '../errors.ts';
import type { AuthenticationRecorder } from './authentication.ts';
import { MAX_OUTER_MESSAGE, OUTER_BUCKETS, outerCapacity } from './outer.ts';

/**
 * Past-epoch and out-of-order limits (RFC 9420 §9.2 leaves them to the application).
 *
 * - `retainKeysForEpochs: 2`: the receiver data (secret tree, sender-data secret) of the two previous epochs.
 *   The delivery service closes an epoch's routing ID at its commit, so every message of epoch e is logged
 *   before that commit; a member needs e's keys after merging only for posts it had not read when it merged
 *   (its own commit, accepted before it caught up), one epoch back, with one epoch of margin.
 * - `retainKeysForGenerations: 32`: message keys skipped over per sender, ratchet and epoch, so one sender's
 *   messages may arrive up to 32 out of order (mixnet paths reorder a burst; the log keeps post order).
 * - `maximumForwardRatchetSteps: 1024`: the largest jump ahead in one sender's ratchet accepted at once;
 *   beyond it a message is refused rather than costing unbounded key derivations. It exceeds what a routing
 *   ID can hold (100 posts), so no genuine gap is refused.
 */
export const KEY_RETENTION: KeyRetentionConfig = {
  retainKeysForEpochs: 2,
  retainKeysForGenerations: 32,
  maximumForwardRatchetSteps: 1024,
};

/**
 * KeyPackage lifetimes are checked on receipt too (ts-mls checks only its own by default): KeyPackages in
 * Add proposals, and key_package-sourced leaves of a tree being joined (RFC 9420 §7.3). A member's leaf
 * loses its lifetime once it commits or updates, so clients must update within a KeyPackage's lifetime for
 * late joiners to accept the tree; `maximumTotalLifetime` is not enforced by ts-mls 1.6.4.
 */
export const LIFETIME: LifetimeConfig = {
  validateLifetimeOnReceive: true,
  maximumTotalLifetime: 90n * 24n * 3600n,
};

/** KeyPackages umbra generates are valid from an hour ago (clock skew) for 30 days. */
export const KEY_PACKAGE_LIFETIME_SECONDS = 30 * 24 * 3600;
export const KEY_PACKAGE_CLOCK_SKEW_SECONDS = 3600;

/**
 * The padding a group state carries outside `Group.encrypt`, which sets its own (below): none. The facade
 * encrypts nothing else; proposals and commits go out as PublicMessage, which MLS does not pad, and the
 * outer seal's buckets (outer.ts) hide their sizes.
 */
const NO_PADDING: PaddingConfig = { kind: 'padUntilLength', padUntilLength: 0 };

/**
 * Room for everything a PrivateMessageContent holds besides the application data: the data's length prefix
 * and the signature with its prefix. 160 bytes covers Ed25519 (64) and ECDSA up to P-521 (at most 139).
 */
const CONTENT_OVERHEAD = 160;

/**
 * An upper bound on a PrivateMessage's bytes outside its encrypted content (RFC 9420 §6.3, as an MLSMessage):
 * version and wire format, group_id, epoch, content_type, authenticated_data, encrypted_sender_data (12 bytes
 * and an AEAD tag) and the content's own tag, counting every length prefix at its largest (4 bytes). Every
 * MLS AEAD has a 16-byte tag.
 */
export function privateMessageOverhead(groupIdLength: number, authenticatedDataLength: number): number {
  return 2 + 2 + (4 + groupIdLength) + 8 + 1 + (4 + authenticatedDataLength) + (4 + 12 + 16) + (4 + 16);
}

/**
 * Application messages are padded so that the PrivateMessage nearly fills the outer seal's bucket
 * (outer.ts) it will travel in: the MLS ciphertext then shows only which of the six buckets it belongs to,
 * like the sealed blob, and padding is paid once rather than twice. Throws `ArgumentError` for data too
 * large for the largest bucket.
 */
export function applicationPadding(dataLength: number, overhead: number): PaddingConfig {
  if (!Number.isSafeInteger(dataLength) || dataLength < 0)
    throw new ArgumentError('data', 'expected a byte length');
  for (const bucket of OUTER_BUCKETS) {
    const content = outerCapacity(bucket) - overhead;
    if (dataLength + CONTENT_OVERHEAD <= content) return { kind: 'padUntilLength', padUntilLength: content };
  }
  throw new ArgumentError(
    'data',
    `application data must leave room in a ${MAX_OUTER_MESSAGE}-byte sealed message`,
  );
}

export function clientConfig(authService: AuthenticationRecorder, paddingConfig = NO_PADDING): ClientConfig {
  return {
    authService,
    keyRetentionConfig: KEY_RETENTION,
    lifetimeConfig: LIFETIME,
    paddingConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  };
}
