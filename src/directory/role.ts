/**
 * The directory authority's role (`umbra directory`, or `node src/directory/main.ts` directly), as a library:
 * `runDirectory(argv)` reads the options below from a JSON file (`--config`) and flags, JSON logs on standard
 * output, /metrics, /health and /ready when `--ops-port` is given, and a graceful stop on SIGINT/SIGTERM. The
 * Sphinx geometry is derived from its four choices here, so every party configured with the same choices
 * computes the same geometry hash. Exit codes: 0 after a clean stop, 1 after a failed one, 2 when the
 * configuration is refused.
 */
import { ConfigError } from '../errors.ts';
import type { ConfigOf, ConfigSchema } from '../ops/config.ts';
import type { Logger } from '../ops/logger.ts';
import { loadProcessConfig, opsFromOptions, PROCESS_OPTIONS } from '../ops/process.ts';
import { installShutdown, type Shutdown } from '../ops/shutdown.ts';
import { DEFAULT_MIXING_PARAMETERS, MAX_LAYERS } from './document.ts';
import { geometryFromOptions, SPHINX_OPTIONS } from './geometry-options.ts';
import { type DirectoryConfig, type DirectoryHandle, startDirectory } from './server.ts';

export const DIRECTORY_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1', description: 'address the directory API listens on' },
  port: { type: 'integer', default: 7700, min: 0, max: 65_535, description: 'port of the directory API' },
  dataDir: {
    type: 'string',
    required: true,
    description: 'directory for the authority keys and descriptors',
  },
  devMode: { type: 'boolean', description: 'accept any identity key (development networks only)' },
  allow: { type: 'list', description: 'hex Ed25519 identity keys allowed to register' },
  epochPeriodMs: {
    type: 'integer',
    default: DEFAULT_MIXING_PARAMETERS.epochPeriodMs,
    min: 1_000,
    max: 24 * 60 * 60 * 1000,
    description: 'length of an epoch',
  },
  genesisMs: { type: 'integer', default: 0, min: 0, description: 'start of epoch 0, Unix milliseconds' },
  layers: {
    type: 'integer',
    default: DEFAULT_MIXING_PARAMETERS.layers,
    min: 1,
    max: MAX_LAYERS,
    description: 'mix layers',
  },
  roundPeriodMs: {
    type: 'integer',
    default: DEFAULT_MIXING_PARAMETERS.roundPeriodMs,
    min: 1,
    max: 60_000,
    description: 'mixing round period',
  },
  batchSize: {
    type: 'integer',
    default: DEFAULT_MIXING_PARAMETERS.batchSize,
    min: 1,
    max: 1_000_000,
    description: 'packets per mix batch (B)',
  },
  clientSendRate: {
    type: 'number',
    default: DEFAULT_MIXING_PARAMETERS.clientSendRate,
    min: 0.001,
    max: 1_000,
    // A plain rate: only the network document carries it in thousandths (its u32 encoding).
    description: 'packets per second each client sends (λ), real or cover; a multiple of 0.001',
  },
  loopCoverShare: {
    type: 'number',
    default: DEFAULT_MIXING_PARAMETERS.loopCoverShare,
    min: 0,
    max: 1,
    description: 'share (0 to 1) of cover packets that loop back, the rest dropped; a multiple of 0.001',
  },
  keyGracePeriodMs: {
    type: 'integer',
    default: DEFAULT_MIXING_PARAMETERS.keyGracePeriodMs,
    min: 0,
    max: 3_600_000,
    description: 'how long nodes keep the previous epoch key for packets in flight',
  },
  ...SPHINX_OPTIONS,
  hops: { type: 'integer', min: 1, max: 32, description: 'Sphinx hops (default: layers + 2 gateways)' },
  ...PROCESS_OPTIONS,
} as const satisfies ConfigSchema;

export type DirectoryOptions = ConfigOf<typeof DIRECTORY_OPTIONS>;

/** The `startDirectory` configuration the options describe. */
export function directoryConfig(options: DirectoryOptions, logger: Logger): DirectoryConfig {
  const geometry = geometryFromOptions({ ...options, hops: options.hops ?? options.layers + 2 });
  if (geometry.nrHops < options.layers + 2) {
    throw new ConfigError(
      'invalid_value',
      `hops: ${options.layers} layers and two gateways need ${options.layers + 2}`,
    );
  }
  return {
    host: options.host,
    port: options.port,
    dataDir: options.dataDir,
    devMode: options.devMode,
    allow: options.allow,
    epochPeriodMs: options.epochPeriodMs,
    genesisMs: options.genesisMs,
    geometry,
    parameters: {
      layers: options.layers,
      roundPeriodMs: options.roundPeriodMs,
      batchSize: options.batchSize,
      clientSendRate: options.clientSendRate,
      loopCoverShare: options.loopCoverShare,
      keyGracePeriodMs: options.keyGracePeriodMs,
    },
    ...opsFromOptions(options),
    logger,
  };
}

function checkThousandths(name: string, value: number): void {
  if (Math.abs(Math.round(value * 1000) - value * 1000) > 1e-6) {
    throw new ConfigError('invalid_value', `${name}: expected a multiple of 0.001, got ${value}`);
  }
}

/**
 * Starts the directory from command-line arguments and stops it on SIGINT/SIGTERM. Returns undefined after
 * printing help; throws `ConfigError` for a refused configuration.
 */
export async function runDirectory(
  argv: readonly string[],
): Promise<{ readonly directory: DirectoryHandle; readonly shutdown: Shutdown } | undefined> {
  const loaded = loadProcessConfig('umbra directory', 'directory', DIRECTORY_OPTIONS, argv);
  if (loaded === undefined) return undefined;
  const { options, logger, metrics } = loaded;
  checkThousandths('clientSendRate', options.clientSendRate);
  checkThousandths('loopCoverShare', options.loopCoverShare);
  const directory = await startDirectory({ ...directoryConfig(options, logger), metrics });
  const shutdown = installShutdown({ logger, timeoutMs: options.shutdownTimeoutMs });
  shutdown.add('directory', () => directory.close());
  return { directory, shutdown };
}
