// The directory as a server over real HTTP with fetch: two allow-listed nodes register through the client,
// the document fetched back verifies and lists them; refusals arrive as DirectoryError with the authority's
// reason (not allowed, bad signature, too large, wrong epoch, unknown epoch); the operator endpoints report
// the registrations; a restart from the same data directory keeps the authority keys and the nodes; the key
// file is 0600 and a readable one is refused.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { type AuthorityPublicKeys, parseAuthorityPublicKeys } from '../../src/directory/authority-keys.ts';
import {
  fetchNetworkDocument,
  fetchSignedNetworkDocument,
  registerDescriptor,
} from '../../src/directory/client.ts';
import { nodeId } from '../../src/directory/document.ts';
import { type DirectoryConfig, startDirectory } from '../../src/directory/server.ts';
import { AUTHORITY_KEY_FILE, AUTHORITY_PUBLIC_FILE } from '../../src/directory/store.ts';
import { ConfigError, DirectoryError, type DirectoryErrorReason } from '../../src/errors.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { EPOCH_PERIOD_MS, geometry, parameters, TestClock, TestNode } from './support.ts';

const root = mkdtempSync(join(tmpdir(), 'umbra-directory-'));
after(() => rmSync(root, { recursive: true, force: true }));

function refused(reason: DirectoryErrorReason) {
  return (error: unknown) => {
    assert.ok(error instanceof DirectoryError, `expected DirectoryError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    return true;
  };
}

describe('directory server', () => {
  const clock = new TestClock();
  const gateway = new TestNode('gateway', 0);
  const mix = new TestNode('mix', 1);
  const stranger = new TestNode('mix', 2);
  const logLines: string[] = [];
  /** Each test its own data directory, so that none depends on another having run. */
  const configFor = (name: string): DirectoryConfig => ({
    dataDir: join(root, name),
    devMode: false,
    allow: [toHex(gateway.identity.publicKey), toHex(mix.identity.publicKey).toUpperCase()],
    epochPeriodMs: EPOCH_PERIOD_MS,
    geometry,
    parameters,
    ops: { port: 0 },
    now: clock.read,
    logger: createLogger({ role: 'directory', level: 'debug', sink: (line) => logLines.push(line) }),
  });
  const verifyOptions = (publicKeys: AuthorityPublicKeys) => ({
    authorityKeys: publicKeys,
    expectedGeometryHash: geometry.hash(),
    now: clock.now,
    backend: nodeBackend,
  });

  test('registers two nodes over HTTP and serves a document that verifies', async () => {
    const config = configFor('serve');
    const directory = await startDirectory(config);
    try {
      const receipt = await registerDescriptor(directory.url, gateway.signed(1000));
      assert.deepEqual(receipt, { id: toHex(nodeId(gateway.identity.publicKey)), epoch: 1000 });
      await registerDescriptor(`${directory.url}/`, mix.signed(1000));
      await registerDescriptor(directory.url, mix.signed(1001));

      const { document, bytes } = await fetchNetworkDocument(
        directory.url,
        verifyOptions(directory.publicKeys),
      );
      assert.equal(document.epoch, 1000);
      assert.deepEqual(document.nodes.map((node) => node.role).sort(), ['gateway', 'mix']);
      assert.deepEqual(await fetchSignedNetworkDocument(directory.url, 1000), bytes);
      const next = await fetchNetworkDocument(directory.url, {
        ...verifyOptions(directory.publicKeys),
        epoch: 1001,
        now: clock.now + EPOCH_PERIOD_MS,
      });
      assert.equal(next.document.nodes.length, 1);

      const authority = (await (await fetch(`${directory.url}/v1/authority`)).json()) as {
        publicKeys: string;
      };
      assert.deepEqual(parseAuthorityPublicKeys(authority.publicKeys), directory.publicKeys);
      const pub = readFileSync(join(config.dataDir, AUTHORITY_PUBLIC_FILE), 'utf8');
      assert.deepEqual(parseAuthorityPublicKeys(pub), directory.publicKeys);
    } finally {
      await directory.close();
    }
  });

  test('refusals come back as DirectoryError with the authority’s reason', async () => {
    const directory = await startDirectory(configFor('refusals'));
    try {
      await assert.rejects(registerDescriptor(directory.url, stranger.signed(1000)), refused('not_allowed'));
      const tampered = gateway.signed(1000);
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
      await assert.rejects(registerDescriptor(directory.url, tampered), refused('bad_signature'));
      await assert.rejects(registerDescriptor(directory.url, gateway.signed(1005)), refused('wrong_epoch'));
      await assert.rejects(registerDescriptor(directory.url, new Uint8Array(20_000)), refused('too_large'));
      await assert.rejects(
        registerDescriptor(directory.url, new Uint8Array([0xff])),
        refused('invalid_descriptor'),
      );
      await assert.rejects(fetchSignedNetworkDocument(directory.url, 5), refused('not_found'));
      await assert.rejects(
        fetchNetworkDocument(directory.url, {
          ...verifyOptions(directory.publicKeys),
          expectedGeometryHash: new Uint8Array(32),
        }),
        refused('wrong_geometry'),
      );
      assert.equal((await fetch(`${directory.url}/v1/document/abc`)).status, 404);
      assert.equal((await fetch(`${directory.url}/nothing`)).status, 404);
      const wrongMethod = await fetch(`${directory.url}/v1/register`);
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get('allow'), 'POST');
    } finally {
      await directory.close();
    }
    await assert.rejects(
      registerDescriptor(directory.url, gateway.signed(1000), { timeoutMs: 2_000 }),
      refused('unavailable'),
    );
  });

  test('the operator endpoints report health and registrations', async () => {
    const directory = await startDirectory(configFor('ops'));
    try {
      await registerDescriptor(directory.url, mix.signed(1000));
      await assert.rejects(registerDescriptor(directory.url, stranger.signed(1000)), refused('not_allowed'));
      const ops = directory.ops;
      assert.ok(ops);
      const health = await (await fetch(`${ops.url}/health`)).json();
      assert.equal((health as { status: string }).status, 'ok');
      assert.equal((health as { role: string }).role, 'directory');
      assert.equal((health as { epoch: number }).epoch, 1000);
      const ready = await fetch(`${ops.url}/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, {
        document: { ok: true },
        store: { ok: true },
      });
      const metrics = await (await fetch(`${ops.url}/metrics`)).text();
      assert.match(metrics, /^umbra_directory_registrations_total\{outcome="not_allowed"\} 1$/m);
      assert.match(
        metrics,
        /^umbra_directory_nodes\{role="mix"\} 1$/m,
        'the node registered before the restart',
      );
      assert.match(metrics, /^umbra_directory_epoch 1000$/m);
    } finally {
      await directory.close();
    }
  });

  test('a restart keeps the authority keys and the registered nodes', async () => {
    const config = configFor('restart');
    const first = await startDirectory(config);
    const keys = first.publicKeys;
    try {
      await registerDescriptor(first.url, gateway.signed(1000));
      await registerDescriptor(first.url, mix.signed(1000));
    } finally {
      await first.close();
    }
    const second = await startDirectory(config);
    try {
      assert.deepEqual(second.publicKeys, keys);
      const { document } = await fetchNetworkDocument(second.url, verifyOptions(keys));
      assert.deepEqual(
        document.nodes.map((node) => toHex(node.identityKey)).sort(),
        [toHex(gateway.identity.publicKey), toHex(mix.identity.publicKey)].sort(),
      );
    } finally {
      await second.close();
    }
    assert.ok(logLines.some((line) => JSON.parse(line).msg === 'descriptors restored'));
  });

  test('the key file is private, and a readable one is refused', {
    skip: process.platform === 'win32',
  }, async () => {
    const config = configFor('permissions');
    const { dataDir } = config;
    await (await startDirectory(config)).close();
    const keyFile = join(dataDir, AUTHORITY_KEY_FILE);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(dataDir).mode & 0o077, 0);
    chmodSync(keyFile, 0o644);
    try {
      await assert.rejects(
        startDirectory(config),
        (error: unknown) => error instanceof ConfigError && error.reason === 'insecure_file',
      );
    } finally {
      chmodSync(keyFile, 0o600);
    }
  });

  test('no log line carries a node address or key', () => {
    const output = logLines.join('\n');
    for (const node of [gateway, mix, stranger]) {
      assert.ok(!output.includes(node.address));
      assert.ok(!output.includes(toHex(node.sphinxKey(1000))));
    }
  });
});
