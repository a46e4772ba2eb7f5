// Group commit in the SQLite driver (src/delivery/store/sqlite.ts): writes that arrive together share one
// transaction and one fsync, yet each succeeds or fails on its own, is answered only once committed, and
// emits its events only if it was kept. Observed on a real database file: the write-ahead log's frame count
// (read through a second connection) tells one commit from fifty.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import type { SqlDriver } from '../../../src/delivery/store/driver.ts';
import { openSqliteDriver } from '../../../src/delivery/store/sqlite.ts';
import type { StoreEvent } from '../../../src/delivery/store/types.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-group-commit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

const TABLE = {
  version: 1,
  name: 'notes',
  statements: ['CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)'],
};

async function open(): Promise<{ driver: SqlDriver; path: string }> {
  files += 1;
  const path = join(root, `notes-${files}.sqlite`);
  return { driver: await openSqliteDriver(path, Date.now(), [TABLE]), path };
}

/** Frames in the write-ahead log, as another connection sees them (each commit appends at least one). */
function walFrames(path: string): number {
  const reader = new DatabaseSync(path);
  try {
    const row = reader.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number };
    return row.log;
  } finally {
    reader.close();
  }
}

const event = (seq: number): StoreEvent => ({ type: 'mailbox', mailboxId: new Uint8Array([seq]), seq });

test('fifty writes that arrive together are committed in one transaction, each answered', async () => {
  const { driver, path } = await open();
  try {
    const before = walFrames(path);
    const ids = Array.from({ length: 50 }, (_, index) => index + 1);
    const answers = await Promise.all(
      ids.map((id) =>
        driver.write(async (tx) => tx.execute('INSERT INTO notes (id, text) VALUES ($1, $2)', [id, 'x'])),
      ),
    );
    assert.deepEqual(answers, Array(50).fill(1));
    // One commit of a few pages, where fifty commits would have appended fifty frames or more.
    assert.ok(walFrames(path) - before < 10, `${walFrames(path) - before} frames for one group`);
    const [row] = await driver.read((session) => session.query('SELECT COUNT(*) AS n FROM notes'));
    assert.equal(Number(row?.n), 50);
  } finally {
    await driver.close();
  }
});

test('writes from separate callbacks of one turn of the event loop (requests from many sockets) share a commit', async () => {
  const { driver, path } = await open();
  try {
    const before = walFrames(path);
    const answers = await Promise.all(
      Array.from(
        { length: 20 },
        (_, index) =>
          new Promise<number>((resolve, reject) => {
            setImmediate(() => {
              driver
                .write(async (tx) =>
                  tx.execute('INSERT INTO notes (id, text) VALUES ($1, $2)', [index + 1, 'x']),
                )
                .then(resolve, reject);
            });
          }),
      ),
    );
    assert.deepEqual(answers, Array(20).fill(1));
    assert.ok(walFrames(path) - before < 10, `${walFrames(path) - before} frames for 20 writes of one turn`);
  } finally {
    await driver.close();
  }
});

test('a read or a close called right after a write comes after it', async () => {
  const { driver } = await open();
  const written = driver.write(async (tx) =>
    tx.execute('INSERT INTO notes (id, text) VALUES (1, $1)', ['x']),
  );
  const [row] = await driver.read((session) => session.query('SELECT COUNT(*) AS n FROM notes'));
  assert.equal(Number(row?.n), 1, 'the read sees the write called before it');
  const late = driver.write(async (tx) => tx.execute('INSERT INTO notes (id, text) VALUES (2, $1)', ['y']));
  const closed = driver.close();
  assert.deepEqual(await Promise.all([written, late, closed]), [1, 1, undefined]);
});

test('a write that fails in a group rolls back only itself; only kept writes emit their events', async () => {
  const { driver } = await open();
  const seen: StoreEvent[] = [];
  const unlisten = await driver.listen((received) => seen.push(received));
  try {
    const refused = new Error('refused by the store logic');
    const results = await Promise.allSettled([
      driver.write(async (tx) => {
        await tx.execute('INSERT INTO notes (id, text) VALUES (1, $1)', ['kept']);
        tx.emit(event(1));
        return 'first';
      }),
      driver.write(async (tx) => {
        await tx.execute('INSERT INTO notes (id, text) VALUES (2, $1)', ['undone']);
        tx.emit(event(2));
        throw refused;
      }),
      // A constraint violation (the same key as the first write's) fails only this write too.
      driver.write(async (tx) => tx.execute('INSERT INTO notes (id, text) VALUES (1, $1)', ['clash'])),
      driver.write(async (tx) => {
        await tx.execute('INSERT INTO notes (id, text) VALUES (3, $1)', ['kept too']);
        tx.emit(event(3));
        return 'last';
      }),
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
    );
    assert.equal((results[1] as PromiseRejectedResult).reason, refused);
    assert.deepEqual(
      results.filter((result) => result.status === 'fulfilled').map((result) => result.value),
      ['first', 'last'],
    );
    const rows = await driver.read((session) => session.query('SELECT id, text FROM notes ORDER BY id'));
    assert.deepEqual(
      rows.map((row) => [Number(row.id), row.text]),
      [
        [1, 'kept'],
        [3, 'kept too'],
      ],
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, [event(1), event(3)]);
  } finally {
    await unlisten();
    await driver.close();
  }
});

test('a write that arrives while a group is being committed goes into the next group, after it', async () => {
  const { driver } = await open();
  try {
    const order: string[] = [];
    let second: Promise<unknown> | undefined;
    const first = driver.write(async (tx) => {
      await tx.execute('INSERT INTO notes (id, text) VALUES (1, $1)', ['first']);
      // Arrives mid-group: it must wait for this group's commit and see its row.
      second = driver.write(async (inner) => {
        const [row] = await inner.query('SELECT COUNT(*) AS n FROM notes');
        order.push(`second saw ${Number(row?.n)}`);
      });
      order.push('first ran');
    });
    await first;
    order.push('first answered');
    await second;
    assert.deepEqual(order, ['first ran', 'first answered', 'second saw 1']);
  } finally {
    await driver.close();
  }
});
