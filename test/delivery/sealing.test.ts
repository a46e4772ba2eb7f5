// The at-rest sealing of what the delivery service keeps about a handle (src/delivery/sealing.ts): a value
// opens only under the key of the same handle and service, with the same label and context; and fetchMailboxes
// reads several mailboxes in one request within its item and byte budgets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cryptoBackend, utf8 } from '../../src/crypto/index.ts';
import { AtRestSealer } from '../../src/delivery/sealing.ts';
import { MAX_FETCH_BYTES } from '../../src/delivery/service.ts';
import { AuthenticationError } from '../../src/errors.ts';
import { mailboxIdOf } from '../../src/protocol/identity.ts';
import { connect, id32, sqliteBackend, startServer, tag } from './support.ts';

test('a sealed value opens only with its handle, service key, label and context', () => {
  const sealer = new AtRestSealer(new Uint8Array(32).fill(1), cryptoBackend);
  const other = new AtRestSealer(new Uint8Array(32).fill(2), cryptoBackend);
  const key = sealer.handleKey('alice');
  const value = utf8('a registration');
  const sealed = sealer.seal(key, 'registration', value, Uint8Array.of(1));
  assert.deepEqual(sealer.open(key, 'registration', sealed, Uint8Array.of(1)), value);
  assert.notDeepEqual(sealer.seal(key, 'registration', value, Uint8Array.of(1)), sealed, 'fresh nonces');
  for (const attempt of [
    () => sealer.open(sealer.handleKey('bob'), 'registration', sealed, Uint8Array.of(1)),
    () => other.open(other.handleKey('alice'), 'registration', sealed, Uint8Array.of(1)),
    () => sealer.open(key, 'keyPackage', sealed, Uint8Array.of(1)),
    () => sealer.open(key, 'registration', sealed, Uint8Array.of(2)),
    () => sealer.open(key, 'registration', sealed.subarray(0, 10)),
    () => sealer.open(key, 'registration', value),
  ]) {
    assert.throws(attempt, AuthenticationError);
  }
  // Tags compare without revealing: equal for equal values under one handle, different across handles.
  assert.deepEqual(sealer.tag(key, 'identityKey', value), sealer.tag(key, 'identityKey', value));
  assert.notDeepEqual(
    sealer.tag(key, 'identityKey', value),
    sealer.tag(sealer.handleKey('bob'), 'identityKey', value),
  );
});

test('fetchMailboxes answers every mailbox in order, within the item limit and the byte budget', async (t) => {
  const running = await startServer(sqliteBackend.fresh(), { tokens: false });
  t.after(() => running.close());
  const { client, close } = await connect(running.server);
  t.after(close);
  const secrets = [id32(), id32(), id32()];
  const post = (secret: Uint8Array, bytes: number) =>
    client.postToMailbox(mailboxIdOf(secret), {
      messageId: tag(),
      blob: new Uint8Array(bytes),
      bucket: bytes,
    });
  await post(secrets[0] as Uint8Array, 10);
  await post(secrets[0] as Uint8Array, 10);
  await post(secrets[2] as Uint8Array, 10);
  const cursors = secrets.map((mailboxSecret) => ({ mailboxSecret, afterSeq: 0 }));
  const pages = await client.fetchMailboxes(cursors);
  assert.deepEqual(
    pages.map((page) => page.map((item) => item.seq)),
    [[1, 2], [], [1]],
  );
  // From the cursors read: nothing new.
  const again = await client.fetchMailboxes(
    cursors.map((cursor, i) => ({ ...cursor, afterSeq: i === 1 ? 0 : 2 })),
  );
  assert.deepEqual(
    again.map((page) => page.length),
    [0, 0, 0],
  );
  // At most `limit` items in all, the first mailboxes first.
  assert.deepEqual(
    (await client.fetchMailboxes(cursors, 2)).map((page) => page.length),
    [2, 0, 0],
  );
  // Beyond one blob's worth of bytes the rest waits for the next read (at least one item always comes).
  const big = Math.floor(MAX_FETCH_BYTES / 2) + 1;
  const full = [id32(), id32()];
  for (const secret of full) assert.ok((await post(secret, big)).ok);
  const budget = await client.fetchMailboxes(full.map((mailboxSecret) => ({ mailboxSecret, afterSeq: 0 })));
  assert.deepEqual(
    budget.map((page) => page.length),
    [1, 0],
  );
});
