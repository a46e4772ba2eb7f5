/**
 * `umbra up --single-process`: every component in one process (for debugging) — it becomes ready, its
 * console controls the components, and SIGINT stops it with exit code 0.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startUmbraUp } from './umbra-up.ts';

test('umbra up --single-process runs every component in one process', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-up-single-'));
  try {
    const up = await startUmbraUp(['--data-dir', dataDir, '--single-process']);
    try {
      assert.match(up.output(), /λ [\d.]+ packets\/s per client · single-process$/m);
      await up.command('status', /^ {2}gateway +ws:\/\/127\.0\.0\.1:\d+\/v1\/client/m);
      await up.command('stop gateway', /gateway stopped/);
      await up.command('status', /^ {2}gateway .*\(stopped\)/m);
      await up.command('start gateway', /gateway started/);
      await up.command('stop nonsense', /unknown component/);
      const config = (await (await fetch(`${up.url}/config.json`)).json()) as { authorityPublicKeys: string };
      assert.ok(config.authorityPublicKeys.length > 0);
    } finally {
      assert.equal(await up.interrupt(), 0);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
