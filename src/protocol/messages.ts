/**
 * The delivery protocol's wire format (docs/delivery.md, "Formats"), one codec per message, built with
 * src/codec in the RFC 9420 presentation-language style. Every request, response and push starts with the
 * protocol version byte, so that a service can answer a request of another version with
 * `unsupported_version` instead of a decoding failure. The carrier matches responses to requests, so
 * messages carry no request id (the direct carrier's frames add one, see frames.ts).
 *
 * ```
 * Request  = u8 version(1) ‖ u8 kind ‖ body(kind)
 * Response = u8 version(1) ‖ u8 kind ‖ body(kind)       kind 255: Error { u8 code }
 * Push     = u8 version(1) ‖ u8 type ‖ body(type)
 * ```
 *
 * Signed requests (KeyPackage publish and count, token issuance) carry a fresh 16-byte random nonce, the
 * signer's clock `signedAt` and a hybrid identity signature over `SIGNED_REQUEST_CONTEXT ‖ u8 kind ‖
 * body-without-signature`, re-encoded canonically. Claims and mailbox posts may carry a Privacy Pass token
 * (tokens.ts).
 */

import { concatBytes } from '../bytes.ts';
import {
  bool,
  type Codec,
  type CodecValue,
  encode,
  enumeration,
  fixedBytes,
  opaque,
  optional,
  Reader,
  struct,
  taggedUnion,
  u8,
  utf8String,
  type Variant,
  varint,
  vectorOf,
} from '../codec/index.ts';
import { CodecError } from '../errors.ts';
import {
  type ClaimResult,
  type DeliveryErrorCode,
  type DeliveryPush,
  type IssueResult,
  type IssuerKeys,
  type KeyPackageCount,
  type LogEntry,
  type LogPage,
  type LogPost,
  type LogPostResult,
  type LookupResult,
  MAX_PAGE_ITEMS,
  MAX_SUBSCRIPTIONS,
  type MailboxItem,
  type MailboxPost,
  type MailboxPostResult,
  type PublishResult,
  type RegisterResult,
} from './api.ts';
import { SIGNED_REQUEST_CONTEXT } from './identity.ts';
import {
  handleCodec,
  idCodec,
  identityKeyCodec,
  identitySignatureCodec,
  tagCodec,
  uint53,
} from './primitives.ts';
import {
  MAX_ISSUER_KEYS,
  MAX_ISSUER_NAME_BYTES,
  MAX_TOKEN_KEY_BYTES,
  MAX_TOKENS_PER_ISSUANCE,
  TOKEN_LENGTH,
  TOKEN_REQUEST_LENGTH,
  TOKEN_RESPONSE_LENGTH,
} from './tokens.ts';

export const PROTOCOL_VERSION = 1;
/** The largest blob one post may carry, whatever the service's stream quota. */
export const MAX_BLOB_BYTES = 1024 * 1024;
/** The request size limit services apply by default and carriers check before sending: a full-size blob and its framing. */
export const DEFAULT_MAX_REQUEST_BYTES = MAX_BLOB_BYTES + 64 * 1024;
/** The largest KeyPackage. */
export const MAX_KEY_PACKAGE_BYTES = 64 * 1024;
/** One-time KeyPackages per publish request. */
export const MAX_KEY_PACKAGES_PER_REQUEST = 100;
/** The largest signed registration. */
export const MAX_REGISTRATION_BYTES = 65536;
/** Message IDs one delete request may name. */
export const MAX_DELETE_IDS = 100;
/** Mailboxes one `fetchMailboxes` request may read (a device's contact mailboxes, docs/delivery.md). */
export const MAX_FETCH_MAILBOXES = 64;
/** Signed requests carry a fresh random nonce this long, which the service accepts once. */
export const SIGNED_REQUEST_NONCE_LENGTH = 16;

/**
 * A codec of `T` carried by `codec`: `to` and `from` must be total (decoders throw only CodecError). Curried so
 * that the wire type is fixed before the mappings are checked, keeping their literal tags.
 */
