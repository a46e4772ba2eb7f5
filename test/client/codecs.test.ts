// The SDK's own formats: application content (versioned JSON) and mailbox invitations, round trips and
// hostile input (only CodecError), and the privacy state each policy gives for each carrier status.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { utf8 } from '../../src/bytes.ts';
import { decodeEnvelope, encodeEnvelope, MESSAGE_ID_LENGTH } from '../../src/client/content.ts';
import { decodeInvitation, encodeInvitation } from '../../src/client/invitation.ts';
import { privacyState } from '../../src/client/privacy.ts';
import { ArgumentError, CodecError } from '../../src/errors.ts';
import { OUTER_BUCKETS } from '../../src/mls/index.ts';
import type { Carrier, CarrierKind, CarrierStatus } from '../../src/protocol/carrier.ts';

function onlyCodecErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof CodecError, `expected a CodecError, got ${String(error)}`);
  }
}

describe('application content', () => {
  test('round-trips text, ids and times', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }),
        fc.uint8Array({ minLength: MESSAGE_ID_LENGTH, maxLength: MESSAGE_ID_LENGTH }),
        fc.nat(),
        (text, id, sentAt) => {
          const decoded = decodeEnvelope(encodeEnvelope({ id, sentAt, content: { text } }));
          assert.deepEqual(decoded, { id, sentAt, content: { text } });
        },
      ),
    );
  });

  test('refuses other versions, types and shapes with CodecError only', () => {
    const good = { v: 1, id: 'AAAAAAAAAAAAAAAAAAAAAA', sentAt: 1, type: 'text', text: 'hi' };
    const bad = [
      { ...good, v: 2 },
      { ...good, type: 'image' },
      { ...good, text: 7 },
      { ...good, id: 'short' },
      { ...good, id: '!!!!!!!!!!!!!!!!!!!!!!' },
      { ...good, sentAt: -1 },
      { ...good, sentAt: 1.5 },
      [good],
      null,
    ];
    for (const value of bad) {
      assert.throws(() => decodeEnvelope(utf8(JSON.stringify(value))), CodecError);
    }
    assert.throws(() => decodeEnvelope(Uint8Array.of(0xff, 0xfe)), CodecError);
    fc.assert(fc.property(fc.uint8Array(), (bytes) => onlyCodecErrors(() => decodeEnvelope(bytes))));
  });

  test('sending checks the content: a text, well formed', () => {
    const id = new Uint8Array(MESSAGE_ID_LENGTH);
    assert.throws(() => encodeEnvelope({ id, sentAt: 0, content: { text: '\uD800' } }), ArgumentError);
    assert.throws(
      () => encodeEnvelope({ id, sentAt: 0, content: { text: 42 } as unknown as { text: string } }),
      ArgumentError,
    );
  });
});

describe('invitations', () => {
  test('round-trip, padded to an outer bucket', () => {
    const keyPackageId = new Uint8Array(64).fill(3);
    for (const size of [10, 900, 5000, 40_000]) {
      const welcome = new Uint8Array(size).fill(9);
      const blob = encodeInvitation({ keyPackageId, welcome });
      assert.ok((OUTER_BUCKETS as readonly number[]).includes(blob.length));
      assert.deepEqual(decodeInvitation(blob), { keyPackageId, welcome });
    }
  });

  test('hostile blobs fail with CodecError only; non-zero padding is refused', () => {
    const blob = encodeInvitation({ keyPackageId: new Uint8Array(4), welcome: new Uint8Array(4) });
    const altered = Uint8Array.from(blob);
    altered[altered.length - 1] = 1;
    assert.throws(() => decodeInvitation(altered), CodecError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) =>
        onlyCodecErrors(() => decodeInvitation(bytes)),
      ),
    );
  });
});

describe('privacy state', () => {
  const carrier = (kind: CarrierKind, status: CarrierStatus): Carrier => ({
    kind,
    status: () => status,
    request: () => Promise.reject(new Error('not used')),
    onStatus: () => () => undefined,
    close: () => Promise.resolve(),
  });
  const up: CarrierStatus = { state: 'up' };
  const down: CarrierStatus = { state: 'down', reason: 'gateway unreachable' };
  const carriers = (mixnet: CarrierStatus | undefined, direct: CarrierStatus | undefined) =>
    new Map<CarrierKind, Carrier>([
      ...(mixnet ? [['mixnet', carrier('mixnet', mixnet)] as const] : []),
      ...(direct ? [['direct', carrier('direct', direct)] as const] : []),
    ]);

  test('each policy against each combination of carriers', () => {
    const cases: [
      string,
      CarrierStatus | undefined,
      CarrierStatus | undefined,
      string,
      string | undefined,
    ][] = [
      ['mixnet', up, up, 'full', 'mixnet'],
      ['mixnet', down, up, 'none', undefined],
      ['mixnet', undefined, up, 'none', undefined],
      ['mixnet-or-direct', up, up, 'full', 'mixnet'],
      ['mixnet-or-direct', down, up, 'partial', 'direct'],
      ['mixnet-or-direct', down, down, 'none', undefined],
      ['direct', up, up, 'partial', 'direct'],
      ['direct', up, down, 'none', undefined],
    ];
    for (const [policy, mixnet, direct, level, chosen] of cases) {
      const state = privacyState(policy as 'mixnet', carriers(mixnet, direct));
      assert.deepEqual(
        [state.level, state.carrier],
        [level, chosen],
        `${policy} ${mixnet?.state} ${direct?.state}`,
      );
      assert.ok(state.reason.length > 0);
    }
    assert.match(privacyState('mixnet', carriers(down, up)).reason, /gateway unreachable.*forbids/);
  });
});
