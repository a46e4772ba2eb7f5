/**
 * The delivery service's command line (`umbra delivery`, or `node src/delivery/main.ts` directly): the
 * options below from a JSON file (`--config`) and flags, JSON logs on standard output, /metrics, /health
 * and /ready when `--ops-port` is given, and a graceful stop on SIGINT/SIGTERM (stop serving, then close the
 * store).
 *
 * Storage: `--postgres <url>` uses PostgreSQL; otherwise `--data-dir` keeps one SQLite file
 * (`delivery.sqlite`) there; otherwise the `DATABASE_URL` environment variable names PostgreSQL. The
 * identifier key (the HMAC key of handles, routing IDs and mailbox IDs at rest, 64 hex digits) is read from
 * `--identifier-key-file`, or from `identifier.key` in the data directory, created there on first start.
 * Every instance on one PostgreSQL database must be given the same key. A key file others can read is
 * refused. Exit codes: 0 after a clean stop, 1 after a failed one, 2 when the configuration is refused.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, toHex } from '../crypto/bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { ConfigError } from '../errors.ts';
import type { ConfigOf, ConfigSchema } from '../ops/config.ts';
import { loadProcessConfig, opsFromOptions, PROCESS_OPTIONS, runProcess } from '../ops/process.ts';
import { installShutdown, type Shutdown } from '../ops/shutdown.ts';
import { DEFAULT_MAX_REQUEST_BYTES } from '../protocol/messages.ts';
import {
  DEFAULT_TOKEN_KEY_LIFETIME_MS,
  DEFAULT_TOKEN_KEY_ROTATION_MS,
  DEFAULT_TOKENS_PER_DAY,
} from './issuer.ts';
import { DEFAULT_PING_INTERVAL_MS, type DeliveryServerHandle, startDeliveryServer } from './server.ts';
import { DEFAULT_PURGE_INTERVAL_MS, IDENTIFIER_KEY_LENGTH } from './service.ts';
import { DEFAULT_LIMITS, type DeliveryStore, openStore, type StoreLocation } from './store/index.ts';

export const SQLITE_FILE = 'delivery.sqlite';
export const IDENTIFIER_KEY_FILE = 'identifier.key';

export const DELIVERY_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1', description: 'address the delivery service listens on' },
  port: { type: 'integer', default: 7800, min: 0, max: 65_535, description: 'port of the delivery service' },
  dataDir: { type: 'string', description: 'directory for the SQLite database and the identifier key' },
  postgres: {
    type: 'string',
    secret: true,
    description: 'PostgreSQL URL (default: DATABASE_URL when no --data-dir is given)',
  },
  postgresSchema: {
    type: 'string',
    default: 'umbra_delivery',
    description: 'PostgreSQL schema of the tables',
  },
  poolSize: { type: 'integer', default: 10, min: 1, max: 1_000, description: 'PostgreSQL connections' },
  identifierKeyFile: {
    type: 'string',
    description:
      'file with the identifier key, 64 hex digits (default: identifier.key in the data directory)',
  },
  ttlMs: {
    type: 'integer',
    default: DEFAULT_LIMITS.ttlMs,
    min: 1_000,
    description: 'lifetime of posted items',
  },
  maxItemsPerStream: {
    type: 'integer',
    default: DEFAULT_LIMITS.maxItemsPerStream,
    min: 1,
    max: 1_000_000,
    description: 'items held per routing ID or mailbox',
  },
  maxBytesPerStream: {
    type: 'integer',
    default: DEFAULT_LIMITS.maxBytesPerStream,
    min: 1,
    max: 1024 * 1024 * 1024,
    description: 'blob bytes held per routing ID or mailbox',
  },
  maxKeyPackagesPerDevice: {
    type: 'integer',
    default: DEFAULT_LIMITS.maxKeyPackagesPerDevice,
    min: 1,
    max: 100_000,
    description: 'unclaimed one-time KeyPackages per device',
  },
  maxRequestBytes: {
    type: 'integer',
    default: DEFAULT_MAX_REQUEST_BYTES,
    min: 1024,
    max: 64 * 1024 * 1024,
    description: 'largest request accepted',
  },
  purgeIntervalMs: {
    type: 'integer',
    default: DEFAULT_PURGE_INTERVAL_MS,
    min: 0,
    max: 24 * 60 * 60 * 1000,
    description: 'interval of the expired-item purge (0: off)',
  },
  pingIntervalMs: {
    type: 'integer',
    default: DEFAULT_PING_INTERVAL_MS,
    min: 1_000,
    max: 600_000,
    description: 'WebSocket keep-alive ping interval',
  },
  tokens: {
    type: 'string',
    choices: ['on', 'off'],
    default: 'on',
    description: 'claims and mailbox posts spend an anonymous token (docs/tokens.md)',
  },
  tokensPerDay: {
    type: 'integer',
    default: DEFAULT_TOKENS_PER_DAY,
    min: 1,
    max: 1_000_000,
    description: 'tokens one registered identity may fetch per UTC day',
  },
  tokenKeyRotationMs: {
    type: 'integer',
    default: DEFAULT_TOKEN_KEY_ROTATION_MS,
    min: 60_000,
    description: 'a new token issuer key every this many ms',
  },
  tokenKeyLifetimeMs: {
    type: 'integer',
    default: DEFAULT_TOKEN_KEY_LIFETIME_MS,
    min: 60_000,
    description: 'tokens under a key are accepted this long after it starts issuing (at least the rotation)',
  },
  ...PROCESS_OPTIONS,
} as const satisfies ConfigSchema;

export type DeliveryOptions = ConfigOf<typeof DELIVERY_OPTIONS>;

/** Where the data lives, by the precedence in the header. */
export function storeLocation(options: DeliveryOptions, env: NodeJS.ProcessEnv = process.env): StoreLocation {
  const postgresUrl =
    options.postgres ?? (options.dataDir === undefined && env.DATABASE_URL ? env.DATABASE_URL : undefined);
  if (postgresUrl !== undefined) {
    return { postgresUrl, schema: options.postgresSchema, poolSize: options.poolSize };
  }
  if (options.dataDir === undefined) {
    throw new ConfigError('missing_value', 'dataDir or postgres is required: pass --data-dir or --postgres');
  }
  return { sqlitePath: join(options.dataDir, SQLITE_FILE) };
}

