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
import { ConfigError } from '../errors.ts';
import { mixSenders } from '../hop/network-view.ts';
import { type NodeConfig, type StartedNode, startNode } from '../hop/node-process.ts';
import { NODE_OPTIONS, nodeConfigFromOptions } from '../hop/options.ts';
import type { NodeAddress } from '../hop/types.ts';
import type { ConfigOf, ConfigSchema } from '../ops/config.ts';
import type { Logger } from '../ops/logger.ts';
import { loadProcessConfig, startUnderShutdown } from '../ops/process.ts';
import type { Shutdown } from '../ops/shutdown.ts';
import { MixNode } from './node.ts';
import { registryMetrics } from './ops-metrics.ts';

export const MIX_OPTIONS = {
  ...NODE_OPTIONS,
  layer: { type: 'integer', required: true, min: 1, max: 16, description: 'the mix layer this node serves' },
} as const satisfies ConfigSchema;

export type MixOptions = ConfigOf<typeof MIX_OPTIONS>;

/** The node configuration every hop shares (src/hop/node-process.ts), and the mix node's own. */
export interface MixConfig extends NodeConfig {
  readonly layer: number;
  /** Where the link listener binds (port 0: any). */
  readonly listen: NodeAddress;
}

export interface MixHandle extends StartedNode<MixNode> {
  readonly address: NodeAddress;
}

/**
 * Starts a mix node that follows the directory; its rounds take their period and batch size from the
 * network document. Throws `ConfigError` when the document has no such layer.
 */
export async function startMix(config: MixConfig): Promise<MixHandle> {
  const { layer } = config;
  const started = await startNode(config, {
    role: 'mix',
    layer,
    listenHost: config.listen.host,
    senders: () => mixSenders(layer),
    async start(hop, parameters, metrics) {
      if (layer > parameters.layers) {
        throw new ConfigError('invalid_value', `layer: the network has ${parameters.layers} layers`);
      }
      return MixNode.start({
        ...hop,
        listen: config.listen,
        metrics: registryMetrics(metrics),
        round: parameters,
      });
    },
    linkPort: (node) => node.address.port,
    readyMessage: 'mix node ready',
    readyFields: (node) => ({ port: node.address.port, layer }),
  });
  return { ...started, address: started.node.address };
}

/** The `startMix` configuration the options describe. */
export function mixConfig(options: MixOptions, logger: Logger): MixConfig {
  return {
    ...nodeConfigFromOptions(options, logger),
    layer: options.layer,
    listen: { host: options.host, port: options.port },
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
