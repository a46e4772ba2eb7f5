// The client ↔ gateway WebSocket protocol and the service framing: every message round-trips, sizes follow
// the geometry, an inbox id is bound to its secret, requests and replies split and reassemble over the
// geometry's capacities (with SURB-only fragments and the too_large fallback), the reassembler's bounds hold,
// and hostile bytes — random, truncated, mutated — only ever produce CodecError. Every downstream frame
// (message item, reply item, padding) encodes to one length, and a frame with nonzero padding is refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { randomBytes } from '../../src/crypto/random.ts';
import { ArgumentError, CodecError } from '../../src/errors.ts';
import {
  type ClientMessage,
  ClientProtocol,
  errorMessage,
  type GatewayMessage,
  helloMessage,
  inboxId,
  paddingFrame,
} from '../../src/protocol/gateway-protocol.ts';
import {
  DELIVERY_SERVICE,
  decodeReplyFragment,
  decodeRequestFragment,
  ECHO_SERVICE,
  MAX_FRAGMENTS,
  newRequestId,
  Reassembler,
  type RequestFragment,
  replyCapacity,
  requestCapacity,
  serviceId,
  splitReply,
  splitRequest,
} from '../../src/protocol/service-framing.ts';
import { Geometry } from '../../src/sphinx/index.ts';

const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 400,
  withSurb: true,
  nrHops: 5,
});
const protocol = new ClientProtocol(geometry);

function onlyCodecErrors(decodeIt: () => unknown): void {
  try {
    decodeIt();
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
  }
}

