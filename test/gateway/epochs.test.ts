// Key rotation in a running network: with 6-second epochs, messages built from the current network document
// keep arriving across epoch changes, because every node registers for the next epoch (with its next keys)
// ahead of it and keeps the previous key for the grace period.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomBytes } from '../../src/crypto/random.ts';
import { startDevnet } from '../../src/devnet/index.ts';
import { gatewayNode, RawClient, until } from './support.ts';

test('messages keep arriving across epoch changes', async () => {
  const root = mkdtempSync(join(tmpdir(), 'umbra-gateway-epochs-'));
  const net = await startDevnet({
    dataDir: root,
    epochPeriodMs: 6_000,
    keyGracePeriodMs: 4_000,
    pollMs: 100,
  });
  const alice = new RawClient(net.geometry);
  const bob = new RawClient(net.geometry);
  try {
    const url = net.gateways[0]?.clientUrl as string;
    await alice.connect(url);
    await bob.connect(url);
    const epochs = new Set<number>();
    let sent = 0;
    while (epochs.size < 3) {
      const document = await net.document();
      epochs.add(document.epoch);
      // Every node switches to a new epoch's key on its first batch after the boundary (src/hop), as each
      // reads the boundary off its own view of the documents; this test measures rotation, not that
      // instant, so it leaves the first 300 ms of an epoch alone.
      if (Date.now() - document.validFrom < 300) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        continue;
      }
      const gateway = gatewayNode(document, net.gateways[0]?.id as Uint8Array);
      alice.sendPacket(alice.messagePacket(document, gateway, gateway, bob.inbox, randomBytes(8)));
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await until(() => bob.items.length === sent, `all ${sent} messages`);
    assert.ok(sent > 5);
  } finally {
    await alice.close();
    await bob.close();
    await net.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
