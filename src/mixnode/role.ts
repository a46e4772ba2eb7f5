/**
 * `umbra mix` (or `node src/mixnode/main.ts`), as a library: `runMix(argv)` runs one mix node as a process
 * (docs/gateway.md, "The mix process"; the pipeline is docs/mixnode.md). It keeps its Ed25519 identity, TLS
 * identity, per-epoch Sphinx keys and replay filter in `--data-dir`; fetches the current network document,
 * verified against the pinned authority keys and its geometry, and takes the mixing parameters from it;
 * starts the `MixNode` on its link listener; registers its signed descriptor for the current and next epoch
 * and keeps following the documents; serves /metrics, /health and /ready on `--ops-port`; and on
 * SIGINT/SIGTERM stops gracefully (the round in progress is sent, the rest of the queue saved). `startMix` is
 * the same without the process around it, for the development network. Exit codes: 0 after a clean stop, 1
 * after a failed one, 2 for a refused configuration.
 */
import { toHex } from '../bytes.ts';
import { nodeId } from '../directory/document.ts';
import { ConfigError } from '../errors.ts';
import type { DirectoryLink, DirectorySession } from '../hop/directory-session.ts';
import { fetchFirstDocument, loadOrCreateNodeIdentity } from '../hop/directory-session.ts';
import { mixSenders, NetworkView } from '../hop/network-view.ts';
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
import { MixNode } from './node.ts';
import { registryMetrics } from './ops-metrics.ts';

export const MIX_OPTIONS = {
  ...NODE_OPTIONS,
  layer: { type: 'integer', required: true, min: 1, max: 16, description: 'the mix layer this node serves' },
} as const satisfies ConfigSchema;

export type MixOptions = ConfigOf<typeof MIX_OPTIONS>;

export interface MixConfig {
  readonly dataDir: string;
  readonly directory: DirectoryLink;
  readonly layer: number;
  /** Where the link listener binds (port 0: any). */
  readonly listen: NodeAddress;
  /** The host registered for it; default `listen.host`. */
  readonly advertiseHost?: string;
  /** Default one per core. */
  readonly workers?: number;
  /** Simulated latency on every outgoing link (tests and drills). */
  readonly linkDelay?: LinkDelay;
  readonly pollMs?: number;
  readonly startupTimeoutMs?: number;
  /** Where /metrics, /health and /ready listen; absent, they are not served. */
  readonly ops?: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  readonly metrics?: MetricsRegistry;
}

export interface MixHandle {
  /** The node's Sphinx id, BLAKE2b-256 of its identity key. */
  readonly id: Uint8Array;
  readonly node: MixNode;
  readonly address: NodeAddress;
  readonly view: NetworkView;
  readonly session: DirectorySession;
  readonly ops: OpsServer | undefined;
  /** What /ready reports. */
  ready(): Readiness;
  /** Graceful: stops following the directory, then the node (round sent, queue saved), then /metrics. */
  stop(): Promise<void>;
}

/** Starts a mix node that follows the directory. Throws `ConfigError` when the document has no such layer. */
export async function startMix(config: MixConfig): Promise<MixHandle> {
  const { logger, directory, layer } = config;
  const metrics = config.metrics ?? new MetricsRegistry();
  const identity = await loadOrCreateNodeIdentity(config.dataDir);
  const id = nodeId(identity.publicKey);
  const view = new NetworkView({ layer, allowSender: mixSenders(layer) });
  const first = await fetchFirstDocument(
    directory,
    Date.now() + (config.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS),
    logger,
  );
  view.update(first);
  const { parameters } = first;
  if (layer > parameters.layers) {
    throw new ConfigError('invalid_value', `layer: the network has ${parameters.layers} layers`);
  }
  const node = await MixNode.start({
    id,
    geometry: directory.geometry,
    dataDir: config.dataDir,
    listen: config.listen,
    topology: view,
    epochs: view,
    metrics: registryMetrics(metrics),
    logger,
    round: { periodMs: parameters.roundPeriodMs, batchSize: parameters.batchSize },
    graceMs: parameters.keyGracePeriodMs,
    ...(config.workers === undefined ? {} : { workers: config.workers }),
    ...(config.linkDelay === undefined ? {} : { linkDelay: config.linkDelay }),
  });
  const services = await startNodeServices(node, {
    directory,
    identity,
    role: 'mix',
    layer,
    address: formatAddress(config.advertiseHost ?? config.listen.host, node.address.port),
    view,
    logger,
    metrics,
    ...(config.pollMs === undefined ? {} : { pollMs: config.pollMs }),
    ops: config.ops,
  });
  logger.info('mix node ready', {
    port: node.address.port,
    nodeId: toHex(id),
    layer,
    epoch: view.epochAt(view.now()),
  });
  return {
    id,
    node,
    address: node.address,
    view,
    session: services.session,
    ops: services.ops,
    ready: () => services.ready(),
    stop: () => services.stop(),
  };
}

/** The `startMix` configuration the options describe. */
export function mixConfig(options: MixOptions, logger: Logger): MixConfig {
  return {
    dataDir: options.dataDir,
    directory: directoryLinkFromOptions(options),
    layer: options.layer,
    listen: { host: options.host, port: options.port },
    ...(options.advertiseHost === undefined ? {} : { advertiseHost: options.advertiseHost }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    ...linkDelayConfig(options),
    pollMs: options.pollMs,
    startupTimeoutMs: options.startupTimeoutMs,
    ...opsFromOptions(options),
    logger,
  };
}

/**
 * Starts a mix node from command-line arguments and stops it on SIGINT/SIGTERM. Returns undefined after
 * printing help; throws `ConfigError` for a refused configuration.
 */
export async function runMix(
  argv: readonly string[],
): Promise<{ readonly mix: MixHandle; readonly shutdown: Shutdown } | undefined> {
  const loaded = loadProcessConfig('umbra mix', 'mix', MIX_OPTIONS, argv);
  if (loaded === undefined) return undefined;
  const { options, logger, metrics } = loaded;
  const config = { ...mixConfig(options, logger), metrics };
  const { handle: mix, shutdown } = await startUnderShutdown(
    { name: 'mix', logger, timeoutMs: options.shutdownTimeoutMs },
    () => startMix(config),
  );
  return { mix, shutdown };
}