describe('client protocol', () => {
  test('client messages round-trip and a packet must be exactly packetLength bytes', () => {
    const messages: ClientMessage[] = [
      helloMessage(geometry, randomBytes(32)),
      { kind: 'packet', value: { packet: randomBytes(geometry.packetLength) } },
      { kind: 'ack', value: { sequences: [1n, 2n, 2n ** 63n] } },
    ];
    for (const message of messages) {
      const bytes = protocol.encodeClientMessage(message);
      assert.ok(bytes.length <= protocol.maxMessageLength);
      assert.deepEqual(protocol.decodeClientMessage(bytes), message);
    }
    assert.throws(
      () =>
        protocol.encodeClientMessage({
          kind: 'packet',
          value: { packet: randomBytes(geometry.packetLength - 1) },
        }),
      ArgumentError,
    );
    const packet = protocol.encodeClientMessage(messages[1] as ClientMessage);
    assert.throws(() => protocol.decodeClientMessage(packet.subarray(0, packet.length - 1)), CodecError);
    assert.throws(
      () => protocol.decodeClientMessage(Uint8Array.from([...packet, 0])),
      (error: unknown) => error instanceof CodecError && error.reason === 'trailing_bytes',
    );
  });

  test('gateway messages round-trip with the geometry’s payload sizes', () => {
    const messages: GatewayMessage[] = [
      {
        kind: 'welcome',
        value: {
          version: 1,
          gatewayId: randomBytes(32),
          inboxId: randomBytes(32),
          pending: 3,
          dropped: 0,
          inboxQuota: 1000,
          itemTtlSeconds: 259_200,
          sendRate: 4000,
          burst: 8,
          downstreamRate: 4000,
        },
      },
      {
        kind: 'item',
        value: {
          packetsRead: 4n,
          sequence: 7n,
          receivedAt: 1_700_000_000_000n,
          content: { kind: 'message', value: { payload: randomBytes(geometry.forwardPayloadLength) } },
        },
      },
      {
        kind: 'item',
        value: {
          packetsRead: 4n,
          sequence: 8n,
          receivedAt: 1n,
          content: {
            kind: 'reply',
            value: { surbId: randomBytes(16), payload: randomBytes(32 + geometry.forwardPayloadLength) },
          },
        },
      },
      paddingFrame(12n),
      errorMessage('rate_limited', 'over 4 packets/s', false),
      errorMessage('wrong_geometry', 'this gateway speaks another geometry', true),
    ];
    for (const message of messages) {
      const bytes = protocol.encodeGatewayMessage(message);
      assert.ok(bytes.length <= protocol.maxMessageLength);
      assert.deepEqual(protocol.decodeGatewayMessage(bytes), message);
    }
    assert.throws(
      () =>
        protocol.encodeGatewayMessage({
          kind: 'item',
          value: {
            packetsRead: 4n,
            sequence: 1n,
            receivedAt: 1n,
            content: { kind: 'message', value: { payload: randomBytes(10) } },
          },
        }),
      ArgumentError,
    );
  });

  test('every downstream frame — message, reply or padding — has one length; its padding must be zero', () => {
    const frames: GatewayMessage[] = [
      {
        kind: 'item',
        value: {
          packetsRead: 4n,
          sequence: 1n,
          receivedAt: 2n,
          content: { kind: 'message', value: { payload: randomBytes(geometry.forwardPayloadLength) } },
        },
      },
      {
        kind: 'item',
        value: {
          packetsRead: 4n,
          sequence: 2n ** 64n - 1n,
          receivedAt: 3n,
          content: {
            kind: 'reply',
            value: {
              surbId: randomBytes(16),
              payload: randomBytes(geometry.payloadTagLength + geometry.forwardPayloadLength),
            },
          },
        },
      },
      paddingFrame(2n ** 64n - 1n),
    ];
    const encoded = frames.map((frame) => protocol.encodeGatewayMessage(frame));
    assert.deepEqual(
      encoded.map((bytes) => bytes.length),
      [protocol.frameLength, protocol.frameLength, protocol.frameLength],
    );
    // The reply, the largest content, fills its frame; a message item and padding end in zeros. Every
    // frame starts with the count of packets the gateway has read (here the largest there is).
    assert.equal(
      protocol.frameLength,
      1 + 8 + 8 + 8 + 1 + 16 + geometry.payloadTagLength + geometry.forwardPayloadLength,
    );
    encoded.forEach((bytes, index) => {
      assert.deepEqual(protocol.decodeGatewayMessage(bytes), frames[index]);
    });
    const [message, , padding] = encoded as [Uint8Array, Uint8Array, Uint8Array];
    assert.deepEqual(padding.subarray(1, 9), new Uint8Array(8).fill(0xff));
    assert.deepEqual(padding.subarray(9), new Uint8Array(protocol.frameLength - 9));
    for (const frame of [message, padding]) {
      const tampered = frame.slice();
      tampered[tampered.length - 1] = 1;
      assert.throws(() => protocol.decodeGatewayMessage(tampered), CodecError);
      assert.throws(() => protocol.decodeGatewayMessage(frame.subarray(0, frame.length - 1)), CodecError);
      assert.throws(() => protocol.decodeGatewayMessage(Uint8Array.from([...frame, 0])), CodecError);
    }
  });

  test('the hello carries the geometry hash; an inbox id is bound to its secret', () => {
    const secret = randomBytes(32);
    const hello = protocol.decodeClientMessage(protocol.encodeClientMessage(helloMessage(geometry, secret)));
    assert.equal(hello.kind, 'hello');
    if (hello.kind !== 'hello') return;
    assert.deepEqual(hello.value.geometryHash, geometry.hash());
    assert.deepEqual(inboxId(secret), inboxId(secret.slice()));
    assert.notDeepEqual(inboxId(secret), inboxId(randomBytes(32)));
    assert.equal(inboxId(secret).length, 32);
    assert.notDeepEqual(inboxId(secret), secret);
    assert.throws(() => inboxId(randomBytes(31)), ArgumentError);
    // Service ids and inbox ids live under different contexts.
    assert.notDeepEqual(serviceId(ECHO_SERVICE), serviceId(DELIVERY_SERVICE));
  });

  test('hostile bytes only ever raise CodecError', () => {
    const valid = [
      protocol.encodeClientMessage(helloMessage(geometry, randomBytes(32))),
      protocol.encodeClientMessage({ kind: 'ack', value: { sequences: [5n] } }),
      protocol.encodeGatewayMessage(errorMessage('inbox_full', 'full', false)),
      protocol.encodeGatewayMessage(paddingFrame(3n)),
      protocol.encodeGatewayMessage({
        kind: 'item',
        value: {
          packetsRead: 4n,
          sequence: 9n,
          receivedAt: 9n,
          content: { kind: 'message', value: { payload: randomBytes(geometry.forwardPayloadLength) } },
        },
      }),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: protocol.frameLength + 8 }), (bytes) => {
        onlyCodecErrors(() => protocol.decodeClientMessage(bytes));
        onlyCodecErrors(() => protocol.decodeGatewayMessage(bytes));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (bytes, at, value) => {
          const mutated = bytes.slice();
          mutated[at % mutated.length] = value;
          onlyCodecErrors(() => protocol.decodeClientMessage(mutated));
          onlyCodecErrors(() => protocol.decodeGatewayMessage(mutated));
          onlyCodecErrors(() => protocol.decodeClientMessage(mutated.subarray(0, at % mutated.length)));
          onlyCodecErrors(() => protocol.decodeGatewayMessage(mutated.subarray(0, at % mutated.length)));
        },
      ),
      { numRuns: 2000 },
    );
    // An unknown error reason and a non-boolean fatal flag are refused.
    const error = protocol.encodeGatewayMessage(errorMessage('closed', '', true));
    assert.throws(() => protocol.decodeGatewayMessage(Uint8Array.from([3, 99, 1, 0])), CodecError);
    assert.throws(
      () => protocol.decodeGatewayMessage(Uint8Array.from([error[0] ?? 0, error[1] ?? 0, 2, 0])),
      CodecError,
    );
  });
});

