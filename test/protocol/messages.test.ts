// The delivery protocol's codecs: every request, response and push round-trips, and hostile bytes (random,
// mutated, truncated, extended) only ever decode canonically or throw CodecError.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CodecError } from '../../src/errors.ts';
import type { DeliveryPush } from '../../src/protocol/api.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../src/protocol/frames.ts';
import { createRegistration, encodeIdentityKey, IdentityKeyPair } from '../../src/protocol/identity.ts';
import {
  type DeliveryRequest,
  type DeliveryResponse,
  decodePush,
  decodeRequest,
  decodeResponse,
  encodePush,
  encodeRequest,
  encodeResponse,
  messageVersion,
  PROTOCOL_VERSION,
} from '../../src/protocol/messages.ts';
import { TOKEN_LENGTH, TOKEN_REQUEST_LENGTH, TOKEN_RESPONSE_LENGTH } from '../../src/protocol/tokens.ts';

const identity = IdentityKeyPair.generate();
const registration = await createRegistration(identity, 'alice', 1_700_000_000_000);
const id32 = (fill: number) => new Uint8Array(32).fill(fill);
const tag = (text: string) => new TextEncoder().encode(text);
const signature = new Uint8Array(64 + 3309).fill(7);
const nonce = new Uint8Array(16).fill(3);
const token = new Uint8Array(TOKEN_LENGTH).fill(4);

const requests: DeliveryRequest[] = [
  { kind: 'register', value: { handle: 'alice', registration, keyPackages: undefined } },
  {
    kind: 'register',
    value: {
      handle: 'alice',
      registration,
      keyPackages: {
        body: {
          handle: 'alice',
          deviceId: tag('phone'),
          nonce,
          signedAt: 1_700_000_000_000,
          oneTime: [{ id: tag('kp1'), data: new Uint8Array(300).fill(1) }],
          lastResort: { id: tag('lr'), data: new Uint8Array(10) },
        },
        signature,
      },
    },
  },
  { kind: 'lookup', value: { handle: 'alice' } },
  { kind: 'lookup', value: { handle: 'Zoë 🦊' } },
  {
    kind: 'publishKeyPackages',
    value: {
      body: {
        handle: 'alice',
        deviceId: tag('phone'),
        nonce,
        signedAt: 1_700_000_000_000,
        oneTime: [
          { id: tag('kp1'), data: new Uint8Array(300).fill(1) },
          { id: tag('kp2'), data: new Uint8Array(0) },
        ],
        lastResort: { id: tag('lr'), data: new Uint8Array(10) },
      },
      signature,
    },
  },
  {
    kind: 'publishKeyPackages',
    value: {
      body: { handle: 'alice', deviceId: tag('d'), nonce, signedAt: 0, oneTime: [], lastResort: undefined },
      signature,
    },
  },
  { kind: 'claimKeyPackages', value: { handle: 'bob', token: undefined } },
  { kind: 'claimKeyPackages', value: { handle: 'bob', token } },
  {
    kind: 'countKeyPackages',
    value: { body: { handle: 'bob', deviceId: tag('d'), nonce, signedAt: 5 }, signature },
  },
  { kind: 'issuerKeys', value: {} },
  {
    kind: 'issueTokens',
    value: {
      body: {
        handle: 'bob',
        nonce,
        signedAt: 6,
        tokenRequests: [new Uint8Array(TOKEN_REQUEST_LENGTH).fill(1), new Uint8Array(TOKEN_REQUEST_LENGTH)],
      },
      signature,
    },
  },
  {
    kind: 'postToLog',
    value: {
      routingId: id32(1),
      post: { kind: 'commit', messageId: tag('m1'), blob: new Uint8Array(1024), bucket: 1024 },
    },
  },
  {
    kind: 'postToLog',
    value: {
      routingId: id32(1),
      post: {
        kind: 'welcome',
        messageId: tag('w1'),
        blob: new Uint8Array(5),
        bucket: 256,
        commitMessageId: tag('m1'),
      },
    },
  },
  { kind: 'fetchLog', value: { routingId: id32(2), afterSeq: 2 ** 40, limit: 100 } },
  {
    kind: 'postToMailbox',
    value: {
      mailboxId: id32(3),
      post: { messageId: tag('x'), blob: new Uint8Array(3), bucket: 0 },
      token: undefined,
    },
  },
  {
    kind: 'postToMailbox',
    value: { mailboxId: id32(3), post: { messageId: tag('x'), blob: new Uint8Array(3), bucket: 0 }, token },
  },
  { kind: 'fetchMailbox', value: { mailboxSecret: id32(4), afterSeq: 0, limit: 1 } },
  { kind: 'deleteFromMailbox', value: { mailboxSecret: id32(4), messageIds: [tag('a'), tag('b')] } },
  { kind: 'subscribe', value: { routingIds: [id32(5), id32(6)], mailboxSecrets: [id32(7)] } },
  { kind: 'subscribe', value: { routingIds: [], mailboxSecrets: [] } },
  {
    kind: 'fetchMailboxes',
    value: {
      mailboxes: [
        { mailboxSecret: id32(8), afterSeq: 0 },
        { mailboxSecret: id32(9), afterSeq: 7 },
      ],
      limit: 100,
    },
  },
];