function mapped<W>(codec: Codec<W>) {
  return <T>(to: (wire: W) => T, from: (value: T) => W): Codec<T> => ({
    encode: (writer, value) => codec.encode(writer, from(value)),
    decode: (reader) => to(codec.decode(reader)),
  });
}

const empty = struct({});
const kindCodec = enumeration(u8, { commit: 1, application: 2, welcome: 3 });
const blobCodec = opaque(MAX_BLOB_BYTES);
const keyPackageCodec = struct({ id: tagCodec, data: opaque(MAX_KEY_PACKAGE_BYTES) });
const registrationCodec = opaque(MAX_REGISTRATION_BYTES);
const pageLimit: Codec<number> = {
  encode: (writer, value) => u8.encode(writer, value),
  decode(reader) {
    const value = u8.decode(reader);
    if (value < 1 || value > MAX_PAGE_ITEMS) throw new CodecError('invalid_value', 'page limit out of range');
    return value;
  },
};

// ---- requests ----

const logPostWire = struct({
  kind: kindCodec,
  messageId: tagCodec,
  blob: blobCodec,
  bucket: varint,
  commitMessageId: optional(tagCodec),
});

/** A post to a log: a Welcome names its commit, other kinds name none. */
export const logPostCodec: Codec<LogPost> = {
  encode(writer, post) {
    logPostWire.encode(writer, {
      kind: post.kind,
      messageId: post.messageId,
      blob: post.blob,
      bucket: post.bucket,
      commitMessageId: post.kind === 'welcome' ? post.commitMessageId : undefined,
    });
  },
  decode(reader) {
    const { kind, commitMessageId, ...base } = logPostWire.decode(reader);
    if (kind === 'welcome') {
      if (commitMessageId === undefined) throw new CodecError('invalid_value', 'a Welcome names no commit');
      return { ...base, kind, commitMessageId };
    }
    if (commitMessageId !== undefined) throw new CodecError('invalid_value', 'only a Welcome names a commit');
    return { ...base, kind };
  },
};

export const mailboxPostCodec: Codec<MailboxPost> = struct({
  messageId: tagCodec,
  blob: blobCodec,
  bucket: varint,
});

const nonceCodec = fixedBytes(SIGNED_REQUEST_NONCE_LENGTH);
const tokenCodec = fixedBytes(TOKEN_LENGTH);

export const publishBodyCodec = struct({
  handle: handleCodec,
  deviceId: tagCodec,
  nonce: nonceCodec,
  signedAt: uint53,
  oneTime: vectorOf(keyPackageCodec, MAX_KEY_PACKAGES_PER_REQUEST),
  lastResort: optional(keyPackageCodec),
});
export const countBodyCodec = struct({
  handle: handleCodec,
  deviceId: tagCodec,
  nonce: nonceCodec,
  signedAt: uint53,
});
export const issueBodyCodec = struct({
  handle: handleCodec,
  nonce: nonceCodec,
  signedAt: uint53,
  tokenRequests: vectorOf(fixedBytes(TOKEN_REQUEST_LENGTH), MAX_TOKENS_PER_ISSUANCE),
});

