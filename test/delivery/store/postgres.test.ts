// The delivery store compliance suite on PostgreSQL, when DATABASE_URL names a server (CI sets it when one
// answers); otherwise one visible skip. Each test gets its own schema, named after this run so that
// parallel runs never meet, and all of them are dropped at the end. Beyond the shared suite: a post made
// by another process reaches this one's subscriber through LISTEN/NOTIFY, and a dropped listener
// connection comes back and says `resync`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { toHex } from '../../../src/bytes.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import { openStore } from '../../../src/delivery/store/index.ts';
import { openPostgresDriver, POSTGRES_MIGRATIONS } from '../../../src/delivery/store/postgres.ts';
import { dropRunSchemas } from '../support.ts';
import { describeDeliveryStore, recordEvents } from './compliance.ts';

const databaseUrl = process.env.DATABASE_URL;

if (databaseUrl === undefined || databaseUrl === '') {
  test('PostgreSQL delivery store', (t) => {
    t.skip('DATABASE_URL not set: PostgreSQL compliance suite skipped');
  });
} else {
  const postgresUrl = databaseUrl;
  const run = `umbra_test_${toHex(randomBytes(4))}`;
  let schemas = 0;
  const freshLocation = () => {
    schemas += 1;
    return { postgresUrl, schema: `${run}_${schemas}`, poolSize: 2 };
  };

  after(() => dropRunSchemas(postgresUrl, run));

  describeDeliveryStore({
    name: 'PostgreSQL',
    freshLocation,
    migrations: POSTGRES_MIGRATIONS,
    openDriver: (location, now, migrations) => {
      if (!('postgresUrl' in location)) throw new Error('expected a PostgreSQL location');
      return openPostgresDriver(location, now, migrations);
    },
  });

  describe('PostgreSQL: scale-out', () => {
    test('a post made by another process reaches a subscriber here', async (t) => {
      const location = freshLocation();
      const store = await openStore(location);
      t.after(() => store.close());
      const routingId = randomBytes(32);
      const events = await recordEvents(store);

      const { stdout } = await promisify(execFile)(process.execPath, [
        new URL('./post-child.ts', import.meta.url).pathname,
        JSON.stringify(location),
        toHex(routingId),
      ]);
      assert.deepEqual(JSON.parse(stdout), { ok: true, status: 'stored', seq: 1 });
      assert.deepEqual(await events.next(), { type: 'log', routingId, seq: 1, kind: 'application' });
    });

    test('a dropped listener connection reconnects, reports resync, and delivers later posts', async (t) => {
      const location = freshLocation();
      const watcher = await openStore(location);
      const poster = await openStore(location);
      t.after(() => Promise.all([watcher.close(), poster.close()]));
      const events = await recordEvents(watcher);

      const admin = new pg.Client({ connectionString: postgresUrl });
      await admin.connect();
      try {
        const { rowCount } = await admin.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()',
          [`LISTEN "umbra_delivery_${location.schema}"`],
        );
        assert.equal(rowCount, 1);
      } finally {
        await admin.end();
      }
      assert.deepEqual(await events.next(), { type: 'resync' });

      const mailboxId = randomBytes(32);
      await poster.postToMailbox(mailboxId, { messageId: randomBytes(16), blob: randomBytes(8), bucket: 0 });
      assert.deepEqual(await events.next(), { type: 'mailbox', mailboxId, seq: 1 });
    });
  });
}