describe('service framing', () => {
  test('a request splits into fragments that reassemble, with extra SURB-only fragments on demand', () => {
    const requestId = newRequestId();
    const request = randomBytes(requestCapacity(geometry) * 2 + 5);
    const fragments = splitRequest(geometry, requestId, request, 5);
    assert.equal(fragments.length, 5);
    for (const fragment of fragments) assert.equal(fragment.length, geometry.userForwardPayloadLength);
    const reassembler = new Reassembler<number>({
      maxPending: 4,
      maxPendingBytes: 1 << 20,
      maxAgeMs: 60_000,
    });
    let done: { data: Uint8Array; attachments: number[] } | undefined;
    for (const index of [4, 1, 1, 0, 3, 2]) {
      const decoded = decodeRequestFragment(geometry, fragments[index] as Uint8Array);
      assert.deepEqual(decoded.requestId, requestId);
      assert.equal(decoded.count, 5);
      const result = reassembler.add(decoded, index);
      if (result) done = result;
    }
    assert.ok(done);
    assert.deepEqual(done.data, request);
    assert.deepEqual(done.attachments, [0, 1, 2, 3, 4]);
    assert.equal(reassembler.pending, 0);
    assert.equal(splitRequest(geometry, requestId, new Uint8Array(0)).length, 1);
    assert.throws(
      () => splitRequest(geometry, requestId, new Uint8Array(requestCapacity(geometry) * MAX_FRAGMENTS + 1)),
      ArgumentError,
    );
  });

  test('a reply splits over the SURBs, or becomes one too_large fragment', () => {
    const requestId = newRequestId();
    const response = randomBytes(replyCapacity(geometry) * 2 + 1);
    assert.deepEqual(splitReply(geometry, requestId, 'ok', response, 0), []);
    const tooLarge = splitReply(geometry, requestId, 'ok', response, 2);
    assert.equal(tooLarge.length, 1);
    const refusal = decodeReplyFragment(geometry, tooLarge[0] as Uint8Array);
    assert.equal(refusal.status, 'too_large');
    assert.equal(refusal.count, 1);
    const payloads = splitReply(geometry, requestId, 'ok', response, 4);
    assert.equal(payloads.length, 3);
    const reassembler = new Reassembler<undefined>({
      maxPending: 4,
      maxPendingBytes: 1 << 20,
      maxAgeMs: 60_000,
    });
    let data: Uint8Array | undefined;
    for (const payload of payloads.toReversed()) {
      assert.equal(payload.length, geometry.forwardPayloadLength);
      const fragment = decodeReplyFragment(geometry, payload);
      assert.equal(fragment.status, 'ok');
      data = reassembler.add(fragment, undefined)?.data ?? data;
    }
    assert.deepEqual(data, response);
  });

  test('fragments refuse nonzero padding, bad indexes and hostile bytes with CodecError', () => {
    const [fragment] = splitRequest(geometry, newRequestId(), randomBytes(10));
    assert.ok(fragment);
    const dirty = fragment.slice();
    dirty[dirty.length - 1] = 1;
    assert.throws(() => decodeRequestFragment(geometry, dirty), CodecError);
    const badIndex = fragment.slice();
    badIndex[1 + 16 + 1] = 1; // index 1 of count 1
    assert.throws(() => decodeRequestFragment(geometry, badIndex), CodecError);
    assert.throws(() => decodeRequestFragment(geometry, fragment.subarray(1)), CodecError);
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const mutated = fragment.slice();
        mutated[at % mutated.length] = value;
        onlyCodecErrors(() => decodeRequestFragment(geometry, mutated));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: geometry.forwardPayloadLength, maxLength: geometry.forwardPayloadLength }),
        (bytes) => {
          onlyCodecErrors(() => decodeReplyFragment(geometry, bytes));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('the reassembler keeps its bounds and drops stale messages', () => {
    let now = 0;
    const reassembler = new Reassembler<undefined>({
      maxPending: 2,
      maxPendingBytes: 1 << 20,
      maxAgeMs: 1000,
      now: () => now,
    });
    const parts = (id: Uint8Array) =>
      splitRequest(geometry, id, randomBytes(requestCapacity(geometry) * 2)).map((bytes) =>
        decodeRequestFragment(geometry, bytes),
      );
    const [a, b, c] = [parts(newRequestId()), parts(newRequestId()), parts(newRequestId())];
    reassembler.add(a[0] as RequestFragment, undefined);
    now = 10;
    reassembler.add(b[0] as RequestFragment, undefined);
    reassembler.add(c[0] as RequestFragment, undefined);
    assert.equal(reassembler.pending, 2);
    // The oldest (a) was evicted: its second half alone starts a new, incomplete message.
    assert.equal(reassembler.add(a[1] as RequestFragment, undefined), undefined);
    now = 2000;
    assert.equal(reassembler.prune(), 2);
    const byBytes = new Reassembler<undefined>({
      maxPending: 10,
      maxPendingBytes: requestCapacity(geometry),
      maxAgeMs: 1000,
    });
    byBytes.add(a[0] as RequestFragment, undefined);
    byBytes.add(b[0] as RequestFragment, undefined);
    assert.equal(byBytes.pending, 1);
    assert.ok(byBytes.add(b[1] as RequestFragment, undefined));
  });
});
