/**
 * `/config.json`: what the web app needs to reach a network, served by `umbra up` beside the bundled app and
 * read by the SDK (src/client/carriers.ts), in the page and in `umbra demo` / `umbra client`.
 * Every URL is relative to the page's origin: the web server proxies the directory (browsers cannot read it
 * across origins) and the WebSockets of the gateway and the delivery service, so the page talks to exactly
 * one origin. Nothing here is secret: the authority keys are public, and pinning them here is trust on first
 * use of this server (a local development deployment), not a substitute for pinning them out of band.
 */
import type { PrivacyPolicy } from './carrier.ts';

export const WEB_CONFIG_VERSION = 1;

export interface WebConfig {
  readonly version: typeof WEB_CONFIG_VERSION;
  /** Base path of the directory authority's HTTP API (`GET <base>/v1/document/current`). */
  readonly directoryPath: string;
  /** The authority's public keys, as `formatAuthorityPublicKeys` writes them (base64url). */
  readonly authorityPublicKeys: string;
  /** WebSocket path of the gateway, for the mixnet carrier. */
  readonly gatewayPath: string;
  /** WebSocket path of the delivery service, for the direct carrier; null when direct is not offered. */
  readonly deliveryPath: string | null;
  /** The Sphinx geometry choices, from which the page derives the same geometry (and hash) as the nodes. */
  readonly geometry: {
    readonly scheme: 'x25519' | 'MLKEM768' | 'XWING';
    readonly payloadLength: number;
    readonly withSurb: boolean;
    readonly hops: number;
  };
  /** The default privacy policy of new conversations. */
  readonly privacy: PrivacyPolicy;
}

/** Turns a path of the config into an absolute URL on the page's origin (`ws:`/`wss:` for sockets). */
export function resolveUrl(path: string, origin: string, socket: boolean): string {
  const url = new URL(path, origin);
  if (socket) url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}
