/**
 * `umbra gateway` (or `node src/gateway/main.ts`), as a library: `runGateway(argv)` runs a gateway as a
 * process (docs/gateway.md). Like `umbra mix` it keeps its identity, TLS and Sphinx keys and replay filter in
 * `--data-dir`, follows the verified network document and registers itself (role gateway) for the current and
 * next epoch; in addition it keeps the client inboxes there (`inboxes.sqlite`), listens for clients on
 * `--client-host`/`--client-port` (WebSocket; TLS with `--client-tls-cert`/`--client-tls-key`, which only
 * loopback may go without), and offers the services given with `--service` (`echo`, or `name=url` for an HTTP
 * service such as `delivery=http://127.0.0.1:7900/v1/request`). /metrics, /health and /ready on `--ops-port`;
 * SIGINT/SIGTERM stop it gracefully. `startGateway` is the same without the process, for the development
 * network. Exit codes: 0 after a clean stop, 1 after a failed one, 2 for a refused configuration.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { gatewaySenders } from '../hop/network-view.ts';
import { type NodeConfig, type StartedNode, startNode } from '../hop/node-process.ts';
import { NODE_OPTIONS, nodeConfigFromOptions } from '../hop/options.ts';
import type { NodeAddress } from '../hop/types.ts';
import type { ConfigOf, ConfigSchema } from '../ops/config.ts';
import type { Logger } from '../ops/logger.ts';
import { loadProcessConfig, startUnderShutdown } from '../ops/process.ts';
import type { Shutdown } from '../ops/shutdown.ts';
import type { RequestHandler } from '../protocol/carrier.ts';
import { CLIENT_BURST_SECONDS, DEFAULT_GATEWAY_LIMITS, Gateway, type GatewayLimits } from './gateway.ts';
import { DEFAULT_INBOX_QUOTA } from './inbox-store.ts';
import { DEFAULT_SERVICE_TIMEOUT_MS, parseServices } from './services.ts';

/** For the help text: the default inbox lifetime in the unit people think of it in. */
const DEFAULT_ITEM_TTL_HOURS = DEFAULT_GATEWAY_LIMITS.itemTtlMs / 3_600_000;

export const GATEWAY_OPTIONS = {
  ...NODE_OPTIONS,
  clientHost: {
    type: 'string',
    default: '127.0.0.1',
    description: 'address the client WebSocket listener binds',
  },
  clientPort: {
    type: 'integer',
    default: 0,
    min: 0,
    max: 65_535,
    description: 'port of the client listener (0: any)',
  },
  clientTlsCert: { type: 'string', description: 'PEM certificate file for wss:// (required off loopback)' },
  clientTlsKey: { type: 'string', description: 'PEM private key file for wss://' },
  service: {
    type: 'list',
    default: ['echo'],
    description: 'services offered: echo, or name=http(s)://… (an HTTP service, e.g. delivery=…/v1/request)',
  },
  inboxQuota: {
    type: 'integer',
    default: DEFAULT_INBOX_QUOTA,
    min: 1,
    max: 1_000_000,
    description: 'most items one inbox keeps',
  },
  itemTtlMs: {
    type: 'integer',
    default: DEFAULT_GATEWAY_LIMITS.itemTtlMs,
    min: 1_000,
    description: `how long an unacknowledged inbox item is kept (${DEFAULT_ITEM_TTL_HOURS} h)`,
  },
  clientRate: {
    type: 'number',
    min: 0.001,
    max: 100_000,
    description: 'packets/s one client may send (default: twice the document’s clientSendRate, at least 1)',
  },
  downstreamRate: {
    type: 'number',
    min: 0.001,
    max: 100_000,
    description:
      'frames/s sent to each client, an inbox item or padding ' +
      '(default: twice the document’s clientSendRate, at least 1)',
  },
  clientBurst: {
    type: 'integer',
    min: 1,
    max: 100_000,
    description: `packets a client may send at once above its rate (default: ${CLIENT_BURST_SECONDS} s of its rate)`,
  },
  maxClients: {
    type: 'integer',
    default: DEFAULT_GATEWAY_LIMITS.maxClients,
    min: 1,
    max: 1_000_000,
    description: 'most client connections at once',
  },
  maxClientsPerAddress: {
    type: 'integer',
    default: DEFAULT_GATEWAY_LIMITS.maxClientsPerAddress,
    min: 1,
    max: 1_000_000,
    description: 'most client connections at once from one remote address',
  },
  maxClientBufferedBytes: {
    type: 'integer',
    default: DEFAULT_GATEWAY_LIMITS.maxClientBufferedBytes,
    min: 64 * 1024,
    max: 1024 * 1024 * 1024,
    description: 'unread bytes waiting to a client before it is dropped',
  },
  maxServiceCalls: {
    type: 'integer',
    default: DEFAULT_GATEWAY_LIMITS.maxServiceCalls,
    min: 1,
    max: 1_000_000,
    description: 'service calls in progress at once (more are answered failed)',
  },
  maxDelayedPackets: {
    type: 'integer',
    default: DEFAULT_GATEWAY_LIMITS.maxDelayedPackets,
    min: 1,
    max: 100_000_000,
    description: 'packets held for their node delay at once (more are dropped)',
  },
  serviceTimeoutMs: {
    type: 'integer',
    default: DEFAULT_SERVICE_TIMEOUT_MS,
    min: 100,
    max: 600_000,
    description: 'longest a service may take to answer',
  },
} as const satisfies ConfigSchema;

