/**
 * The `umbra` dispatcher as users run it: a real child process, its output and its exit code.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function umbra(...argv: string[]): {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
} {
  const result = spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('--help lists every command and exits 0', () => {
  const { code, stdout } = umbra('--help');
  assert.equal(code, 0);
  for (const name of ['up', 'demo', 'client', 'directory', 'mix', 'gateway', 'delivery']) {
    assert.match(stdout, new RegExp(`^  ${name} `, 'm'));
  }
});

test('no command prints the usage and exits 2', () => {
  const { code, stdout } = umbra();
  assert.equal(code, 2);
  assert.match(stdout, /usage: umbra <command>/);
});

test('an unknown command is refused with exit code 2', () => {
  const { code, stderr } = umbra('frobnicate');
  assert.equal(code, 2);
  assert.match(stderr, /unknown command "frobnicate"/);
});

test("a role's --help is the role's own option list", () => {
  const { code, stdout } = umbra('directory', '--help');
  assert.equal(code, 0);
  assert.match(stdout, /usage: umbra directory/);
  assert.match(stdout, /--data-dir/);
});

test('a refused configuration exits 2 and names the option', () => {
  const { code, stderr } = umbra('directory', '--no-such-option', '1');
  assert.equal(code, 2);
  assert.match(stderr, /umbra directory: .*--no-such-option/);
});
