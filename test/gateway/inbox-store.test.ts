// The gateway's inbox store on a real SQLite file: only opened inboxes take items, sequence numbers grow,
// items come back in order after a reopen (a restart), acks delete, the quota refuses with
// GatewayError('inbox_full') and the refusals are reported once to the owner, items expire after their TTL
// and idle inboxes go with their items.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { ArgumentError, GatewayError } from '../../src/errors.ts';
import { InboxStore } from '../../src/gateway/inbox-store.ts';
import type { InboxContent } from '../../src/protocol/gateway-protocol.ts';
import { temporaryDirectory } from './support.ts';

function message(size = 16): InboxContent {
  return { kind: 'message', value: { payload: randomBytes(size) } };
}

describe('InboxStore', () => {
  test('stores for opened inboxes only, in sequence, and keeps everything across a reopen', async () => {
    await using dir = await temporaryDirectory();
    const path = join(dir.path, 'inboxes.sqlite');
    const inbox = randomBytes(32);
    const store = InboxStore.open(path);
    assert.equal(store.put(inbox, message()), undefined, 'nobody opened it');
    assert.deepEqual(store.open(inbox), { pending: 0, dropped: 0 });
    const first = store.put(inbox, message());
    const reply: InboxContent = {
      kind: 'reply',
      value: { surbId: randomBytes(16), payload: randomBytes(40) },
    };
    const second = store.put(inbox, reply);
    assert.equal(first?.sequence, 1n);
    assert.equal(second?.sequence, 2n);
    store.close();
    assert.throws(
      () => store.items(inbox),
      (error: unknown) => error instanceof GatewayError && error.reason === 'closed',
    );

    const reopened = InboxStore.open(path);
    assert.deepEqual(reopened.open(inbox), { pending: 2, dropped: 0 });
    const items = reopened.items(inbox);
    assert.deepEqual(
      items.map((item) => item.sequence),
      [1n, 2n],
    );
    assert.deepEqual(items[0]?.content, first?.content);
    assert.deepEqual(items[1]?.content, reply);
    assert.deepEqual(reopened.items(inbox, 1n), [items[1]]);
    assert.equal(reopened.ack(inbox, [1n, 7n, 0n, 2n ** 64n - 1n]), 1, 'impossible numbers are ignored');
    assert.deepEqual(
      reopened.items(inbox).map((item) => item.sequence),
      [2n],
    );
    // Sequence numbers never go back, even after deletions.
    assert.equal(reopened.put(inbox, message())?.sequence, 3n);
    assert.throws(() => reopened.put(randomBytes(31), message()), ArgumentError);
    reopened.close();
  });

  test('the quota refuses with inbox_full and the owner learns how many were refused', async () => {
    await using dir = await temporaryDirectory();
    const store = InboxStore.open(join(dir.path, 'inboxes.sqlite'), { quota: 2 });
    const inbox = randomBytes(32);
    store.open(inbox);
    store.put(inbox, message());
    store.put(inbox, message());
    for (let i = 0; i < 3; i++) {
      assert.throws(
        () => store.put(inbox, message()),
        (error: unknown) => error instanceof GatewayError && error.reason === 'inbox_full',
      );
    }
    assert.deepEqual(store.open(inbox), { pending: 2, dropped: 3 });
    assert.deepEqual(store.open(inbox), { pending: 2, dropped: 0 }, 'reported once');
    store.ack(inbox, [1n]);
    assert.equal(store.put(inbox, message())?.sequence, 3n, 'room again after an ack');
    store.close();
  });

  test('putMany stores a batch in one transaction and says why each refused item was refused', async () => {
    await using dir = await temporaryDirectory();
    const store = InboxStore.open(join(dir.path, 'inboxes.sqlite'), { quota: 2 });
    const [a, b, nobody] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    store.open(a);
    store.open(b);
    const results = store.putMany([
      { inbox: a, content: message() },
      { inbox: nobody, content: message() },
      { inbox: a, content: message() },
      { inbox: a, content: message() },
      { inbox: b, content: message() },
    ]);
    assert.deepEqual(
      results.map((result) => (typeof result === 'string' ? result : result.sequence)),
      [1n, 'unknown_inbox', 2n, 'inbox_full', 1n],
    );
    assert.deepEqual(store.open(a), { pending: 2, dropped: 1 });
    assert.deepEqual(store.putMany([]), []);
    store.close();
  });

  test('items expire after their TTL; idle inboxes go with their items', async () => {
    await using dir = await temporaryDirectory();
    let now = 1_000_000;
    const store = InboxStore.open(join(dir.path, 'inboxes.sqlite'), {
      ttlMs: 1_000,
      idleMs: 10_000,
      now: () => now,
    });
    const [active, idle] = [randomBytes(32), randomBytes(32)];
    store.open(active);
    store.open(idle);
    store.put(active, message());
    store.put(idle, message());
    now += 500;
    store.put(active, message());
    now += 600;
    assert.equal(store.expire(), 2, 'the two items older than the TTL');
    assert.deepEqual(
      store.items(active).map((item) => item.sequence),
      [2n],
    );
    now += 9_000;
    store.open(active);
    now += 1_500;
    store.put(idle, message());
    assert.equal(store.items(idle).length, 1);
    assert.equal(store.expire(), 2, 'the idle inbox’s item and the active one past its TTL');
    assert.equal(store.put(idle, message()), undefined, 'the idle inbox is gone');
    assert.deepEqual(store.open(active), { pending: 0, dropped: 0 });
    store.close();
  });
});
