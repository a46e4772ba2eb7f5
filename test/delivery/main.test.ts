// `umbra delivery` as real processes: on SQLite from --data-dir (creating its identifier key, mode 0600),
// serving clients over WebSocket, /health on the operator port, a clean stop on SIGTERM; refused
// configurations exit 2; and scale-out: two processes on one PostgreSQL database, where a post through one
// reaches a client subscribed on the other (LISTEN/NOTIFY).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../src/crypto/bytes.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { DeliveryPush } from '../../src/protocol/api.ts';
import { IdentityKeyPair } from '../../src/protocol/identity.ts';
import { connect, hasPostgres, id32, postgresBackend, tag } from './support.ts';

const MAIN = fileURLToPath(new URL('../../src/delivery/main.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'umbra-delivery-main-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface LogLine {
  readonly msg: string;
  readonly fields?: { readonly port?: number };
}

interface Running {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  readonly exited: Promise<unknown[]>;
  logged(msg: string): Promise<LogLine>;
  /** The WebSocket endpoint's stand-in for a DeliveryServerHandle. */
  readonly server: { webSocketUrl: string };
}

function run(args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
}

async function start(args: readonly string[]): Promise<Running> {
  const child = run(args);
  const exited = once(child, 'close');
  const lines: LogLine[] = [];
  const waiting = new Map<string, (line: LogLine) => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    waiting.get(line.msg)?.(line);
  });
  const logged = (msg: string) =>
    new Promise<LogLine>((resolve, reject) => {
      const earlier = lines.find((line) => line.msg === msg);
      if (earlier) resolve(earlier);
      else waiting.set(msg, resolve);
      void exited.then(() => reject(new Error(`exited before logging "${msg}"`)));
    });
  const port = (await logged('delivery service listening')).fields?.port;
  assert.ok(port, 'the port was logged');
  return { child, lines, exited, logged, server: { webSocketUrl: `ws://127.0.0.1:${port}/v1/ws` } };
}

async function stop(running: Running): Promise<number | null> {
  running.child.kill('SIGTERM');
  const [code] = await running.exited;
  return code as number | null;
}

async function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  let text = '';
  for await (const chunk of stream ?? []) text += String(chunk);
  return text;
}

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
      assert.equal(statSync(join(dataDir, 'identifier.key')).mode & 0o777, 0o600);
      assert.ok(statSync(join(dataDir, 'delivery.sqlite')).isFile());
      const opsPort = (await running.logged('operator endpoints listening')).fields?.port;
      const health = await fetch(`http://127.0.0.1:${opsPort}/health`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { role: string }).role, 'delivery');

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
      code = await stop(running);
    }
    assert.equal(code, 0);
    assert.ok(running.lines.some((line) => line.msg === 'stopped'));
    assert.ok(!JSON.stringify(running.lines).includes(handle), 'the handle is not logged');
  });

  test('refused configurations exit 2 with the reason', async () => {
    const env = { ...process.env, DATABASE_URL: '' };
    const noStorage = run(['--port', '0'], env);
    const [stderr, [code]] = await Promise.all([collect(noStorage.stderr), once(noStorage, 'close')]);
    assert.equal(code, 2);
    assert.match(stderr, /data-dir/);

    const keyFile = join(root, 'loose.key');
    writeFileSync(keyFile, `${toHex(randomBytes(32))}\n`, { mode: 0o644 });
    const loose = run(
      ['--data-dir', join(root, 'loose'), '--identifier-key-file', keyFile, '--port', '0'],
      env,
    );
    const [looseErr, [looseCode]] = await Promise.all([collect(loose.stderr), once(loose, 'close')]);
    assert.equal(looseCode, 2);
    assert.match(looseErr, /readable by others/);
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
      const codes = await Promise.all([stop(first), stop(second)]);
      assert.deepEqual(codes, [0, 0]);
    }
  });
});
