// The owner's record of its KeyPackages' contact mailboxes (src/client/identity.ts): oldest first, in the
// order they were made (the order the service hands them out, which the refill's "claimed" reckoning relies
// on), read from one record without listing the vault, cursors noted, used ones dropped with their keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import {
  contactMailboxes,
  dropKeyPackage,
  loadKeyPackage,
  newKeyPackage,
  noteKeyPackage,
  OwnIdentity,
  publishedKeyPackage,
} from '../../src/client/identity.ts';
import type { ClientVault } from '../../src/client/storage.ts';
import { Mls } from '../../src/mls/index.ts';
import { decodeContactKeyPackage } from '../../src/protocol/contact.ts';
import { mailboxIdOf } from '../../src/protocol/identity.ts';
import { memoryVault } from '../delivery/support.ts';

test('contact mailboxes: in the order made, from one record, with cursors; a dropped one is gone', async () => {
  const vault = memoryVault();
  let listed = 0;
  const counting: ClientVault = {
    ...vault,
    list: () => {
      listed++;
      return vault.list();
    },
  };
  const mls = new Mls({ authenticationService: { validateCredential: async () => true } });
  const identity = OwnIdentity.create('dana');
  const made = [];
  for (let i = 0; i < 6; i++) made.push(await newKeyPackage(mls, identity, counting, i === 5));
  assert.equal(listed, 1, 'the record is built once, from the vault, when it does not exist yet');
  listed = 0;
  const mailboxes = await contactMailboxes(counting, identity);
  assert.deepEqual(
    mailboxes.map((m) => toHex(m.uploadId)),
    made.map((m) => toHex(m.uploadId)),
    'oldest first, whatever the IDs sort to',
  );
  assert.deepEqual(
    mailboxes.map((m) => m.lastResort),
    [false, false, false, false, false, true],
  );
  assert.equal(listed, 0, 'a read does not list the vault');
  // What a claimer reads from the published package is the mailbox whose secret the owner polls.
  for (const [index, stored] of made.entries()) {
    const published = decodeContactKeyPackage(publishedKeyPackage(identity, stored));
    assert.deepEqual(published.contactMailboxId, mailboxIdOf(mailboxes[index]?.secret ?? new Uint8Array()));
    assert.deepEqual(published.keyPackage, stored.keyPackage);
  }

  await noteKeyPackage(counting, made[1]?.uploadId ?? assert.fail(), { cursor: 7 });
  await noteKeyPackage(counting, made[2]?.uploadId ?? assert.fail(), { claimedSeenAt: 1234 });
  const noted = await contactMailboxes(counting, identity);
  assert.deepEqual(
    noted.map((m) => [m.cursor, m.claimedSeenAt]),
    [
      [0, undefined],
      [7, undefined],
      [0, 1234],
      [0, undefined],
      [0, undefined],
      [0, undefined],
    ],
  );

  await dropKeyPackage(counting, made[0] ?? assert.fail());
  assert.equal(await loadKeyPackage(counting, made[0]?.uploadId ?? assert.fail()), undefined, 'keys gone');
  assert.equal((await contactMailboxes(counting, identity)).length, 5);
  await noteKeyPackage(counting, made[0]?.uploadId ?? assert.fail(), { cursor: 1 });
  assert.equal((await contactMailboxes(counting, identity)).length, 5, 'a dropped one stays dropped');
});
