/**
 * `umbra client` as scripts use it, against a real `umbra up` child process: two terminal users register,
 * one sends, the other's `watch` prints the message once; safety numbers agree on both sides and
 * verification is remembered; a wrong passphrase fails with exit code 1 and bad usage with 2.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startUmbraUp, type UmbraUp } from './umbra-up.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const run = promisify(execFile);

let dataDir: string;
let up: UmbraUp;

function client(user: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(
    process.execPath,
    [CLI, 'client', ...args, '--web', up.url, '--data-dir', join(dataDir, user), '--json'],
    {
      env: { ...process.env, UMBRA_PASSPHRASE: `${user}'s passphrase` },
      timeout: 90_000,
    },
  );
}

function lines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'umbra-client-'));
  up = await startUmbraUp(['--data-dir', join(dataDir, 'up')]);
});

after(async () => {
  assert.equal(await up.interrupt(), 0);
  await rm(dataDir, { recursive: true, force: true });
});

test('terminal users register, send, watch and compare safety numbers', async () => {
  await Promise.all([client('erin', 'register', 'erin'), client('frank', 'register', 'frank')]);
  const watcher: ChildProcess = spawn(
    process.execPath,
    [CLI, 'client', 'watch', '--web', up.url, '--data-dir', join(dataDir, 'frank'), '--json'],
    { env: { ...process.env, UMBRA_PASSPHRASE: "frank's passphrase" }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let watched = '';
  watcher.stdout?.setEncoding('utf8').on('data', (text: string) => {
    watched += text;
  });
  try {
    const sent = lines((await client('erin', 'send', 'frank', 'hello from a script')).stdout);
    assert.equal(sent[0]?.event, 'acknowledged');
    const deadline = Date.now() + 60_000;
    while (!watched.includes('hello from a script') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const messages = lines(watched).filter((line) => line.event === 'message');
    assert.deepEqual(
      messages.map((line) => [line.from, line.text]),
      [['erin', 'hello from a script']],
    );
  } finally {
    const exited = once(watcher, 'exit');
    watcher.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  }

  const [erinSide] = lines((await client('erin', 'safety-number', 'frank', '--verify')).stdout);
  const [frankSide, again] = await Promise.all([
    client('frank', 'safety-number', 'erin').then(({ stdout }) => lines(stdout)[0]),
    client('erin', 'safety-number', 'frank').then(({ stdout }) => lines(stdout)[0]),
  ]);
  assert.match(String(erinSide?.digits), /^\d{60}$/);
  assert.equal(erinSide?.digits, frankSide?.digits);
  assert.equal(erinSide?.verified, true);
  assert.equal(frankSide?.verified, false);
  assert.equal(again?.verified, true, 'verification is remembered in the vault');
});

test('a wrong passphrase fails and bad usage exits 2', async () => {
  await assert.rejects(
    run(
      process.execPath,
      [CLI, 'client', 'conversations', '--web', up.url, '--data-dir', join(dataDir, 'erin')],
      {
        env: { ...process.env, UMBRA_PASSPHRASE: 'not the passphrase' },
      },
    ),
    (error: { code?: number; stderr?: string }) =>
      error.code === 1 && /wrong_passphrase/.test(error.stderr ?? ''),
  );
  await assert.rejects(
    run(process.execPath, [CLI, 'client', 'send', 'frank'], { env: process.env }),
    (error: { code?: number }) => error.code === 2,
  );
});