const requestCases = {
  register: struct({
    handle: handleCodec,
    registration: registrationCodec,
    // The first KeyPackages, signed as a publishKeyPackages body: a sign-up in one round trip.
    keyPackages: optional(struct({ body: publishBodyCodec, signature: identitySignatureCodec })),
  }),
  lookup: struct({ handle: handleCodec }),
  publishKeyPackages: struct({ body: publishBodyCodec, signature: identitySignatureCodec }),
  claimKeyPackages: struct({ handle: handleCodec, token: optional(tokenCodec) }),
  countKeyPackages: struct({ body: countBodyCodec, signature: identitySignatureCodec }),
  postToLog: struct({ routingId: idCodec, post: logPostCodec }),
  fetchLog: struct({ routingId: idCodec, afterSeq: uint53, limit: pageLimit }),
  postToMailbox: struct({ mailboxId: idCodec, post: mailboxPostCodec, token: optional(tokenCodec) }),
  fetchMailbox: struct({ mailboxSecret: idCodec, afterSeq: uint53, limit: pageLimit }),
  deleteFromMailbox: struct({ mailboxSecret: idCodec, messageIds: vectorOf(tagCodec, MAX_DELETE_IDS) }),
  subscribe: struct({
    routingIds: vectorOf(idCodec, MAX_SUBSCRIPTIONS),
    mailboxSecrets: vectorOf(idCodec, MAX_SUBSCRIPTIONS),
  }),
  fetchMailboxes: struct({
    mailboxes: vectorOf(struct({ mailboxSecret: idCodec, afterSeq: uint53 }), MAX_FETCH_MAILBOXES),
    limit: pageLimit,
  }),
  issuerKeys: empty,
  issueTokens: struct({ body: issueBodyCodec, signature: identitySignatureCodec }),
} as const;

export type RequestKind = keyof typeof requestCases;

const requestKindValues = {
  register: 1,
  lookup: 2,
  publishKeyPackages: 3,
  claimKeyPackages: 4,
  countKeyPackages: 5,
  postToLog: 6,
  fetchLog: 7,
  postToMailbox: 8,
  fetchMailbox: 9,
  deleteFromMailbox: 10,
  subscribe: 11,
  issuerKeys: 12,
  issueTokens: 13,
  fetchMailboxes: 14,
} as const satisfies Record<RequestKind, number>;

const requestKindCodec = enumeration(u8, requestKindValues);
const requestBodyCodec = taggedUnion(requestKindCodec, requestCases);

export type DeliveryRequest = Variant<RequestKind, typeof requestCases>;
export type RequestOf<K extends RequestKind> = CodecValue<(typeof requestCases)[K]>;

const signedBodyCodecs = {
  publishKeyPackages: publishBodyCodec,
  countKeyPackages: countBodyCodec,
  issueTokens: issueBodyCodec,
} as const;

export type SignedRequestKind = keyof typeof signedBodyCodecs;
export type SignedBody<K extends SignedRequestKind> = CodecValue<(typeof signedBodyCodecs)[K]>;

/** The message a signed request's signature covers. */
export function signedRequestMessage<K extends SignedRequestKind>(kind: K, body: SignedBody<K>): Uint8Array {
  const encoded = encode(signedBodyCodecs[kind] as unknown as Codec<SignedBody<K>>, body);
  return concatBytes(SIGNED_REQUEST_CONTEXT, Uint8Array.of(requestKindValues[kind]), encoded);
}

// ---- responses ----

const identityInfoFields = {
  identityKey: identityKeyCodec,
  registration: registrationCodec,
  registeredAt: uint53,
};

const lookupResultCodec: Codec<LookupResult> = mapped(
  taggedUnion(enumeration(u8, { found: 1, not_found: 2 }), {
    found: struct(identityInfoFields),
    not_found: empty,
  }),
)(
  (wire): LookupResult =>
    wire.kind === 'found' ? { ok: true, ...wire.value } : { ok: false, error: 'not_found' },
  (result) => (result.ok ? { kind: 'found', value: result } : { kind: 'not_found', value: {} }),
);

const publishResultCodec: Codec<PublishResult> = mapped(
  taggedUnion(enumeration(u8, { added: 1, quota_exceeded: 2, too_large: 3 }), {
    added: struct({ added: uint53 }),
    quota_exceeded: empty,
    too_large: struct({ maxBytes: uint53 }),
  }),
)(
  (wire): PublishResult => {
    switch (wire.kind) {
      case 'added':
        return { ok: true, added: wire.value.added };
      case 'quota_exceeded':
        return { ok: false, error: 'quota_exceeded', limit: 'key_packages' };
      case 'too_large':
        return { ok: false, error: 'too_large', maxBytes: wire.value.maxBytes };
    }
  },
  (result) => {
    if (result.ok) return { kind: 'added', value: { added: result.added } };
    return result.error === 'quota_exceeded'
      ? { kind: 'quota_exceeded', value: {} }
      : { kind: 'too_large', value: { maxBytes: result.maxBytes } };
  },
);