const identityInfo = { identityKey: identity.publicKey, registration, registeredAt: 1_700_000_000_001 };
const entry = {
  seq: 3,
  messageId: tag('m'),
  blob: new Uint8Array(40).fill(9),
  bucket: 64,
  postedAt: 10,
  expiresAt: 20,
};

const responses: DeliveryResponse[] = [
  { kind: 'register', value: { ok: true, created: true } },
  { kind: 'register', value: { ok: true, created: false } },
  { kind: 'register', value: { ok: true, created: true, published: { ok: true, added: 11 } } },
  {
    kind: 'register',
    value: { ok: true, created: false, published: { ok: false, error: 'too_large', maxBytes: 9 } },
  },
  { kind: 'register', value: { ok: false, error: 'handle_taken' } },
  { kind: 'register', value: { ok: false, error: 'rate_limited', retryAfterMs: 59_001 } },
  { kind: 'lookup', value: { ok: true, ...identityInfo } },
  { kind: 'lookup', value: { ok: false, error: 'not_found' } },
  { kind: 'publishKeyPackages', value: { ok: true, added: 2 } },
  { kind: 'publishKeyPackages', value: { ok: false, error: 'quota_exceeded', limit: 'key_packages' } },
  { kind: 'publishKeyPackages', value: { ok: false, error: 'too_large', maxBytes: 65536 } },
  {
    kind: 'claimKeyPackages',
    value: {
      ok: true,
      ...identityInfo,
      packages: [
        { deviceId: tag('d1'), id: tag('k1'), data: new Uint8Array(4), lastResort: false },
        { deviceId: tag('d2'), id: tag('k2'), data: new Uint8Array(5), lastResort: true },
      ],
    },
  },
  { kind: 'claimKeyPackages', value: { ok: false, error: 'not_found' } },
  { kind: 'countKeyPackages', value: { oneTime: 7, lastResort: true } },
  {
    kind: 'issuerKeys',
    value: {
      issuerName: 'umbra-delivery',
      keys: [{ tokenKey: new Uint8Array(294).fill(2), notBefore: 10, acceptUntil: 20 }],
    },
  },
  {
    kind: 'issueTokens',
    value: { ok: true, responses: [new Uint8Array(TOKEN_RESPONSE_LENGTH).fill(5)] },
  },
  { kind: 'issueTokens', value: { ok: false, error: 'budget_exhausted', retryAfterMs: 1000 } },
  { kind: 'postToLog', value: { ok: true, status: 'stored', seq: 1 } },
  { kind: 'postToLog', value: { ok: true, status: 'duplicate', seq: 1 } },
  { kind: 'postToLog', value: { ok: true, status: 'held' } },
  { kind: 'postToLog', value: { ok: false, error: 'stale_epoch', winningSeq: 4 } },
  { kind: 'postToLog', value: { ok: false, error: 'quota_exceeded', limit: 'messages' } },
  { kind: 'postToLog', value: { ok: false, error: 'too_large', maxBytes: 1 } },
  {
    kind: 'fetchLog',
    value: {
      entries: [
        { ...entry, kind: 'commit', commitMessageId: null },
        { ...entry, seq: 4, kind: 'welcome', commitMessageId: tag('m') },
      ],
      winningSeq: 3,
    },
  },
  { kind: 'fetchLog', value: { entries: [], winningSeq: null } },
  { kind: 'postToMailbox', value: { ok: true, status: 'stored', seq: 9 } },
  { kind: 'postToMailbox', value: { ok: false, error: 'quota_exceeded', limit: 'bytes' } },
  { kind: 'postToMailbox', value: { ok: false, error: 'quota_exceeded', limit: 'storage' } },
  { kind: 'fetchMailbox', value: [entry, { ...entry, seq: 4 }] },
  { kind: 'deleteFromMailbox', value: { deleted: 2 } },
  { kind: 'subscribe', value: {} },
  { kind: 'fetchMailboxes', value: [[entry], [], [{ ...entry, seq: 4 }]] },
  { kind: 'error', value: { code: 'bad_signature' } },
  { kind: 'error', value: { code: 'internal' } },
  { kind: 'error', value: { code: 'token_required' } },
  { kind: 'error', value: { code: 'bad_token' } },
  { kind: 'error', value: { code: 'token_spent' } },
];

const pushes: DeliveryPush[] = [
  { type: 'log', routingId: id32(1), seq: 5, kind: 'application' },
  { type: 'mailbox', mailboxId: id32(2), seq: 1 },
  { type: 'resync' },
];

