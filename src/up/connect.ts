/**
 * Carriers from a `/config.json` (web-config.ts): what the web app does in the page and what `umbra demo`
 * and `umbra client` do in Node, so both reach a deployment the same way — the mixnet carrier to the gateway
 * (through the web server's relay) with the network document from the proxied directory, and the direct
 * carrier to the delivery service only when the configured policy may use it at all. With the default
 * 'mixnet' policy no direct connection is ever opened: fail-closed holds even against a bug further up.
 * Browser-safe: global `WebSocket` and `fetch` only.
 */

import { DirectCarrier } from '../client/carrier/direct.ts';
import { MixnetCarrier } from '../client/carrier/mixnet.ts';
import { parseAuthorityPublicKeys } from '../directory/authority-keys.ts';
import type { Carrier } from '../protocol/carrier.ts';
import { Geometry } from '../sphinx/index.ts';
import { resolveUrl, type WebConfig } from './web-config.ts';

export interface Carriers {
  readonly mixnet: MixnetCarrier | undefined;
  readonly direct: DirectCarrier | undefined;
  /** What `Client.open` takes. */
  readonly all: readonly Carrier[];
  close(): Promise<void>;
}

export function geometryOf(config: WebConfig): Geometry {
  return Geometry.create({
    scheme: config.geometry.scheme,
    userForwardPayloadLength: config.geometry.payloadLength,
    withSurb: config.geometry.withSurb,
    nrHops: config.geometry.hops,
  });
}

/** Opens the carriers `config.privacy` allows, against the deployment at `origin` (the web app's URL). */
export async function openCarriers(config: WebConfig, origin: string): Promise<Carriers> {
  const mixnet =
    config.privacy === 'direct'
      ? undefined
      : await MixnetCarrier.connect({
          gatewayUrl: resolveUrl(config.gatewayPath, origin, true),
          directoryUrl: resolveUrl(config.directoryPath, origin, false),
          authorityPublicKeys: parseAuthorityPublicKeys(config.authorityPublicKeys),
          geometry: geometryOf(config),
        });
  const direct =
    config.privacy === 'mixnet' || config.deliveryPath === null
      ? undefined
      : new DirectCarrier({ url: resolveUrl(config.deliveryPath, origin, true) });
  const all = [mixnet, direct].filter(
    (carrier): carrier is MixnetCarrier | DirectCarrier => carrier !== undefined,
  );
  return {
    mixnet,
    direct,
    all,
    close: async () => {
      await Promise.all(all.map((carrier) => carrier.close()));
    },
  };
}

/** Reads a deployment's `/config.json` (Node callers; the page fetches its own). */
export async function fetchWebConfig(origin: string): Promise<WebConfig> {
  const response = await fetch(new URL('/config.json', origin), { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${origin} answered ${response.status} for /config.json`);
  return (await response.json()) as WebConfig;
}
