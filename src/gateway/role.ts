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
import { toHex } from '../bytes.ts';
import { nodeId } from '../directory/document.ts';
import { ConfigError } from '../errors.ts';
import {
  type DirectoryLink,
  type DirectorySession,
  fetchFirstDocument,
  loadOrCreateNodeIdentity,
} from '../hop/directory-session.ts';
import { gatewaySenders, NetworkView } from '../hop/network-view.ts';
import { startNodeServices } from '../hop/node-process.ts';
import {
  DEFAULT_STARTUP_TIMEOUT_MS,
  directoryLinkFromOptions,
  formatAddress,
  linkDelayConfig,
  NODE_OPTIONS,
} from '../hop/options.ts';
import type { NodeAddress } from '../hop/types.ts';
import type { LinkDelay } from '../links/index.ts';
import type { ConfigOf, ConfigSchema } from '../ops/config.ts';
import type { OpsServer, Readiness } from '../ops/http.ts';
import type { Logger } from '../ops/logger.ts';
import { MetricsRegistry } from '../ops/metrics.ts';
import { loadProcessConfig, opsFromOptions, startUnderShutdown } from '../ops/process.ts';
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

export interface GatewayConfig {
  readonly dataDir: string;
  readonly directory: DirectoryLink;
  /** The TLS link listener (port 0: any). */
  readonly linkListen: NodeAddress;
  /** The host registered for it; default `linkListen.host`. */
  readonly advertiseHost?: string;
  readonly clientListen: NodeAddress;
  /** PEM certificate and key for `wss://`. */
  readonly clientTls?: { readonly cert: string; readonly key: string };
  readonly services: ReadonlyMap<string, RequestHandler>;
  /**
   * Unset limits take `DEFAULT_GATEWAY_LIMITS`; the client and downstream rates default to 2 × the document's
   * λ, at least 1.
   */
  readonly limits?: Partial<GatewayLimits>;
  /** Simulated latency on every outgoing link (tests and drills). */
  readonly linkDelay?: LinkDelay;
  /** Crypto worker threads; 0 unwraps on the main thread. Default one per core. */
  readonly workers?: number;
  readonly pollMs?: number;
  readonly startupTimeoutMs?: number;
  readonly ops?: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  readonly metrics?: MetricsRegistry;
}

export interface GatewayHandle {
  /** The gateway's Sphinx node id. */
  readonly id: Uint8Array;
  readonly gateway: Gateway;
  /** ws:// or wss:// URL of the client endpoint. */
  readonly clientUrl: string;
  readonly linkAddress: NodeAddress;
  readonly view: NetworkView;
  readonly session: DirectorySession;
  readonly ops: OpsServer | undefined;
  /** What /ready reports. */
  ready(): Readiness;
  /** Graceful: stops following the directory, then the gateway, then /metrics. */
  stop(): Promise<void>;
}

/** Starts a gateway that follows the directory. */
export async function startGateway(config: GatewayConfig): Promise<GatewayHandle> {
  const { logger, directory } = config;
  const metrics = config.metrics ?? new MetricsRegistry();
  const identity = await loadOrCreateNodeIdentity(config.dataDir);
  const id = nodeId(identity.publicKey);
  const first = await fetchFirstDocument(
    directory,
    Date.now() + (config.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS),
    logger,
  );
  const { parameters } = first;
  const view = new NetworkView({ layer: 0, allowSender: gatewaySenders(parameters.layers) });
  view.update(first);
  const gateway = await Gateway.start({
    id,
    geometry: directory.geometry,
    dataDir: config.dataDir,
    linkListen: config.linkListen,
    clientListen: config.clientListen,
    ...(config.clientTls ? { clientTls: config.clientTls } : {}),
    topology: view,
    epochs: view,
    graceMs: parameters.keyGracePeriodMs,
    services: config.services,
    limits: {
      sendRate: Math.max(2 * parameters.clientSendRate, 1),
      downstreamRate: Math.max(2 * parameters.clientSendRate, 1),
      ...config.limits,
    },
    metrics,
    logger,
    ...(config.linkDelay === undefined ? {} : { linkDelay: config.linkDelay }),
    ...(config.workers === undefined ? {} : { workers: config.workers }),
  });
  const services = await startNodeServices(gateway, {
    directory,
    identity,
    role: 'gateway',
    layer: 0,
    address: formatAddress(config.advertiseHost ?? config.linkListen.host, gateway.linkAddress.port),
    view,
    logger,
    metrics,
    ...(config.pollMs === undefined ? {} : { pollMs: config.pollMs }),
    ops: config.ops,
  });
  logger.info('gateway ready', {
    linkPort: gateway.linkAddress.port,
    clientPort: gateway.clientAddress.port,
    nodeId: toHex(id),
    epoch: view.epochAt(view.now()),
  });
  return {
    id,
    gateway,
    clientUrl: gateway.clientUrl,
    linkAddress: gateway.linkAddress,
    view,
    session: services.session,
    ops: services.ops,
    ready: () => services.ready(),
    stop: () => services.stop(),
  };
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
    dataDir: options.dataDir,
    directory: directoryLinkFromOptions(options),
    linkListen: { host: options.host, port: options.port },
    ...(options.advertiseHost === undefined ? {} : { advertiseHost: options.advertiseHost }),
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
    ...linkDelayConfig(options),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    pollMs: options.pollMs,
    startupTimeoutMs: options.startupTimeoutMs,
    ...opsFromOptions(options),
    logger,
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
