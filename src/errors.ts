/**
 * The error catalog. Every error umbra throws on purpose is one of these classes, each with a stable
 * `code` (for programs: log it, switch on it, put it on the wire) and, where a class covers several
 * failures, a `reason` from a closed union. Messages are for people and never contain secrets, keys,
 * plaintext or user identifiers: only sizes, names of parameters and reasons.
 */

/** Base of the closed set. `instanceof UmbraError` tells an intended failure from a bug. */
export abstract class UmbraError extends Error {
  abstract readonly code: string;

  override get name(): string {
    return this.constructor.name;
  }
}

/** A caller passed an argument of the wrong type, length or range. A programming error, not an attack. */
export class ArgumentError extends UmbraError {
  readonly code = 'UMBRA_ARGUMENT';
  readonly argument: string;

  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.argument = argument;
  }
}

export type CodecErrorReason = 'truncated' | 'trailing_bytes' | 'too_long' | 'invalid_value';

/** A wire decoder refused its input. Decoders throw this and nothing else, whatever the bytes. */
export class CodecError extends UmbraError {
  readonly code = 'UMBRA_CODEC';
  readonly reason: CodecErrorReason;

  constructor(reason: CodecErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

/** An AEAD refused to open a ciphertext: it was altered, or the key, nonce or associated data differ. */
export class AuthenticationError extends UmbraError {
  readonly code = 'UMBRA_AUTHENTICATION';
}

export type SealedBoxErrorReason = 'unknown_version' | 'truncated' | 'wrong_key' | 'tampered';

/** A sealed box could not be opened. Each reason is distinct so that callers can tell an attack from a mix-up. */
export class SealedBoxError extends UmbraError {
  readonly code = 'UMBRA_SEALED_BOX';
  readonly reason: SealedBoxErrorReason;

  constructor(reason: SealedBoxErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type VaultErrorReason =
  | 'wrong_passphrase'
  | 'tampered'
  | 'not_found'
  | 'already_exists'
  | 'wiped'
  | 'unsupported_format'
  | 'closed';

/** The encrypted state store refused an operation. Nothing on disk changes when this is thrown. */
export class VaultError extends UmbraError {
  readonly code = 'UMBRA_VAULT';
  readonly reason: VaultErrorReason;

  constructor(reason: VaultErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type SphinxErrorReason =
  | 'bad_length'
  | 'bad_version'
  | 'mac_mismatch'
  | 'invalid_command'
  | 'payload_tag_mismatch'
  | 'path_too_long'
  | 'payload_too_long'
  | 'wrong_scheme'
  | 'invalid_geometry'
  | 'invalid_key';

/** A Sphinx packet could not be created or unwrapped. `unwrap` throws this and nothing else on hostile bytes. */
export class SphinxError extends UmbraError {
  readonly code = 'UMBRA_SPHINX';
  readonly reason: SphinxErrorReason;

  constructor(reason: SphinxErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type MlsErrorReason = 'unsupported_ciphersuite' | 'stale_commit' | 'commit_pending' | 'not_a_member';

/**
 * An MLS group operation was asked for in a state that cannot honour it: a ciphersuite this build cannot
 * load, a staged commit whose epoch has passed, a second commit while one is pending, or any sending after
 * this member left the group. Hostile input never raises it: received messages yield a rejected result.
 */
export class MlsError extends UmbraError {
  readonly code = 'UMBRA_MLS';
  readonly reason: MlsErrorReason;

  constructor(reason: MlsErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type DeliveryErrorReason =
  | 'stale_epoch'
  | 'quota_exceeded'
  | 'too_large'
  | 'handle_taken'
  | 'not_found'
  | 'closed'
  | 'unsupported_schema'
  | 'bad_request'
  | 'bad_signature'
  | 'expired'
  | 'not_registered'
  | 'unsupported_version'
  | 'push_unavailable'
  | 'internal'
  | 'rate_limited'
  | 'token_required'
  | 'bad_token'
  | 'token_spent';

/**
 * The delivery service refused an operation. The reasons are the stable codes of its wire protocol; the store
 * reports the first five as tagged results and throws this only when it is closed or its database was
 * migrated by a newer umbra.
 */
export class DeliveryError extends UmbraError {
  readonly code = 'UMBRA_DELIVERY';
  readonly reason: DeliveryErrorReason;

  constructor(reason: DeliveryErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type ConfigErrorReason =
  | 'unreadable_file'
  | 'malformed_file'
  | 'unknown_option'
  | 'invalid_value'
  | 'missing_value'
  | 'insecure_file';

/**
 * A process could not start from its configuration: a config file that cannot be read or parsed, an option
 * no role knows, a value of the wrong type or range, a required value absent, or a key file others can read.
 * The message names the option and where it came from (file or flag); values of secret options are never
 * echoed.
 */
export class ConfigError extends UmbraError {
  readonly code = 'UMBRA_CONFIG';
  readonly reason: ConfigErrorReason;

  constructor(reason: ConfigErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type DirectoryErrorReason =
  | 'unsigned'
  | 'bad_signature'
  | 'unsupported_version'
  | 'wrong_geometry'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_descriptor'
  | 'wrong_epoch'
  | 'conflict'
  | 'not_allowed'
  | 'too_large'
  | 'not_found'
  | 'unavailable';

/**
 * The directory authority or a network document was refused. Verifying a document throws this (or
 * `CodecError` for malformed bytes) and nothing else: a missing signature, either signature invalid, a
 * version this build does not read, another Sphinx geometry, or a validity window that does not contain the
 * verifier's clock. The authority refuses registrations with the descriptor reasons; the HTTP client reports
 * the authority's refusals under the same reasons, and 'unavailable' when it cannot reach it.
 */
export class DirectoryError extends UmbraError {
  readonly code = 'UMBRA_DIRECTORY';
  readonly reason: DirectoryErrorReason;

  constructor(reason: DirectoryErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type MixnetErrorReason = 'closed' | 'worker_failed' | 'no_document';

/**
 * A mix node, a node-to-node link or the crypto worker pool could not do what was asked: it was used after
 * being closed, or a crypto worker thread died or failed a request for a reason that is not the packet's
 * (a packet's own faults are `SphinxError`s).
 */
export class MixnetError extends UmbraError {
  readonly code = 'UMBRA_MIXNET';
  readonly reason: MixnetErrorReason;

  constructor(reason: MixnetErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type CarrierErrorReason = 'unreachable' | 'timeout' | 'closed' | 'too_large' | 'protocol';

/**
 * A carrier could not complete a delivery-protocol exchange: the delivery service or gateway cannot be
 * reached, no response came in time, the carrier was closed, the request exceeds what the carrier can
 * carry, or the other side broke the framing. Whether the request was applied is unknown (requests are
 * idempotent, so the caller may retry).
 */
export class CarrierError extends UmbraError {
  readonly code = 'UMBRA_CARRIER';
  readonly reason: CarrierErrorReason;

  constructor(reason: CarrierErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type GatewayErrorReason =
  | 'closed'
  | 'inbox_full'
  | 'rate_limited'
  | 'unknown_service'
  | 'unauthorized'
  | 'protocol'
  | 'unsupported_version'
  | 'wrong_geometry'
  | 'service_failed';

/** The gateway refused a client or a service call: closed, an inbox at its quota, a client over its rate. */
export class GatewayError extends UmbraError {
  readonly code = 'UMBRA_GATEWAY';
  readonly reason: GatewayErrorReason;

  constructor(reason: GatewayErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}

export type ClientErrorReason =
  | 'privacy_unavailable'
  | 'not_registered'
  | 'already_registered'
  | 'unknown_contact'
  | 'unknown_conversation'
  | 'closed'
  | 'wiped'
  | 'rejected'
  | 'unreachable'
  | 'quota_exceeded'
  | 'too_large'
  | 'handle_taken'
  | 'not_a_member'
  | 'not_running'
  | 'already_running'
  | 'bad_request'
  | 'rate_limited';

/**
 * The client SDK refused an operation: the carrier the privacy policy requires is unreachable (the message
 * is kept and sent when it returns), the client has no identity yet or already has one, a handle or
 * conversation is unknown, the client was closed or wiped, or the delivery service refused the request.
 * The terminal client's daemon (`umbra client run`) adds: none runs on the data directory, one already
 * does, or a thin client's request was malformed. `rate_limited` (the service is refusing sign-ups for
 * now) carries `retryAfterMs`, when trying again may succeed; every other reason leaves it undefined.
 */
export class ClientError extends UmbraError {
  readonly code = 'UMBRA_CLIENT';
  readonly reason: ClientErrorReason;
  /** For `rate_limited`: milliseconds after which the same call may succeed. */
  readonly retryAfterMs: number | undefined;

  constructor(reason: ClientErrorReason, message: string, retryAfterMs?: number) {
    super(`${reason}: ${message}`);
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

export type WellnessErrorReason =
  | 'not_in_team'
  | 'already_in_team'
  | 'not_allowed'
  | 'role_mismatch'
  | 'not_owner'
  | 'not_visible'
  | 'unknown_check_in';

/**
 * The wellness layer (src/client/wellness) refused an operation or dropped a received item. Asked of the API:
 * a handle that is not (or already is) in the care team, a role that may not do this (only coaches, trainers
 * and clinicians schedule reminders), a check-in this client never received. Received items are dropped,
 * counted by reason and never shown: a reminder from someone outside the care team, a role or tier claim
 * that does not match the sender's conversation, insights from a member who is not the conversation's
 * owner, or observations the tier may not see.
 */
export class WellnessError extends UmbraError {
  readonly code = 'UMBRA_WELLNESS';
  readonly reason: WellnessErrorReason;

  constructor(reason: WellnessErrorReason, message: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
  }
}
