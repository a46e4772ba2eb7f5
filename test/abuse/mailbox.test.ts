// Issue 12, abuses 2 and 4, on both stores: a claim no longer hands out a lasting mailbox of the handle
// (each KeyPackage names a contact mailbox of its own, and upload IDs are KeyPackageRef prefixes), and a copy of
// the database — the SQLite file and its WAL taken while the service runs, or every PostgreSQL table — holds no
// handle, identity key, mailbox ID, mailbox secret or routing ID of a real SDK scenario (two users, an
// invitation, messages both ways).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { toBase64Url, toHex, utf8 } from '../../src/bytes.ts';
import { Client } from '../../src/client/client.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { Carrier } from '../../src/protocol/carrier.ts';
import { DeliveryClient } from '../../src/protocol/client.ts';
import { decodeContactKeyPackage } from '../../src/protocol/contact.ts';
import { IdentityKeyPair, mailboxIdOf, registrationIdentityKey } from '../../src/protocol/identity.ts';
import { decodeRequest } from '../../src/protocol/messages.ts';
import {
  clientOptions,
  directCarrier,
  inbox,
  joined,
  removeTempDirs,
  tempDir,
  texts,
  user,
} from '../client/support.ts';
import { connect, describeOnBackends, dumpDatabase, startServer } from '../delivery/support.ts';

after(removeTempDirs);

/** Every identifier and secret the clients sent, read off their requests. */
interface Sent {
  readonly handles: Set<string>;
  readonly ids: Uint8Array[];
}

/** Passes requests through to `inner`, noting what they name. */
function recording(inner: Carrier, sent: Sent): Carrier {
  const note = (bytes: Uint8Array) => {
    const request = decodeRequest(bytes);
    switch (request.kind) {
      case 'register': {
        sent.handles.add(request.value.handle);
        const key = registrationIdentityKey(request.value.registration);
        sent.ids.push(key.ed25519, key.mldsa65.subarray(0, 64));
        return;
      }
      case 'postToLog':
        sent.ids.push(request.value.routingId);
        return;
      case 'postToMailbox':
        sent.ids.push(request.value.mailboxId);
        return;
      case 'fetchMailboxes':
        for (const { mailboxSecret } of request.value.mailboxes) {
          sent.ids.push(mailboxSecret, mailboxIdOf(mailboxSecret));
        }
        return;
      default:
        return;
    }
  };
  return {
    kind: inner.kind,
    request(bytes, options) {
      note(bytes);
      return inner.request(bytes, options);
    },
    status: () => inner.status(),
    onStatus: (listener) => inner.onStatus(listener),
    ...(inner.onPush === undefined ? {} : { onPush: (listener) => inner.onPush?.(listener) ?? (() => {}) }),
    close: () => inner.close(),
  };
}

function assertAbsent(dump: string, sent: Sent): void {
  const lower = dump.toLowerCase();
  for (const handle of sent.handles) {
    assert.ok(!dump.includes(handle), `the handle ${handle} is in the database`);
    assert.ok(!lower.includes(toHex(utf8(handle))), `the handle ${handle} (hex) is in the database`);
  }
  for (const id of sent.ids) {
    assert.ok(!dump.includes(Buffer.from(id).toString('latin1')), 'a raw identifier is in the database');
    for (const form of [
      toHex(id),
      toBase64Url(id).toLowerCase(),
      Buffer.from(id).toString('base64').toLowerCase(),
    ]) {
      assert.ok(!lower.includes(form), 'an identifier (as text) is in the database');
    }
  }
}

describeOnBackends('abuse: the mailbox leak and identifiers at rest', (backend) => {
  test('a claim hands out one contact mailbox per KeyPackage, never a lasting address', async (t) => {
    const running = await startServer(backend.fresh());
    t.after(() => running.close());
    const bob = await user(running.server, `bob-${toHex(randomBytes(4))}`);
    t.after(() => bob.close());
    // The stranger is registered: claims and posts cost it tokens from its own daily budget.
    const strangerHandle = `stranger-${toHex(randomBytes(4))}`;
    const stranger = await connect(running.server, IdentityKeyPair.generate(), {}, strangerHandle);
    t.after(() => stranger.close());
    assert.ok((await stranger.client.register(strangerHandle)).ok);

    const contacts: Uint8Array[] = [];
    for (let claim = 0; claim < 3; claim++) {
      const result = await stranger.client.claimKeyPackages(bob.name);
      assert.ok(result.ok);
      for (const item of result.packages) {
        const { contactMailboxId, keyPackage } = decodeContactKeyPackage(item.data);
        contacts.push(contactMailboxId);
        // The upload ID is a KeyPackageRef prefix: it names no mailbox.
        assert.equal(item.id.length, 32);
        assert.notDeepEqual(item.id, contactMailboxId);
        assert.ok(keyPackage.length > 100, 'the MLS KeyPackage itself is carried');
      }
    }
    assert.equal(new Set(contacts.map(toHex)).size, contacts.length, 'every claim names another mailbox');

    // Junk posted to the addresses a stranger learnt reaches none of bob's other KeyPackages: alice, who claims
    // afresh, still gets her invitation through.
    for (const contact of contacts) {
      await stranger.client.postToMailbox(contact, {
        messageId: randomBytes(8),
        blob: randomBytes(64),
        bucket: 64,
      });
    }
    const alice = await user(running.server, `alice-${toHex(randomBytes(4))}`);
    t.after(() => alice.close());
    const chat = await alice.client.createConversation([bob.name]);
    const bobChat = await joined(bob.client, chat.id);
    const atBob = inbox(bobChat);
    await chat.send({ text: 'through the contact mailbox' });
    assert.deepEqual(await texts(atBob, 1), ['through the contact mailbox']);
  });

  test('a copy of the database (WAL included) names no handle, key or mailbox of a real scenario', async (t) => {
    const location = backend.fresh();
    const running = await startServer(location);
    t.after(() => running.close());
    const sent: Sent = { handles: new Set(), ids: [] };
    const open = async (name: string) => {
      const carrier = recording(await directCarrier(running.server), sent);
      const client = await Client.open(clientOptions(tempDir(), [carrier]));
      t.after(async () => {
        await client.close();
        await carrier.close();
      });
      await client.register(name);
      return client;
    };
    const alice = await open(`alice-${toHex(randomBytes(4))}`);
    const bob = await open(`bob-${toHex(randomBytes(4))}`);
    const chat = await alice.createConversation([bob.handle as string]);
    const bobChat = await joined(bob, chat.id);
    const atAlice = inbox(chat);
    await bobChat.send({ text: 'hello from bob' });
    assert.deepEqual(await texts(atAlice, 1), ['hello from bob']);
    assert.ok(sent.ids.length >= 6, 'the scenario sent identifiers to look for');
    assert.equal(sent.handles.size, 2);

    // A lookup through a fresh client still works: the service opens what it sealed.
    const lookup = new DeliveryClient({ carrier: await directCarrier(running.server) });
    t.after(() => lookup.carrier.close());
    assert.ok((await lookup.lookup(bob.handle as string)).ok);

    assertAbsent(await dumpDatabase(location), sent);
  });
});
