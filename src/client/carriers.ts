/**
 * Opening the carriers a privacy policy allows (design brief §1; docs/client.md, "Privacy"). The SDK applies
 * a policy in two places, both from `allowedCarriers` (privacy.ts): here, which carriers are opened at all,
 * and in the client, which open carrier a request takes. With the default `mixnet` policy no direct
 * connection is ever opened, so fail-closed holds even against a bug further up.
 *
 * A deployment describes itself in its `/config.json` (src/protocol/web-config.ts): `deploymentEndpoints`
 * turns that into the carriers' options, so the web app in the page and `umbra demo` / `umbra client` in
 * Node reach a deployment the same way — the mixnet carrier to the gateway (through the web server's relay)
 * with the network document from the proxied directory, the direct carrier to the delivery service.
 * Browser-safe: global `WebSocket` and `fetch` only.
 */

import { parseAuthorityPublicKeys } from '../directory/authority-keys.ts';
import { CarrierError } from '../errors.ts';
import type { Carrier, PrivacyPolicy } from '../protocol/carrier.ts';
import { resolveUrl, type WebConfig } from '../protocol/web-config.ts';
import { Geometry } from '../sphinx/index.ts';
import { DirectCarrier, type DirectCarrierOptions } from './carrier/direct.ts';
import { MixnetCarrier, type MixnetCarrierOptions } from './carrier/mixnet.ts';
import { allowedCarriers } from './privacy.ts';

/** Where each carrier would connect; `direct` is absent when the deployment offers no direct carrier. */
export interface CarrierEndpoints {
  readonly mixnet: MixnetCarrierOptions;
  readonly direct?: DirectCarrierOptions;
}

/** The carriers opened for one client. */
export interface Carriers {
  readonly mixnet: MixnetCarrier | undefined;
  readonly direct: DirectCarrier | undefined;
  /** What `Client.open` takes. */
  readonly all: readonly Carrier[];
  close(): Promise<void>;
}

/** Opens the carriers `policy` allows, and only those (the direct one only when `endpoints` offer it). */
export async function openCarriers(policy: PrivacyPolicy, endpoints: CarrierEndpoints): Promise<Carriers> {
  const allowed = allowedCarriers(policy);
  const mixnet = allowed.includes('mixnet') ? await MixnetCarrier.connect(endpoints.mixnet) : undefined;
  const direct =
    allowed.includes('direct') && endpoints.direct !== undefined
      ? new DirectCarrier(endpoints.direct)
      : undefined;
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

/** The carriers' options for the deployment `config` describes, its paths resolved against `origin`. */
export function deploymentEndpoints(config: WebConfig, origin: string): CarrierEndpoints {
  const mixnet: MixnetCarrierOptions = {
    gatewayUrl: resolveUrl(config.gatewayPath, origin, true),
    directoryUrl: resolveUrl(config.directoryPath, origin, false),
    authorityPublicKeys: parseAuthorityPublicKeys(config.authorityPublicKeys),
    geometry: Geometry.create({
      scheme: config.geometry.scheme,
      userForwardPayloadLength: config.geometry.payloadLength,
      withSurb: config.geometry.withSurb,
      nrHops: config.geometry.hops,
    }),
  };
  if (config.deliveryPath === null) return { mixnet };
  return { mixnet, direct: { url: resolveUrl(config.deliveryPath, origin, true) } };
}

/** Reads a deployment's `/config.json` (Node callers; the page fetches its own). */
export async function fetchWebConfig(origin: string): Promise<WebConfig> {
  const response = await fetch(new URL('/config.json', origin), { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) {
    throw new CarrierError('unreachable', `${origin} answered ${response.status} for /config.json`);
  }
  return (await response.json()) as WebConfig;
}