/** The options `umbra gateway` reads (not `GatewayOptions` of gateway.ts, which configure the class). */
export type GatewayProcessOptions = ConfigOf<typeof GATEWAY_OPTIONS>;

/** The node configuration every hop shares (src/hop/node-process.ts), and the gateway's own. */
export interface GatewayConfig extends NodeConfig {
  /** The TLS link listener (port 0: any). */
  readonly linkListen: NodeAddress;
  readonly clientListen: NodeAddress;
  /** PEM certificate and key for `wss://`. */
  readonly clientTls?: { readonly cert: string; readonly key: string };
  readonly services: ReadonlyMap<string, RequestHandler>;
  /**
   * Unset limits take `DEFAULT_GATEWAY_LIMITS`; the client and downstream rates default to 2 × the document's
   * λ, at least 1.
   */
  readonly limits?: Partial<GatewayLimits>;
}

export interface GatewayHandle extends StartedNode<Gateway> {
  /** ws:// or wss:// URL of the client endpoint. */
  readonly clientUrl: string;
  readonly linkAddress: NodeAddress;
}

/** Starts a gateway that follows the directory. */
export async function startGateway(config: GatewayConfig): Promise<GatewayHandle> {
  const started = await startNode(config, {
    role: 'gateway',
    layer: 0,
    listenHost: config.linkListen.host,
    senders: (parameters) => gatewaySenders(parameters.layers),
    start: (hop, parameters, metrics) =>
      Gateway.start({
        ...hop,
        linkListen: config.linkListen,
        clientListen: config.clientListen,
        ...(config.clientTls ? { clientTls: config.clientTls } : {}),
        services: config.services,
        limits: {
          sendRate: Math.max(2 * parameters.clientSendRate, 1),
          downstreamRate: Math.max(2 * parameters.clientSendRate, 1),
          ...config.limits,
        },
        metrics,
      }),
    linkPort: (gateway) => gateway.linkAddress.port,
    readyMessage: 'gateway ready',
    readyFields: (gateway) => ({
      linkPort: gateway.linkAddress.port,
      clientPort: gateway.clientAddress.port,
    }),
  });
  const { node } = started;
  return { ...started, clientUrl: node.clientUrl, linkAddress: node.linkAddress };
}

function readPem(option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError('unreadable_file', `${option}: cannot read ${path}`);
  }
}

/** The `startGateway` configuration the options describe. */
export function gatewayConfig(options: GatewayProcessOptions, logger: Logger): GatewayConfig {
  const { clientTlsCert, clientTlsKey } = options;
  if ((clientTlsCert === undefined) !== (clientTlsKey === undefined)) {
    throw new ConfigError('missing_value', 'give both --client-tls-cert and --client-tls-key, or neither');
  }
  const limits: Partial<GatewayLimits> = {
    inboxQuota: options.inboxQuota,
    itemTtlMs: options.itemTtlMs,
    ...(options.clientBurst === undefined ? {} : { burst: options.clientBurst }),
    maxClients: options.maxClients,
    maxClientsPerAddress: options.maxClientsPerAddress,
    maxClientBufferedBytes: options.maxClientBufferedBytes,
    maxServiceCalls: options.maxServiceCalls,
    maxDelayedPackets: options.maxDelayedPackets,
    serviceTimeoutMs: options.serviceTimeoutMs,
    ...(options.clientRate === undefined ? {} : { sendRate: options.clientRate }),
    ...(options.downstreamRate === undefined ? {} : { downstreamRate: options.downstreamRate }),
  };
  return {
    ...nodeConfigFromOptions(options, logger),
    linkListen: { host: options.host, port: options.port },
    clientListen: { host: options.clientHost, port: options.clientPort },
    ...(clientTlsCert !== undefined && clientTlsKey !== undefined
      ? {
          clientTls: {
            cert: readPem('client-tls-cert', clientTlsCert),
            key: readPem('client-tls-key', clientTlsKey),
          },
        }
      : {}),
    services: parseServices(options.service, { timeoutMs: options.serviceTimeoutMs }),
    limits,
  };
}

/**
 * Starts a gateway from command-line arguments and stops it on SIGINT/SIGTERM. Returns undefined after
 * printing help; throws `ConfigError` for a refused configuration.
 */
export async function runGateway(
  argv: readonly string[],
): Promise<{ readonly gateway: GatewayHandle; readonly shutdown: Shutdown } | undefined> {
  const loaded = loadProcessConfig('umbra gateway', 'gateway', GATEWAY_OPTIONS, argv);
  if (loaded === undefined) return undefined;
  const { options, logger, metrics } = loaded;
  const config = { ...gatewayConfig(options, logger), metrics };
  const { handle: gateway, shutdown } = await startUnderShutdown(
    { name: 'gateway', logger, timeoutMs: options.shutdownTimeoutMs },
    () => startGateway(config),
  );
  return { gateway, shutdown };
}
