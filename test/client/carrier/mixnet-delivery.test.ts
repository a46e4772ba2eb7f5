// The delivery protocol over the mixnet carrier: a real DeliveryService (SQLite store) plugged into the
// devnet's exit gateway as the 'delivery' service, and a DeliveryClient whose carrier is the MixnetCarrier —
// the same client the direct carrier serves. Registering a handle, looking it up and a refused second
// registration all cross the three layers and come back over SURBs; the service never sees the client. A
// lookup's answer (a post-quantum identity: about four SURBs' worth) comes back to its first attempt.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeliveryClient } from '../../../src/protocol/client.ts';
import { IdentityKeyPair } from '../../../src/protocol/identity.ts';
import { DeliveryMixnet } from '../mixnet-support.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-carrier-delivery-'));
let mixnet: DeliveryMixnet;

before(async () => {
  mixnet = await DeliveryMixnet.start(root);
});

after(async () => {
  await mixnet?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function client(identity: IdentityKeyPair): Promise<DeliveryClient> {
  const carrier = await mixnet.carrier();
  assert.deepEqual(carrier.status(), { state: 'up' });
  return new DeliveryClient({ carrier, identity });
}

describe('the delivery protocol over the mixnet carrier', () => {
  test('register, look up, and a taken handle refused, all through the mix layers', async () => {
    const alice = IdentityKeyPair.generate();
    const aliceClient = await client(alice);
    assert.deepEqual(await aliceClient.register('alice'), { ok: true, created: true });

    const bobClient = await client(IdentityKeyPair.generate());
    const found = await bobClient.lookup('alice');
    assert.equal(found.ok, true);
    const { tooLargeRetries } = (bobClient.carrier as Awaited<ReturnType<DeliveryMixnet['carrier']>>).stats();
    assert.equal(tooLargeRetries, 0, 'the lookup carried enough SURBs for an identity');
    if (found.ok) assert.deepEqual(found.identityKey.ed25519, alice.publicKey.ed25519);
    assert.deepEqual(await bobClient.register('alice'), { ok: false, error: 'handle_taken' });
  });
});
