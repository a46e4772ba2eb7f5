// `umbra delivery` as real processes: on SQLite from --data-dir (creating its identifier key, mode 0600, beside
// the data directory and never inside it; the key may come from the environment; a key an earlier umbra left
// inside the data directory is moved out),
// serving clients over WebSocket, /health and /ready (the store answers) on the operator port, a clean stop
// on SIGTERM; refused configurations exit 2; and scale-out: two processes on one PostgreSQL database, where
// a post through one reaches a client subscribed on the other (LISTEN/NOTIFY).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fromHex, toHex } from '../../src/bytes.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { DELIVERY_OPTIONS, IDENTIFIER_KEY_ENV, loadIdentifierKey } from '../../src/delivery/role.ts';
import { ConfigError } from '../../src/errors.ts';
import { loadConfig } from '../../src/ops/config.ts';
import type { DeliveryPush } from '../../src/protocol/api.ts';
import { IdentityKeyPair } from '../../src/protocol/identity.ts';
import { RoleProcess } from '../support/role-process.ts';
import {
  connect,
  hasPostgres,
  id32,
  DELIVERY_MAIN as MAIN,
  postgresBackend,
  startDeliveryProcess as start,
  tag,
} from './support.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-delivery-main-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('umbra delivery (process)', () => {
  test('runs on SQLite from --data-dir, serves clients, reports health and stops cleanly', async () => {
    const dataDir = join(root, 'sqlite');
    const running = await start([
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--ops-port',
      '0',
      '--log-level',
      'debug',
    ]);
    let code: number | null;
    const handle = `dora-${toHex(tag())}`;
    try {
      assert.equal(statSync(`${dataDir}.identifier.key`).mode & 0o777, 0o600);
      assert.ok(!existsSync(join(dataDir, 'identifier.key')), 'a backup of the data directory holds no key');
      assert.ok(statSync(join(dataDir, 'delivery.sqlite')).isFile());
      const opsPort = (await running.process.logged('operator endpoints listening')).fields?.port;
      const health = await fetch(`http://127.0.0.1:${opsPort}/health`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { role: string }).role, 'delivery');
      const ready = await fetch(`http://127.0.0.1:${opsPort}/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, {
        serving: { ok: true },
        store: { ok: true },
      });

      const client = await connect(running.server, IdentityKeyPair.generate());
      try {
        assert.deepEqual(await client.client.register(handle), { ok: true, created: true });
        const routingId = id32();
        const posted = await client.client.postToLog(routingId, {
          kind: 'commit',
          messageId: tag(),
          blob: new Uint8Array(8),
          bucket: 8,
        });
        assert.deepEqual(posted, { ok: true, status: 'stored', seq: 1 });
        assert.equal((await client.client.fetchLog(routingId, 0)).entries.length, 1);
      } finally {
        await client.close();
      }
    } finally {
      code = await running.process.stop();
    }
    assert.equal(code, 0);
    assert.ok(running.process.lines.some((line) => line.msg === 'stopped'));
    assert.ok(!JSON.stringify(running.process.lines).includes(handle), 'the handle is not logged');
  });

  test('the identifier key lives apart from the database: environment, file beside the data directory, legacy moved out', () => {
    const options = (dataDir: string) => loadConfig(DELIVERY_OPTIONS, [`--data-dir=${dataDir}`]);
    const fromEnv = toHex(randomBytes(32));
    const environment = loadIdentifierKey(options(join(root, 'env')), { [IDENTIFIER_KEY_ENV]: fromEnv });
    assert.deepEqual(environment, { key: fromHex(fromEnv), source: 'environment' });
    assert.ok(
      !existsSync(`${join(root, 'env')}.identifier.key`),
      'no key file when the environment holds it',
    );
    assert.throws(
      () => loadIdentifierKey(options(join(root, 'env')), { [IDENTIFIER_KEY_ENV]: 'not hex' }),
      (error: unknown) => error instanceof ConfigError && error.reason === 'invalid_value',
    );

    const legacyDir = join(root, 'legacy');
    mkdirSync(legacyDir, { recursive: true });
    const legacyKey = toHex(randomBytes(32));
    writeFileSync(join(legacyDir, 'identifier.key'), `${legacyKey}\n`, { mode: 0o600 });
    assert.deepEqual(loadIdentifierKey(options(legacyDir), {}), { key: fromHex(legacyKey), source: 'moved' });
    assert.ok(!existsSync(join(legacyDir, 'identifier.key')));
    assert.equal(readFileSync(`${legacyDir}.identifier.key`, 'utf8').trim(), legacyKey);
    assert.deepEqual(loadIdentifierKey(options(legacyDir), {}), { key: fromHex(legacyKey), source: 'file' });
  });

  test('refused configurations exit 2 with the reason', async () => {
    const env = { ...process.env, DATABASE_URL: '' };
    const noStorage = new RoleProcess(MAIN, ['--port', '0'], env);
    assert.equal(await noStorage.exited, 2);
    assert.match(noStorage.stderr, /data-dir/);

    const keyFile = join(root, 'loose.key');
    writeFileSync(keyFile, `${toHex(randomBytes(32))}\n`, { mode: 0o644 });
    const loose = new RoleProcess(
      MAIN,
      ['--data-dir', join(root, 'loose'), '--identifier-key-file', keyFile, '--port', '0'],
      env,
    );
    assert.equal(await loose.exited, 2);
    assert.match(loose.stderr, /readable by others/);

    // An outgoing buffer smaller than one response could never send it.
    const tiny = new RoleProcess(
      MAIN,
      ['--data-dir', join(root, 'tiny'), '--max-buffered-bytes', String(512 * 1024), '--port', '0'],
      env,
    );
    assert.equal(await tiny.exited, 2);
    assert.match(tiny.stderr, /maxBufferedBytes must hold the largest frame/);
  });

  test('scale-out: a post through one PostgreSQL instance reaches a subscriber on another', async (t) => {
    if (!hasPostgres) {
      t.skip('DATABASE_URL not set: PostgreSQL scale-out skipped');
      return;
    }
    const location = postgresBackend.fresh();
    if (!('postgresUrl' in location)) throw new Error('expected PostgreSQL');
    const keyFile = join(root, 'shared.key');
    writeFileSync(keyFile, `${toHex(randomBytes(32))}\n`, { mode: 0o600 });
    const args = [
      '--postgres',
      location.postgresUrl,
      '--postgres-schema',
      location.schema ?? 'umbra_delivery',
      '--identifier-key-file',
      keyFile,
      '--port',
      '0',
    ];
    const first = await start(args);
    const second = await start(args);
    try {
      const watcher = await connect(first.server);
      const poster = await connect(second.server);
      try {
        const routingId = id32();
        await watcher.client.subscribe({ routingIds: [routingId], mailboxSecrets: [] });
        const pushed = new Promise<DeliveryPush>((resolve) => {
          watcher.client.onPush((push) => {
            if (push.type === 'log') resolve(push);
          });
        });
        const blob = randomBytes(32);
        await poster.client.postToLog(routingId, { kind: 'application', messageId: tag(), blob, bucket: 32 });
        assert.deepEqual(await pushed, { type: 'log', routingId, seq: 1, kind: 'application' });
        const page = await watcher.client.fetchLog(routingId, 0);
        assert.deepEqual(page.entries[0]?.blob, blob);
      } finally {
        await Promise.all([watcher.close(), poster.close()]);
      }
    } finally {
      const codes = await Promise.all([first.process.stop(), second.process.stop()]);
      assert.deepEqual(codes, [0, 0]);
    }
  });
});
