// The delivery protocol over the mixnet carrier: a real DeliveryService (SQLite store) plugged into the
// devnet's exit gateway as the 'delivery' service, and a DeliveryClient whose carrier is the MixnetCarrier —
// the same client the direct carrier serves. Registering a handle, looking it up and a refused second
// registration all cross the three layers and come back over SURBs; the service never sees the client.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MixnetCarrier } from '../../../src/client/carrier/mixnet.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { DeliveryService } from '../../../src/delivery/service.ts';
import { type DeliveryStore, openStore } from '../../../src/delivery/store/index.ts';
import { type Devnet, startDevnet } from '../../../src/devnet/index.ts';
import { DeliveryClient } from '../../../src/protocol/client.ts';
import { IdentityKeyPair } from '../../../src/protocol/identity.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-carrier-delivery-'));
let store: DeliveryStore;
let service: DeliveryService;
let net: Devnet;
const carriers: MixnetCarrier[] = [];

before(async () => {
  store = await openStore({ sqlitePath: join(root, 'delivery', 'delivery.sqlite') });
  service = await DeliveryService.start({ store, identifierKey: randomBytes(32), purgeIntervalMs: 0 });
  net = await startDevnet({
    dataDir: join(root, 'devnet'),
    mode: 'single-process',
    serviceHandlers: { delivery: service.handler },
    roundPeriodMs: 50,
    clientSendRate: 20,
  });
});

after(async () => {
  for (const carrier of carriers) await carrier.close();
  await net?.stop();
  await service?.close();
  await store?.close();
  rmSync(root, { recursive: true, force: true });
});

async function client(identity: IdentityKeyPair): Promise<DeliveryClient> {
  const gateway = net.gateways[0];
  assert.ok(gateway?.clientUrl);
  const carrier = await MixnetCarrier.connect({
    gatewayUrl: gateway.clientUrl,
    geometry: net.geometry,
    directoryUrl: net.directoryUrl,
    authorityPublicKeys: net.authorityKeys,
  });
  carriers.push(carrier);
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
    if (found.ok) assert.deepEqual(found.identityKey.ed25519, alice.publicKey.ed25519);
    assert.deepEqual(await bobClient.register('alice'), { ok: false, error: 'handle_taken' });
  });
});
