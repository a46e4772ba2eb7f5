// `umbra gateway` as a real process: --help, and refused configurations exit 2 (plain WebSocket off
// loopback, half a TLS pair, an unknown service form); a gateway with a TLS certificate serves wss:// to a
// client (welcome over TLS 1.3), registers with the directory as a gateway, and on SIGTERM tells its
// clients it is closing and exits 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../src/bytes.ts';
import { fetchNetworkDocument } from '../../src/directory/client.ts';
import type { DirectoryHandle } from '../../src/directory/server.ts';
import { TlsIdentity } from '../../src/links/index.ts';
import { NODE_GEOMETRY as geometry, nodeFlags, startNodeDirectory } from '../support/node-directory.ts';
import { RoleProcess } from '../support/role-process.ts';
import { RawClient, until } from './support.ts';

const MAIN = fileURLToPath(new URL('../../src/gateway/main.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'umbra-gateway-main-'));
let directory: DirectoryHandle;

before(async () => {
  directory = await startNodeDirectory(join(root, 'directory'));
});

after(async () => {
  await directory?.close();
  rmSync(root, { recursive: true, force: true });
});

function flags(dataDir: string): string[] {
  return nodeFlags(directory, dataDir);
}

describe('umbra gateway (process)', () => {
  test('--help; refused configurations exit 2 with the reason', async () => {
    const help = new RoleProcess(MAIN, ['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.lines.map((line) => line.msg).join('\n'), /--client-tls-cert/);
    const cases: [string[], RegExp][] = [
      [[...flags(join(root, 'a')), '--client-host=0.0.0.0'], /TLS unless the client listener is on loopback/],
      [
        [...flags(join(root, 'b')), '--client-tls-cert=/nonexistent'],
        /both --client-tls-cert and --client-tls-key/,
      ],
      [[...flags(join(root, 'c')), '--service=delivery'], /delivery needs =<url>/],
      [[...flags(join(root, 'd')), '--inbox-quota=0'], /inbox-quota|inboxQuota/],
    ];
    for (const [args, message] of cases) {
      const run = new RoleProcess(MAIN, args);
      assert.equal(await run.exited, 2, run.stderr);
      assert.match(run.stderr, message);
    }
  });

  test('serves wss:// with its certificate, registers as a gateway, and closes clients on SIGTERM', async () => {
    const identity = TlsIdentity.generate();
    const { cert, key } = identity.tlsCredentials();
    const certFile = join(root, 'client.crt');
    const keyFile = join(root, 'client.key');
    writeFileSync(certFile, cert);
    writeFileSync(keyFile, key, { mode: 0o600 });
    const gateway = new RoleProcess(MAIN, [
      ...flags(join(root, 'tls')),
      `--client-tls-cert=${certFile}`,
      `--client-tls-key=${keyFile}`,
      '--service=echo',
    ]);
    const client = new RawClient(geometry);
    try {
      const ready = await gateway.logged('gateway ready');
      const url = `wss://127.0.0.1:${ready.fields?.clientPort}/v1/client`;
      // The test pins nothing: it checks that TLS 1.3 carries the protocol, not the certificate chain.
      const welcome = await client.connect(url, undefined, { rejectUnauthorized: false });
      const socket = (client.socket as unknown as { _socket: TLSSocket })._socket;
      assert.equal(socket.getProtocol(), 'TLSv1.3');
      assert.equal(toHex(welcome.gatewayId), ready.fields?.nodeId);
      const { document } = await fetchNetworkDocument(directory.url, {
        authorityKeys: directory.publicKeys,
        expectedGeometryHash: geometry.hash(),
      });
      const entry = document.nodes.find((node) => toHex(node.id) === ready.fields?.nodeId);
      assert.equal(entry?.role, 'gateway');
      assert.equal(entry?.address, `127.0.0.1:${ready.fields?.linkPort}`);

      assert.equal(await gateway.stop(), 0);
      await until(() => client.closed, 'the client closed');
      assert.deepEqual(
        client.errors.map((error) => [error.reason, error.fatal]),
        [['closed', true]],
      );
    } finally {
      await client.close();
      await gateway.stop();
    }
  });
});
