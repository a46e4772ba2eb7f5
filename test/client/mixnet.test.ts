// The SDK over the mixnet carrier, fail-closed policy 'mixnet': a devnet (directory, gateway, three mix
// layers, in this process) with the real delivery service behind the exit gateway, and two clients whose
// only carrier is a MixnetCarrier. Registration, KeyPackages, the invitation, both messages and every poll
// cross the mix layers and come back over SURBs; the privacy state is 'full'.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '../../src/client/client.ts';
import { DeliveryMixnet } from './mixnet-support.ts';
import { clientOptions, inbox, joined, removeTempDirs, tempDir, texts } from './support.ts';

let mixnet: DeliveryMixnet;
const clients: Client[] = [];

before(async () => {
  mixnet = await DeliveryMixnet.start(tempDir());
});

after(async () => {
  for (const client of clients) await client.close();
  await mixnet?.stop();
  removeTempDirs();
});

async function mixnetClient(handle: string): Promise<Client> {
  const carrier = await mixnet.carrier();
  const client = await Client.open(
    clientOptions(tempDir(), [carrier], { privacy: 'mixnet', pollIntervalMs: 500, keyPackages: 1 }),
  );
  clients.push(client);
  await client.register(handle);
  return client;
}

test('two clients chat through the mix layers with full privacy', { timeout: 240_000 }, async () => {
  const [alice, bob] = await Promise.all([mixnetClient('alice'), mixnetClient('bob')]);
  assert.equal(alice.privacy.level, 'full');
  const chat = await alice.createConversation(['bob']);
  const bobChat = await joined(bob, chat.id, 120_000);
  assert.equal(bobChat.privacy.level, 'full');
  const atBob = inbox(bobChat);
  const atAlice = inbox(chat);
  await chat.send({ text: 'through the mixnet' });
  assert.deepEqual(await texts(atBob, 1, 120_000), ['through the mixnet']);
  await bobChat.send({ text: 'and back' });
  assert.deepEqual(await texts(atAlice, 1, 120_000), ['and back']);
});