const registerResultCodec: Codec<RegisterResult> = mapped(
  taggedUnion(enumeration(u8, { created: 1, existing: 2, handle_taken: 3, rate_limited: 4 }), {
    created: struct({ published: optional(publishResultCodec) }),
    existing: struct({ published: optional(publishResultCodec) }),
    handle_taken: empty,
    rate_limited: struct({ retryAfterMs: uint53 }),
  }),
)(
  (wire): RegisterResult => {
    switch (wire.kind) {
      case 'created':
      case 'existing': {
        const { published } = wire.value;
        return {
          ok: true,
          created: wire.kind === 'created',
          ...(published === undefined ? {} : { published }),
        };
      }
      case 'handle_taken':
        return { ok: false, error: 'handle_taken' };
      case 'rate_limited':
        return { ok: false, error: 'rate_limited', retryAfterMs: wire.value.retryAfterMs };
    }
  },
  (result) => {
    if (result.ok) {
      return { kind: result.created ? 'created' : 'existing', value: { published: result.published } };
    }
    return result.error === 'handle_taken'
      ? { kind: 'handle_taken', value: {} }
      : { kind: 'rate_limited', value: { retryAfterMs: result.retryAfterMs } };
  },
);

const claimedCodec = struct({
  deviceId: tagCodec,
  id: tagCodec,
  data: opaque(MAX_KEY_PACKAGE_BYTES),
  lastResort: bool,
});

/** Devices one claim may return (one KeyPackage each). */
export const MAX_DEVICES = 1024;

const claimResultCodec: Codec<ClaimResult> = mapped(
  taggedUnion(enumeration(u8, { claimed: 1, not_found: 2 }), {
    claimed: struct({ ...identityInfoFields, packages: vectorOf(claimedCodec, MAX_DEVICES) }),
    not_found: empty,
  }),
)(
  (wire): ClaimResult =>
    wire.kind === 'claimed' ? { ok: true, ...wire.value } : { ok: false, error: 'not_found' },
  (result) => (result.ok ? { kind: 'claimed', value: result } : { kind: 'not_found', value: {} }),
);

const countResultCodec: Codec<KeyPackageCount> = struct({ oneTime: uint53, lastResort: bool });

const issuerKeysCodec: Codec<IssuerKeys> = struct({
  issuerName: utf8String(MAX_ISSUER_NAME_BYTES),
  keys: vectorOf(
    struct({ tokenKey: opaque(MAX_TOKEN_KEY_BYTES), notBefore: uint53, acceptUntil: uint53 }),
    MAX_ISSUER_KEYS,
  ),
});

const issueResultCodec: Codec<IssueResult> = mapped(
  taggedUnion(enumeration(u8, { issued: 1, budget_exhausted: 2 }), {
    issued: struct({ responses: vectorOf(fixedBytes(TOKEN_RESPONSE_LENGTH), MAX_TOKENS_PER_ISSUANCE) }),
    budget_exhausted: struct({ retryAfterMs: uint53 }),
  }),
)(
  (wire): IssueResult =>
    wire.kind === 'issued'
      ? { ok: true, responses: wire.value.responses }
      : { ok: false, error: 'budget_exhausted', retryAfterMs: wire.value.retryAfterMs },
  (result) =>
    result.ok
      ? { kind: 'issued', value: { responses: result.responses } }
      : { kind: 'budget_exhausted', value: { retryAfterMs: result.retryAfterMs } },
);

const quotaLimitCodec = enumeration(u8, { messages: 1, bytes: 2, storage: 3 });