function parseKey(text: string, path: string): Uint8Array {
  const hex = text.trim();
  if (!new RegExp(`^[0-9a-fA-F]{${2 * IDENTIFIER_KEY_LENGTH}}$`).test(hex)) {
    throw new ConfigError(
      'invalid_value',
      `identifierKeyFile: ${path} must hold ${2 * IDENTIFIER_KEY_LENGTH} hex digits`,
    );
  }
  return fromHex(hex);
}

/** Reads the identifier key, creating it (mode 0600) in the data directory when it has none yet. */
export function loadIdentifierKey(options: DeliveryOptions): Uint8Array {
  const explicit = options.identifierKeyFile;
  const path =
    explicit ?? (options.dataDir === undefined ? undefined : join(options.dataDir, IDENTIFIER_KEY_FILE));
  if (path === undefined) {
    throw new ConfigError(
      'missing_value',
      'identifierKeyFile is required without a data directory: pass --identifier-key-file (shared by every instance)',
    );
  }
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT' || explicit !== undefined) {
      throw new ConfigError('unreadable_file', `cannot read the identifier key file ${path}`);
    }
    mkdirSync(options.dataDir as string, { recursive: true, mode: 0o700 });
    const key = randomBytes(IDENTIFIER_KEY_LENGTH);
    writeFileSync(path, `${toHex(key)}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  }
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      'insecure_file',
      `the identifier key file ${path} is readable by others: chmod 600 it`,
    );
  }
  return parseKey(readFileSync(path, 'utf8'), path);
}

/**
 * Starts the delivery service from command-line arguments and stops it on SIGINT/SIGTERM. Returns undefined
 * after printing help; throws `ConfigError` for a refused configuration.
 */
export async function main(
  argv: readonly string[],
): Promise<
  | { readonly server: DeliveryServerHandle; readonly store: DeliveryStore; readonly shutdown: Shutdown }
  | undefined
> {
  const loaded = loadProcessConfig('umbra delivery', 'delivery', DELIVERY_OPTIONS, argv);
  if (loaded === undefined) return undefined;
  const { options, logger, metrics } = loaded;
  const location = storeLocation(options);
  const identifierKey = loadIdentifierKey(options);
  const store = await openStore({
    ...location,
    limits: {
      ttlMs: options.ttlMs,
      maxItemsPerStream: options.maxItemsPerStream,
      maxBytesPerStream: options.maxBytesPerStream,
      maxKeyPackagesPerDevice: options.maxKeyPackagesPerDevice,
    },
  });
  let server: DeliveryServerHandle;
  try {
    server = await startDeliveryServer({
      store,
      identifierKey,
      host: options.host,
      port: options.port,
      maxRequestBytes: options.maxRequestBytes,
      purgeIntervalMs: options.purgeIntervalMs,
      pingIntervalMs: options.pingIntervalMs,
      tokens: options.tokens === 'on',
      tokensPerDay: options.tokensPerDay,
      tokenKeyRotationMs: options.tokenKeyRotationMs,
      tokenKeyLifetimeMs: options.tokenKeyLifetimeMs,
      logger,
      metrics,
      ...opsFromOptions(options),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  const shutdown = installShutdown({ logger, timeoutMs: options.shutdownTimeoutMs });
  shutdown.add('server', () => server.close());
  shutdown.add('store', () => store.close());
  return { server, store, shutdown };
}

if (import.meta.main) runProcess('umbra delivery', main);
