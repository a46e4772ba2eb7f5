// `umbra mix` as a real process against a real directory: --help and refused configurations (exit 2), then
// a node that starts from flags, registers for the current and next epoch, is listed in the verified
// document with the address and TLS pin it serves, answers /health and /metrics, stops cleanly on SIGTERM,
// and comes back with the same identity and keys from its data directory, registered at its new port.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../src/bytes.ts';
import { fetchNetworkDocument } from '../../src/directory/client.ts';
import type { DirectoryHandle } from '../../src/directory/server.ts';
import { NODE_GEOMETRY as geometry, nodeFlags, startNodeDirectory } from '../support/node-directory.ts';
import { RoleProcess } from '../support/role-process.ts';

const MAIN = fileURLToPath(new URL('../../src/mixnode/main.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'umbra-mix-main-'));
let directory: DirectoryHandle;

before(async () => {
  directory = await startNodeDirectory(join(root, 'directory'));
});

after(async () => {
  await directory?.close();
  rmSync(root, { recursive: true, force: true });
});

function flags(dataDir: string): string[] {
  return [...nodeFlags(directory, dataDir), '--workers=0'];
}

describe('umbra mix (process)', () => {
  test('--help lists the options; refused configurations exit 2, another geometry than the directory’s 1', async () => {
    const help = new RoleProcess(MAIN, ['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.lines.map((line) => line.msg).join('\n'), /--layer/);
    const cases: [string[], RegExp][] = [
      [flags(join(root, 'x')), /layer is required/],
      [[...flags(join(root, 'x')), '--layer=4'], /the network has 3 layers/],
      [[`--data-dir=${root}`, `--directory-url=${directory.url}`, '--layer=1'], /authority-keys/],
      [
        [`--data-dir=${root}`, `--directory-url=${directory.url}`, '--authority-keys=xyz', '--layer=1'],
        /authority keys/,
      ],
      [[...flags(join(root, 'x')), '--layer=1', '--payload-length=100'], /wrong_geometry/],
    ];
    for (const [args, message] of cases) {
      const run = new RoleProcess(MAIN, args);
      const code = await run.exited;
      assert.match(run.stderr, message);
      assert.equal(code, /wrong_geometry/.test(message.source) ? 1 : 2, run.stderr);
    }
  });

  test('registers, is listed with its address and pin, serves /health and /metrics, stops on SIGTERM', async () => {
    const dataDir = join(root, 'mix');
    const mix = new RoleProcess(MAIN, [...flags(dataDir), '--layer=2', '--ops-port=0', '--poll-ms=100']);
    try {
      const ready = await mix.logged('mix node ready');
      const opsPort = (await mix.logged('operator endpoints listening')).fields?.port;
      const nodeId = ready.fields?.nodeId;
      assert.equal(typeof nodeId, 'string');
      const { document } = await fetchNetworkDocument(directory.url, {
        authorityKeys: directory.publicKeys,
        expectedGeometryHash: geometry.hash(),
      });
      const entry = document.nodes.find((node) => toHex(node.id) === nodeId);
      assert.ok(entry, 'listed in the current document');
      assert.equal(entry.role, 'mix');
      assert.equal(entry.layer, 2);
      assert.equal(entry.address, `127.0.0.1:${ready.fields?.port}`);
      const next = await fetchNetworkDocument(directory.url, {
        authorityKeys: directory.publicKeys,
        expectedGeometryHash: geometry.hash(),
        epoch: document.epoch + 1,
        now: document.validUntil,
      });
      const upcoming = next.document.nodes.find((node) => toHex(node.id) === nodeId);
      assert.ok(upcoming, 'registered for the next epoch too');
      assert.deepEqual(upcoming.sphinxKeys.current, entry.sphinxKeys.next);
      const health = (await (await fetch(`http://127.0.0.1:${opsPort}/health`)).json()) as { status: string };
      assert.equal(health.status, 'ok');
      const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      assert.match(metrics, /^mix_rounds_held_total \d+$/m);
      assert.match(metrics, /^process_cpu_seconds_total \d/m, 'the default process metrics beside them');
      assert.match(metrics, /^nodejs_eventloop_lag_seconds \d/m);
      assert.equal(await mix.stop(), 0);
      assert.ok(mix.lines.some((line) => line.msg === 'mix node stopped'));

      // Back on another port: the same identity, registered again at the new address.
      const again = new RoleProcess(MAIN, [...flags(dataDir), '--layer=2']);
      const back = await again.logged('mix node ready');
      assert.equal(back.fields?.nodeId, nodeId, 'the same identity');
      assert.notEqual(back.fields?.port, ready.fields?.port);
      const { document: after } = await fetchNetworkDocument(directory.url, {
        authorityKeys: directory.publicKeys,
        expectedGeometryHash: geometry.hash(),
      });
      const moved = after.nodes.find((node) => toHex(node.id) === nodeId);
      assert.equal(moved?.address, `127.0.0.1:${back.fields?.port}`);
      assert.deepEqual(moved?.sphinxKeys, entry.sphinxKeys, 'the same keys');
      assert.equal(await again.stop(), 0);
    } finally {
      await mix.stop();
    }
  });
});
