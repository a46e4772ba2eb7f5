// The directory's command line as a real process: it starts from flags, logs JSON lines, serves a document
// that verifies under the keys it wrote to its data directory and the geometry its default options derive,
// answers /health on the operator port, and on SIGTERM stops cleanly with exit code 0. A refused
// configuration exits 2 with the reason on standard error; --help prints the options.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAuthorityPublicKeys } from '../../src/directory/authority-keys.ts';
import { fetchNetworkDocument } from '../../src/directory/client.ts';
import { AUTHORITY_PUBLIC_FILE } from '../../src/directory/store.ts';
import { Geometry } from '../../src/sphinx/index.ts';

const MAIN = fileURLToPath(new URL('../../src/directory/main.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'umbra-directory-main-'));
after(() => rmSync(root, { recursive: true, force: true }));

function run(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

interface LogLine {
  readonly msg: string;
  readonly role: string;
  readonly fields?: { readonly port?: number };
}

async function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  let text = '';
  for await (const chunk of stream ?? []) text += String(chunk);
  return text;
}

describe('umbra directory (process)', () => {
  test('starts from flags, serves a verifiable document, and stops cleanly on SIGTERM', async () => {
    const dataDir = join(root, 'data');
    const child = run(['--data-dir', dataDir, '--port=0', '--ops-port', '0', '--dev-mode']);
    // 'close' comes after standard output has ended, so every log line has been read by then.
    const exited = once(child, 'close');
    const lines: LogLine[] = [];
    const waiting = new Map<string, (line: LogLine) => void>();
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      waiting.get(line.msg)?.(line);
    });
    const logged = (msg: string) =>
      new Promise<LogLine>((resolve) => {
        const earlier = lines.find((line) => line.msg === msg);
        if (earlier) resolve(earlier);
        else waiting.set(msg, resolve);
      });
    try {
      const apiPort = (await logged('directory listening')).fields?.port;
      const opsPort = (await logged('operator endpoints listening')).fields?.port;
      assert.ok(apiPort && opsPort, 'both ports were logged');

      const geometry = Geometry.create({
        scheme: 'x25519',
        userForwardPayloadLength: 2000,
        withSurb: true,
        nrHops: 5,
      });
      const authorityKeys = parseAuthorityPublicKeys(
        readFileSync(join(dataDir, AUTHORITY_PUBLIC_FILE), 'utf8'),
      );
      const { document } = await fetchNetworkDocument(`http://127.0.0.1:${apiPort}`, {
        authorityKeys,
        expectedGeometryHash: geometry.hash(),
      });
      assert.deepEqual(document.parameters, {
        epochPeriodMs: 1_200_000,
        layers: 3,
        roundPeriodMs: 500,
        batchSize: 32,
        clientSendRate: 2,
        loopCoverShare: 0.5,
        keyGracePeriodMs: 60_000,
      });
      const health = (await (await fetch(`http://127.0.0.1:${opsPort}/health`)).json()) as { status: string };
      assert.equal(health.status, 'ok');

      child.kill('SIGTERM');
      const [code] = await exited;
      assert.ok(lines.every((line) => line.role === 'directory'));
      assert.equal(code, 0);
      assert.deepEqual(
        lines.slice(-2).map((line) => line.msg),
        ['shutting down', 'stopped'],
      );
      assert.ok(lines.some((line) => line.msg === 'development mode: any identity key may register'));
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a refused configuration exits 2 and says why', async () => {
    const child = run(['--port', '7700']);
    const [stderr, [code]] = await Promise.all([collect(child.stderr), once(child, 'exit')]);
    assert.equal(code, 2);
    assert.match(stderr, /missing_value: dataDir is required/);

    const typo = run(['--data-dir', join(root, 'x'), '--devmode']);
    const [typoErr, [typoCode]] = await Promise.all([collect(typo.stderr), once(typo, 'exit')]);
    assert.equal(typoCode, 2);
    assert.match(typoErr, /unknown_option: --devmode is not an option/);
  });

  test('--help lists the options', async () => {
    const child = run(['--help']);
    const [stdout, [code]] = await Promise.all([collect(child.stdout), once(child, 'exit')]);
    assert.equal(code, 0);
    assert.match(stdout, /--data-dir <string>/);
    assert.match(stdout, /--client-send-rate <number>/);
  });
});
