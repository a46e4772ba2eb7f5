// DeliveryClient's own checks, with a scripted carrier: a response that does not decode or answers another
// request is a CarrierError('protocol'), a refusal becomes DeliveryError(code), subscribing over a carrier
// without push is refused locally, and signed calls need an identity.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CarrierError, DeliveryError } from '../../src/errors.ts';
import type { Carrier } from '../../src/protocol/carrier.ts';
import { DeliveryClient } from '../../src/protocol/client.ts';
import { decodeRequest, encodeErrorResponse, encodeResponse } from '../../src/protocol/messages.ts';

function scripted(answer: (request: Uint8Array) => Uint8Array): Carrier & { requests: Uint8Array[] } {
  const requests: Uint8Array[] = [];
  return {
    kind: 'mixnet',
    requests,
    request: async (request) => {
      requests.push(request);
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
