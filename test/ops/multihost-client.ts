// The client host of the multi-host test (multihost.test.ts), run inside its own network namespace: two SDK
// users on the mixnet only, as an app would connect them (the gateway's wss:// URL by its TLS name, trusted
// through NODE_EXTRA_CA_CERTS; the directory's URL; the authority's public keys from the file the directory
// operator handed out), sign up, and hold a conversation: alice starts it, bob joins and each reads the
// other's message. One JSON line per step on standard output; exit 0 when the conversation went through.
// Usage: node multihost-client.ts <gateway wss URL> <directory URL> <authority.pub> <data dir>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MixnetCarrier } from '../../src/client/carrier/mixnet.ts';
import { Client } from '../../src/client/client.ts';
import { parseAuthorityPublicKeys } from '../../src/directory/authority-keys.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import { clientOptions, eventually, inbox, joined, texts } from '../client/support.ts';

/** Generous: the whole test machine may be busy; every wait is for an event, this only bounds it. */
const CAP_MS = 90_000;

const [gatewayUrl, directoryUrl, authorityFile, dataDir] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
];
const step = (name: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ step: name, at: Date.now(), ...fields })}\n`);

// The directory's defaults (`umbra directory` without geometry options): X25519, 2000-byte payloads, SURBs.
const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 2000,
  withSurb: true,
  nrHops: 5,
});
const authorityPublicKeys = parseAuthorityPublicKeys(readFileSync(authorityFile, 'utf8'));

async function user(handle: string): Promise<{ client: Client; carrier: MixnetCarrier }> {
  const carrier = await MixnetCarrier.connect({ gatewayUrl, directoryUrl, authorityPublicKeys, geometry });
  const client = await Client.open(
    clientOptions(join(dataDir, handle), [carrier], {
      privacy: 'mixnet',
      pollIntervalMs: 500,
      keyPackages: 1,
    }),
  );
  await client.register(handle);
  step('registered', { handle, privacy: client.privacy.level });
  return { client, carrier };
}

const users: { client: Client; carrier: MixnetCarrier }[] = [];
try {
  const signUps = await Promise.allSettled([user('alice'), user('bob')]);
  for (const signUp of signUps) if (signUp.status === 'fulfilled') users.push(signUp.value);
  for (const signUp of signUps) if (signUp.status === 'rejected') throw signUp.reason;
  const [alice, bob] = users as [(typeof users)[0], (typeof users)[0]];
  const chat = await alice.client.createConversation(['bob']);
  step('created');
  const atBob = await joined(bob.client, chat.id, CAP_MS);
  step('joined', { members: atBob.members.length });
  const bobReads = inbox(atBob);
  const aliceReads = inbox(chat);
  await chat.send({ text: 'hello from the alice host' });
  step('read', { by: 'bob', texts: await texts(bobReads, 1, CAP_MS) });
  await atBob.send({ text: 'hello back across the bridge' });
  await eventually(
    () => (aliceReads.some((m) => m.sender === 'bob') ? true : undefined),
    'bob’s answer',
    CAP_MS,
  );
  step('read', {
    by: 'alice',
    texts: aliceReads.filter((m) => m.sender === 'bob').map((m) => m.content.text),
  });
} catch (error) {
  step('failed', { message: (error as Error).message });
  process.exitCode = 1;
} finally {
  for (const { client, carrier } of users) {
    await client.close();
    await carrier.close();
  }
}
