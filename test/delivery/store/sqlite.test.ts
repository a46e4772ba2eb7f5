// The delivery store compliance suite on the embedded SQLite store: a fresh database file per test in a
// temporary directory, and races between worker threads that each hold their own connection to the file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openSqliteDriver, SQLITE_MIGRATIONS } from '../../../src/delivery/store/sqlite.ts';
import { describeDeliveryStore } from './compliance.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-store-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

describeDeliveryStore({
  name: 'SQLite',
  freshLocation: () => {
    files += 1;
    return { sqlitePath: join(root, `data-${files}`, 'delivery.sqlite') };
  },
  migrations: SQLITE_MIGRATIONS,
  openDriver: (location, now, migrations) => {
    if (!('sqlitePath' in location)) throw new Error('expected a SQLite location');
    return openSqliteDriver(location.sqlitePath, now, migrations);
  },
});