const postOutcomeCases = {
  stored: struct({ seq: uint53 }),
  duplicate: struct({ seq: uint53 }),
  held: empty,
  stale_epoch: struct({ winningSeq: uint53 }),
  quota_exceeded: struct({ limit: quotaLimitCodec }),
  too_large: struct({ maxBytes: uint53 }),
};
const postOutcomeCodec = taggedUnion(
  enumeration(u8, { stored: 1, duplicate: 2, held: 3, stale_epoch: 4, quota_exceeded: 5, too_large: 6 }),
  postOutcomeCases,
);
type PostOutcome = CodecValue<typeof postOutcomeCodec>;

function outcomeToResult(wire: PostOutcome): LogPostResult {
  switch (wire.kind) {
    case 'stored':
    case 'duplicate':
      return { ok: true, status: wire.kind, seq: wire.value.seq };
    case 'held':
      return { ok: true, status: 'held' };
    case 'stale_epoch':
      return { ok: false, error: 'stale_epoch', winningSeq: wire.value.winningSeq };
    case 'quota_exceeded':
      return { ok: false, error: 'quota_exceeded', limit: wire.value.limit };
    case 'too_large':
      return { ok: false, error: 'too_large', maxBytes: wire.value.maxBytes };
  }
}

function resultToOutcome(result: LogPostResult): PostOutcome {
  if (result.ok) {
    return result.status === 'held'
      ? { kind: 'held', value: {} }
      : { kind: result.status, value: { seq: result.seq } };
  }
  switch (result.error) {
    case 'stale_epoch':
      return { kind: 'stale_epoch', value: { winningSeq: result.winningSeq } };
    case 'quota_exceeded':
      return { kind: 'quota_exceeded', value: { limit: result.limit } };
    case 'too_large':
      return { kind: 'too_large', value: { maxBytes: result.maxBytes } };
  }
}

const logPostResultCodec: Codec<LogPostResult> = mapped(postOutcomeCodec)(outcomeToResult, resultToOutcome);

const mailboxPostResultCodec: Codec<MailboxPostResult> = mapped(postOutcomeCodec)(
  (wire): MailboxPostResult => {
    const result = outcomeToResult(wire);
    if ((result.ok && result.status === 'held') || (!result.ok && result.error === 'stale_epoch')) {
      throw new CodecError('invalid_value', 'a mailbox post has no such outcome');
    }
    return result;
  },
  resultToOutcome,
);

const mailboxItemFields = {
  seq: uint53,
  messageId: tagCodec,
  blob: blobCodec,
  bucket: varint,
  postedAt: uint53,
  expiresAt: uint53,
};
const mailboxItemCodec: Codec<MailboxItem> = struct(mailboxItemFields);

const logEntryCodec: Codec<LogEntry> = mapped(
  struct({ ...mailboxItemFields, kind: kindCodec, commitMessageId: optional(tagCodec) }),
)(
  ({ commitMessageId, ...rest }): LogEntry => ({ ...rest, commitMessageId: commitMessageId ?? null }),
  ({ commitMessageId, ...rest }) => ({ ...rest, commitMessageId: commitMessageId ?? undefined }),
);

const logPageCodec: Codec<LogPage> = mapped(
  struct({ entries: vectorOf(logEntryCodec, MAX_PAGE_ITEMS), winningSeq: optional(uint53) }),
)(
  ({ entries, winningSeq }): LogPage => ({ entries, winningSeq: winningSeq ?? null }),
  ({ entries, winningSeq }) => ({ entries, winningSeq: winningSeq ?? undefined }),
);

export const ERROR_CODES = {
  bad_request: 1,
  bad_signature: 2,
  expired: 3,
  not_registered: 4,
  too_large: 5,
  unsupported_version: 6,
  push_unavailable: 7,
  internal: 8,
  token_required: 9,
  bad_token: 10,
  token_spent: 11,
} as const satisfies Record<DeliveryErrorCode, number>;

