/**
 * `umbra demo` as a newcomer runs it: with no arguments it starts its own local network, two scripted users
 * converse through it, it prints each message's delivery states and the privacy state, and exits 0 leaving
 * no process behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

test('umbra demo: two scripted users converse over the mixnet and it exits 0', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'demo', '--messages', '1'], {
    timeout: 240_000,
  });
  assert.match(stdout, /umbra is ready at http:\/\/localhost:\d+/);
  assert.match(stdout, /registered in .*🟢 Full privacy/);
  assert.match(stdout, /joined from the Welcome/);
  assert.match(stdout, /delivery states: .*acknowledged/);
  assert.match(stdout, /read ".*" [\d.]+ s after it was sent/);
  assert.match(stdout, /done: 2 of 2 messages delivered; 🟢 Full privacy/);
});