describe('delivery protocol codecs', () => {
  test('every request kind round-trips', () => {
    const kinds = new Set(requests.map((request) => request.kind));
    assert.equal(kinds.size, 14);
    for (const request of requests) {
      const bytes = encodeRequest(request);
      assert.equal(bytes[0], PROTOCOL_VERSION);
      assert.deepEqual(decodeRequest(bytes), request);
    }
  });

  test('every response kind round-trips', () => {
    for (const response of responses) assert.deepEqual(decodeResponse(encodeResponse(response)), response);
  });

  test('pushes and frames round-trip', () => {
    for (const push of pushes) assert.deepEqual(decodePush(encodePush(push)), push);
    const frames: Frame[] = [
      { type: 'request', id: 0, payload: new Uint8Array([1, 2]) },
      { type: 'response', id: 0xffff_ffff, payload: new Uint8Array(0) },
      { type: 'push', payload: new Uint8Array([3]) },
    ];
    for (const frame of frames) assert.deepEqual(decodeFrame(encodeFrame(frame)), frame);
  });

  test('another protocol version is refused and recognisable', () => {
    const bytes = encodeRequest({ kind: 'lookup', value: { handle: 'alice' } });
    bytes[0] = 2;
    assert.equal(messageVersion(bytes), 2);
    assert.throws(() => decodeRequest(bytes), CodecError);
  });

  test('a Welcome without its commit, or a commit naming one, is refused', () => {
    const welcome = encodeRequest(requests[8] as DeliveryRequest);
    // The optional commitMessageId is the last field: flip its presence flag away.
    const withoutCommit = welcome.slice(0, welcome.length - 3);
    withoutCommit[withoutCommit.length - 1] = 0;
    assert.throws(() => decodeRequest(withoutCommit), CodecError);
    const commit = encodeRequest(requests[7] as DeliveryRequest);
    const namingOne = new Uint8Array([...commit.subarray(0, commit.length - 1), 1, 2, ...tag('m1')]);
    assert.throws(() => decodeRequest(namingOne), CodecError);
  });

  test('invalid handles are refused on both sides', () => {
    for (const handle of ['', 'a\u0000b', 'e\u0301', 'x'.repeat(65)]) {
      assert.throws(() => encodeRequest({ kind: 'lookup', value: { handle } }), { name: 'ArgumentError' });
      const bytes = new Uint8Array([PROTOCOL_VERSION, 2, ...encodeLength(handle), ...tag(handle)]);
      assert.throws(() => decodeRequest(bytes), CodecError);
    }
  });

  test('the identity key encodes to a fixed length', () => {
    assert.equal(encodeIdentityKey(identity.publicKey).length, 32 + 1952);
  });
});

function encodeLength(text: string): number[] {
  const length = tag(text).length;
  return length < 64 ? [length] : [0x40 | (length >> 8), length & 0xff];
}

function onlyCodecErrors(decoder: (bytes: Uint8Array) => unknown, bytes: Uint8Array): void {
  try {
    decoder(bytes);
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
  }
}

const decoders: [string, (bytes: Uint8Array) => unknown, Uint8Array[]][] = [
  ['requests', decodeRequest, requests.map(encodeRequest)],
  ['responses', decodeResponse, responses.map(encodeResponse)],
  ['pushes', decodePush, pushes.map(encodePush)],
  ['frames', decodeFrame, [encodeFrame({ type: 'request', id: 1, payload: new Uint8Array(3) })]],
];

describe('hostile input', () => {
  for (const [name, decoder, valid] of decoders) {
    test(`random bytes into the decoder of ${name} throw only CodecError`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => onlyCodecErrors(decoder, bytes)),
        { numRuns: 2000 },
      );
      // With a valid version and kind in front, random bodies reach every case's decoder.
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }), (kind, body) =>
          onlyCodecErrors(decoder, new Uint8Array([PROTOCOL_VERSION, kind, ...body])),
        ),
        { numRuns: 2000 },
      );
    });

    test(`mutated, truncated and extended ${name} throw only CodecError or decode canonically`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...valid),
          fc.nat(),
          fc.integer({ min: 0, max: 255 }),
          fc.nat(),
          (bytes, position, value, cut) => {
            const mutated = bytes.slice();
            if (mutated.length > 0) mutated[position % mutated.length] = value;
            for (const candidate of [mutated, bytes.subarray(0, cut % (bytes.length + 1))]) {
              try {
                decoder(candidate);
              } catch (error) {
                if (!(error instanceof CodecError)) throw error;
              }
            }
            if (name !== 'frames') {
              assert.throws(() => decoder(new Uint8Array([...bytes, 0])), CodecError);
            }
          },
        ),
        { numRuns: 3000 },
      );
    });
  }

  test('decoded requests re-encode to the same bytes (canonical)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...requests.map(encodeRequest)),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (bytes, position, value) => {
          const mutated = bytes.slice();
          mutated[position % mutated.length] = value;
          let decoded: DeliveryRequest;
          try {
            decoded = decodeRequest(mutated);
          } catch (error) {
            if (error instanceof CodecError) return;
            throw error;
          }
          assert.deepEqual(encodeRequest(decoded), mutated);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
