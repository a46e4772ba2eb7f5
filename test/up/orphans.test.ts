/**
 * No component outlives `umbra up`: when it is killed with SIGKILL (and so can stop nothing itself), the
 * directory, the mixes, the gateway and the delivery service each notice their parent is gone (their IPC
 * channel closes, src/ops/process.ts) and stop on their own.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { startUmbraUp } from './umbra-up.ts';

test('the child processes of umbra up stop when it is killed with SIGKILL', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-up-orphans-'));
  const up = await startUmbraUp(['--data-dir', dataDir]);
  const children = up.descendants();
  try {
    assert.ok(children.length >= 5, 'the components run as child processes');
    const exited = once(up.process, 'exit');
    up.process.kill('SIGKILL');
    await exited;
    // A generous bound: each child stops gracefully (flushes its data) before it exits.
    for (let waited = 0; up.descendants().length > 0 && waited < 30_000; waited += 100) await sleep(100);
    assert.deepEqual(up.descendants(), [], 'no child process outlives a killed umbra up');
  } finally {
    for (const pid of up.descendants()) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});
