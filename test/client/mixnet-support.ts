// The SDK's mixnet tests' network: a single-process devnet (50 ms rounds unless a test asks for others,
// λ = 20) with a real delivery service (SQLite) behind its exit gateway as 'delivery', and MixnetCarriers
// entering at its first gateway.
// The same service is also served over WebSocket (`server.webSocketUrl`), for clients that may fall back
// to the direct carrier.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MixnetCarrier } from '../../src/client/carrier/mixnet.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { type DeliveryServerHandle, startDeliveryServer } from '../../src/delivery/server.ts';
import { type DeliveryStore, openStore } from '../../src/delivery/store/index.ts';
import { type Devnet, startDevnet } from '../../src/devnet/index.ts';

export class DeliveryMixnet {
  readonly net: Devnet;
  /** The delivery service behind the exit gateway, served directly too. */
  readonly server: DeliveryServerHandle;
  readonly #store: DeliveryStore;
  readonly #carriers: MixnetCarrier[] = [];

  private constructor(net: Devnet, store: DeliveryStore, server: DeliveryServerHandle) {
    this.net = net;
    this.#store = store;
    this.server = server;
  }

  /**
   * `roundPeriodMs` (default 50): a test made of many sequential round trips may take shorter rounds; a
   * request crosses six mixing rounds, each held about two rounds by the pool.
   */
  static async start(
    dataDir: string,
    options: { readonly roundPeriodMs?: number } = {},
  ): Promise<DeliveryMixnet> {
    const store = await openStore({ sqlitePath: join(dataDir, 'delivery.sqlite') });
    const server = await startDeliveryServer({ store, identifierKey: randomBytes(32), purgeIntervalMs: 0 });
    try {
      const net = await startDevnet({
        dataDir: join(dataDir, 'devnet'),
        mode: 'single-process',
        serviceHandlers: { delivery: server.service.handler },
        roundPeriodMs: options.roundPeriodMs ?? 50,
        clientSendRate: 20,
      });
      return new DeliveryMixnet(net, store, server);
    } catch (error) {
      await server.close();
      await store.close();
      throw error;
    }
  }

  /** A carrier through the first gateway, closed by `stop`. */
  async carrier(): Promise<MixnetCarrier> {
    const gateway = this.net.gateways[0];
    assert.ok(gateway?.clientUrl);
    const carrier = await MixnetCarrier.connect({
      gatewayUrl: gateway.clientUrl,
      geometry: this.net.geometry,
      directoryUrl: this.net.directoryUrl,
      authorityPublicKeys: this.net.authorityKeys,
    });
    this.#carriers.push(carrier);
    return carrier;
  }

  async stop(): Promise<void> {
    for (const carrier of this.#carriers.splice(0)) await carrier.close();
    await this.net.stop();
    await this.server.close();
    await this.#store.close();
  }
}
