// DeliveryClient's own checks, with a scripted carrier: a response that does not decode or answers another
// request is a CarrierError('protocol'), a refusal becomes DeliveryError(code), subscribing over a carrier
// without push is refused locally, signed calls need an identity, and each request tells the carrier how
// large its answer will probably be.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarrierError, DeliveryError } from '../../src/errors.ts';
import type { Carrier, CarrierRequestOptions } from '../../src/protocol/carrier.ts';
import { DeliveryClient } from '../../src/protocol/client.ts';
import { IDENTITY_KEY_LENGTH, REGISTRATION_LENGTH } from '../../src/protocol/identity.ts';
import { decodeRequest, encodeErrorResponse, encodeResponse } from '../../src/protocol/messages.ts';

function scripted(
  answer: (request: Uint8Array) => Uint8Array,
): Carrier & { requests: Uint8Array[]; options: CarrierRequestOptions[] } {
  const requests: Uint8Array[] = [];
  const options: CarrierRequestOptions[] = [];
  return {
    kind: 'mixnet',
    requests,
    options,
    request: async (request, given = {}) => {
      requests.push(request);
      options.push(given);
      return answer(request);
    },
    status: () => ({ state: 'up' }),
    onStatus: () => () => undefined,
    close: async () => undefined,
  };
}

const routingId = new Uint8Array(32).fill(1);

describe('DeliveryClient', () => {
  test('encodes the call and decodes the answer', async () => {
    const carrier = scripted(() =>
      encodeResponse({ kind: 'fetchLog', value: { entries: [], winningSeq: 7 } }),
    );
    const client = new DeliveryClient({ carrier });
    assert.deepEqual(await client.fetchLog(routingId, 3, 20), { entries: [], winningSeq: 7 });
    assert.deepEqual(decodeRequest(carrier.requests[0] as Uint8Array), {
      kind: 'fetchLog',
      value: { routingId, afterSeq: 3, limit: 20 },
    });
    await assert.rejects(client.fetchLog(routingId, 0, 101), { name: 'ArgumentError' });
  });

  test('a malformed response or one for another request is a protocol failure', async () => {
    const garbage = new DeliveryClient({ carrier: scripted(() => new Uint8Array([1, 99])) });
    await assert.rejects(
      garbage.fetchLog(routingId, 0),
      (error: unknown) => error instanceof CarrierError && error.reason === 'protocol',
    );
    const other = new DeliveryClient({
      carrier: scripted(() => encodeResponse({ kind: 'deleteFromMailbox', value: { deleted: 1 } })),
    });
    await assert.rejects(
      other.fetchLog(routingId, 0),
      (error: unknown) => error instanceof CarrierError && error.reason === 'protocol',
    );
  });

  test('a refusal rejects with its code', async () => {
    const client = new DeliveryClient({ carrier: scripted(() => encodeErrorResponse('internal')) });
    await assert.rejects(
      client.lookup('alice'),
      (error: unknown) => error instanceof DeliveryError && error.reason === 'internal',
    );
  });

  test('each request expects an answer as long as the last of its kind, and at least an identity for a lookup', async () => {
    const entry = {
      seq: 1,
      kind: 'application' as const,
      messageId: new Uint8Array(16),
      blob: new Uint8Array(5000),
      bucket: 5000,
      postedAt: 1,
      expiresAt: 2,
      commitMessageId: null,
    };
    let entries = [entry];
    const carrier = scripted((request) =>
      decodeRequest(request).kind === 'lookup'
        ? encodeResponse({ kind: 'lookup', value: { ok: false, error: 'not_found' } })
        : encodeResponse({ kind: 'fetchLog', value: { entries, winningSeq: null } }),
    );
    const client = new DeliveryClient({ carrier });
    await client.fetchLog(routingId, 0);
    entries = [];
    await client.fetchLog(routingId, 1);
    await client.fetchLog(routingId, 1);
    const [first, afterLarge, afterEmpty] = carrier.options.map((o) => o.expectedResponseBytes ?? 0);
    assert.equal(first, 0);
    assert.ok((afterLarge ?? 0) > 5000, 'after a page of 5 kB, the next read expects as much');
    assert.ok((afterEmpty ?? 0) < 100, 'after an empty page, an empty page');
    await client.lookup('alice');
    assert.ok((carrier.options[3]?.expectedResponseBytes ?? 0) >= IDENTITY_KEY_LENGTH + REGISTRATION_LENGTH);
  });

  test('subscribing without push is refused before anything is sent; signed calls need an identity', async () => {
    const carrier = scripted(() => encodeResponse({ kind: 'subscribe', value: {} }));
    const client = new DeliveryClient({ carrier });
    await assert.rejects(
      client.subscribe({ routingIds: [routingId], mailboxSecrets: [] }),
      (error: unknown) => error instanceof DeliveryError && error.reason === 'push_unavailable',
    );
    await assert.rejects(client.register('alice'), { name: 'ArgumentError' });
    await assert.rejects(client.countKeyPackages('alice', new Uint8Array([1])), { name: 'ArgumentError' });
    assert.equal(carrier.requests.length, 0);
  });
});