const responseCases = {
  register: registerResultCodec,
  lookup: lookupResultCodec,
  publishKeyPackages: publishResultCodec,
  claimKeyPackages: claimResultCodec,
  countKeyPackages: countResultCodec,
  postToLog: logPostResultCodec,
  fetchLog: logPageCodec,
  postToMailbox: mailboxPostResultCodec,
  fetchMailbox: vectorOf(mailboxItemCodec, MAX_PAGE_ITEMS),
  deleteFromMailbox: struct({ deleted: uint53 }),
  subscribe: empty,
  fetchMailboxes: vectorOf(vectorOf(mailboxItemCodec, MAX_PAGE_ITEMS), MAX_FETCH_MAILBOXES),
  issuerKeys: issuerKeysCodec,
  issueTokens: issueResultCodec,
  error: struct({ code: enumeration(u8, ERROR_CODES) }),
} as const;

const responseBodyCodec = taggedUnion(enumeration(u8, { ...requestKindValues, error: 255 }), responseCases);

export type DeliveryResponse = Variant<RequestKind | 'error', typeof responseCases>;
export type ResponseOf<K extends RequestKind> = CodecValue<(typeof responseCases)[K]>;

// ---- pushes ----

const pushBodyCodec = taggedUnion(enumeration(u8, { log: 1, mailbox: 2, resync: 3 }), {
  log: struct({ routingId: idCodec, seq: uint53, kind: kindCodec }),
  mailbox: struct({ mailboxId: idCodec, seq: uint53 }),
  resync: empty,
});

const pushCodec: Codec<DeliveryPush> = mapped(pushBodyCodec)(
  (wire): DeliveryPush => {
    switch (wire.kind) {
      case 'log':
        return { type: 'log', ...wire.value };
      case 'mailbox':
        return { type: 'mailbox', ...wire.value };
      case 'resync':
        return { type: 'resync' };
    }
  },
  (push) => {
    switch (push.type) {
      case 'log':
        return { kind: 'log', value: { routingId: push.routingId, seq: push.seq, kind: push.kind } };
      case 'mailbox':
        return { kind: 'mailbox', value: { mailboxId: push.mailboxId, seq: push.seq } };
      case 'resync':
        return { kind: 'resync', value: {} };
    }
  },
);

// ---- envelopes ----

function encodeVersioned<T>(codec: Codec<T>, value: T): Uint8Array {
  return concatBytes(Uint8Array.of(PROTOCOL_VERSION), encode(codec, value));
}

function decodeVersioned<T>(codec: Codec<T>, bytes: Uint8Array): T {
  const reader = new Reader(bytes);
  if (reader.u8() !== PROTOCOL_VERSION) throw new CodecError('invalid_value', 'unsupported protocol version');
  const value = codec.decode(reader);
  reader.end();
  return value;
}

/** The protocol version a message claims (its first byte), or undefined for empty input. */
export function messageVersion(bytes: Uint8Array): number | undefined {
  return bytes[0];
}

export function encodeRequest(request: DeliveryRequest): Uint8Array {
  return encodeVersioned(requestBodyCodec, request);
}

/** Decodes a request of this version; throws `CodecError` for anything else (check `messageVersion` first). */
export function decodeRequest(bytes: Uint8Array): DeliveryRequest {
  return decodeVersioned(requestBodyCodec, bytes);
}

export function encodeResponse(response: DeliveryResponse): Uint8Array {
  return encodeVersioned(responseBodyCodec, response);
}

export function decodeResponse(bytes: Uint8Array): DeliveryResponse {
  return decodeVersioned(responseBodyCodec, bytes);
}

export function encodeErrorResponse(code: DeliveryErrorCode): Uint8Array {
  return encodeResponse({ kind: 'error', value: { code } });
}

export function encodePush(push: DeliveryPush): Uint8Array {
  return encodeVersioned(pushCodec, push);
}

export function decodePush(bytes: Uint8Array): DeliveryPush {
  return decodeVersioned(pushCodec, bytes);
}
