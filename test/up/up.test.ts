/**
 * `umbra up` as people run it: one command prints its progress, a status table and the ready line; the
 * page and its configuration are served; a second start over the same data directory reuses the keys and
 * the database; Ctrl-C (SIGINT) stops everything, exits 0 and leaves no child process behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startUmbraUp } from './umbra-up.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

test('umbra up starts, serves the app, restarts on its data, and stops cleanly on SIGINT', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-up-'));
  try {
    const first = await startUmbraUp(['--data-dir', dataDir]);
    try {
      const output = first.output();
      assert.match(output, /authority keys generated/);
      assert.match(output, /identifier key generated/);
      assert.match(output, /first network document signed: epoch \d+/);
      for (const role of ['directory', 'gateway', 'mix layer 1', 'mix layer 2', 'mix layer 3', 'delivery']) {
        assert.match(output, new RegExp(`^  ${role} `, 'm'));
      }
      assert.match(first.url, /^http:\/\/localhost:\d+$/);
      const page = await fetch(first.url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module" src="\/app.js">/);
      const config = (await (await fetch(`${first.url}/config.json`)).json()) as { privacy: string };
      assert.equal(config.privacy, 'mixnet');
      assert.ok(first.descendants().length >= 5, 'the components run as child processes');
    } finally {
      assert.equal(await first.interrupt(), 0);
    }
    assert.match(first.output(), /stopped\n/);
    assert.deepEqual(first.descendants(), [], 'no child process outlives umbra up');

    const second = await startUmbraUp(['--data-dir', dataDir]);
    try {
      assert.match(second.output(), /authority keys reused/);
      assert.match(second.output(), /identifier key reused/);
      assert.match(second.output(), /web app bundle \(cached\)/);
    } finally {
      assert.equal(await second.interrupt(), 0);
    }
    assert.deepEqual(second.descendants(), []);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a port in use is refused at once with exit code 2', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as AddressInfo;
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-up-port-'));
  try {
    const result = spawnSync(process.execPath, [CLI, 'up', '--data-dir', dataDir, '--port', String(port)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, new RegExp(`port: ${port} is in use`));
  } finally {
    blocker.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

if (process.env.DATABASE_URL === undefined) {
  console.log('# skip: DATABASE_URL is not set; umbra up --postgres was not tested');
}

test('umbra up --postgres keeps the delivery data in PostgreSQL', {
  skip: process.env.DATABASE_URL === undefined,
}, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-up-pg-'));
  try {
    const up = await startUmbraUp(['--data-dir', dataDir, '--postgres', process.env.DATABASE_URL as string]);
    try {
      assert.match(up.output(), /delivery service: PostgreSQL/);
      assert.doesNotMatch(up.output(), /postgres:\/\//, 'the URL is never printed');
    } finally {
      assert.equal(await up.interrupt(), 0);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
