// The directory's command line as a real process: it starts from flags, logs JSON lines, serves a document
// that verifies under the keys it wrote to its data directory and the geometry its default options derive,
// answers /health on the operator port, and on SIGTERM stops cleanly with exit code 0. A refused
// configuration exits 2 with the reason on standard error; --help prints the options.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAuthorityPublicKeys } from '../../src/directory/authority-keys.ts';
import { fetchNetworkDocument } from '../../src/directory/client.ts';
import { AUTHORITY_PUBLIC_FILE } from '../../src/directory/store.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import { RoleProcess } from '../support/role-process.ts';

const MAIN = fileURLToPath(new URL('../../src/directory/main.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'umbra-directory-main-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('umbra directory (process)', () => {
  test('starts from flags, serves a verifiable document, and stops cleanly on SIGTERM', async () => {
    const dataDir = join(root, 'data');
    const child = new RoleProcess(MAIN, ['--data-dir', dataDir, '--port=0', '--ops-port', '0', '--dev-mode']);
    try {
      const apiPort = (await child.logged('directory listening')).fields?.port;
      const opsPort = (await child.logged('operator endpoints listening')).fields?.port;
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

      const code = await child.stop();
      assert.ok(child.lines.every((line) => line.role === 'directory'));
      assert.equal(code, 0);
      assert.deepEqual(
        child.lines.slice(-2).map((line) => line.msg),
        ['shutting down', 'stopped'],
      );
      assert.ok(child.lines.some((line) => line.msg === 'development mode: any identity key may register'));
    } finally {
      child.child.kill('SIGKILL');
    }
  });

  test('a refused configuration exits 2 and says why', async () => {
    const child = new RoleProcess(MAIN, ['--port', '7700']);
    assert.equal(await child.exited, 2);
    assert.match(child.stderr, /missing_value: dataDir is required/);

    const typo = new RoleProcess(MAIN, ['--data-dir', join(root, 'x'), '--devmode']);
    assert.equal(await typo.exited, 2);
    assert.match(typo.stderr, /unknown_option: --devmode is not an option/);
  });

  test('--help lists the options', async () => {
    const child = new RoleProcess(MAIN, ['--help']);
    assert.equal(await child.exited, 0);
    const stdout = child.lines.map((line) => line.msg).join('\n');
    assert.match(stdout, /--data-dir <string>/);
    assert.match(stdout, /--client-send-rate <number>/);
  });
});
