/**
 * The delivery service's role (`umbra delivery`, or `node src/delivery/main.ts` directly), as a library:
 * `runDelivery(argv)` reads the options below from a JSON file (`--config`) and flags, JSON logs on standard
 * output, /metrics, /health and /ready when `--ops-port` is given, and a graceful stop on SIGINT/SIGTERM
 * (stop serving, then close the store).
 *
 * Storage: `--postgres <url>` uses PostgreSQL; otherwise `--data-dir` keeps one SQLite file
 * (`delivery.sqlite`) there; otherwise the `DATABASE_URL` environment variable names PostgreSQL. The
 * identifier key (the key of everything at rest that names a handle, a routing ID or a mailbox, 64 hex
 * digits) lives apart from the database, so that a copy of the data directory or a database dump alone names
 * nobody: it is read from `--identifier-key-file`, else from the `UMBRA_IDENTIFIER_KEY` environment variable,
 * else from the file beside the data directory (`<data-dir>.identifier.key`), created there on first start (a
 * key left inside the data directory by an earlier umbra is moved there). Every instance on one PostgreSQL
 * database must be given the same key. A key file others can read is refused. Exit codes: 0 after a clean
 * stop, 1 after a failed one, 2 when the configuration is refused.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromHex, toHex } from '../bytes.ts';
import { randomBytes } from '../crypto/random.ts';
import { ConfigError } from '../errors.ts';
import type { ConfigOf, ConfigSchema } from '../ops/config.ts';
import { loadProcessConfig, opsFromOptions, PROCESS_OPTIONS } from '../ops/process.ts';
import { installShutdown, type Shutdown } from '../ops/shutdown.ts';
import { FRAME_OVERHEAD } from '../protocol/frames.ts';
import { DEFAULT_MAX_REQUEST_BYTES } from '../protocol/messages.ts';
import {
  DEFAULT_TOKEN_KEY_LIFETIME_MS,
  DEFAULT_TOKEN_KEY_ROTATION_MS,
  DEFAULT_TOKENS_PER_DAY,
} from './issuer.ts';
import { DEFAULT_REGISTRATION_LIMITS } from './rate-limit.ts';
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_PING_INTERVAL_MS,
  type DeliveryServerHandle,
  startDeliveryServer,
} from './server.ts';
import { DEFAULT_PURGE_INTERVAL_MS, IDENTIFIER_KEY_LENGTH } from './service.ts';
import { DEFAULT_LIMITS, type DeliveryStore, openStore, type StoreLocation } from './store/index.ts';

export const SQLITE_FILE = 'delivery.sqlite';
/** Where earlier versions kept the identifier key: inside the data directory, in every backup of it. */
const LEGACY_IDENTIFIER_KEY_FILE = 'identifier.key';
/** The environment variable that may hold the identifier key (64 hex digits). */
export const IDENTIFIER_KEY_ENV = 'UMBRA_IDENTIFIER_KEY';

/** The default identifier key file of a data directory: beside it, never inside. */
export function defaultIdentifierKeyPath(dataDir: string): string {
  return `${resolve(dataDir)}.identifier.key`;
}

export const DELIVERY_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1', description: 'address the delivery service listens on' },
  port: { type: 'integer', default: 7800, min: 0, max: 65_535, description: 'port of the delivery service' },
  dataDir: { type: 'string', description: 'directory for the SQLite database' },
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
      'file with the identifier key, 64 hex digits (default: UMBRA_IDENTIFIER_KEY, else <data-dir>.identifier.key)',
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
  maxKeyPackageBytesPerIdentity: {
    type: 'integer',
    default: DEFAULT_LIMITS.maxKeyPackageBytesPerIdentity,
    min: 64 * 1024,
    max: 1024 * 1024 * 1024,
    description: 'KeyPackage bytes held per handle, over all its devices',
  },
  maxTotalBytes: {
    type: 'integer',
    default: DEFAULT_LIMITS.maxTotalBytes,
    min: 1024 * 1024,
    max: 2 ** 50,
    description: 'blob bytes held by the whole store (2 GiB); past it posts are quota_exceeded storage',
  },
  registrationBurstPerConnection: {
    type: 'integer',
    default: DEFAULT_REGISTRATION_LIMITS.perConnection.burst,
    min: 1,
    max: 1_000_000,
    description: 'new handles registered at once by each WebSocket connection',
  },
  registrationRefillMsPerConnection: {
    type: 'integer',
    default: DEFAULT_REGISTRATION_LIMITS.perConnection.refillMs,
    min: 1,
    max: 24 * 60 * 60 * 1000,
    description: 'then one more registration per this many ms, for each WebSocket connection',
  },
  registrationBurstPerPeer: {
    type: 'integer',
    default: DEFAULT_REGISTRATION_LIMITS.perPeer.burst,
    min: 1,
    max: 1_000_000,
    description: 'new handles registered at once by each HTTP peer address (an exit gateway)',
  },
  registrationRefillMsPerPeer: {
    type: 'integer',
    default: DEFAULT_REGISTRATION_LIMITS.perPeer.refillMs,
    min: 1,
    max: 24 * 60 * 60 * 1000,
    description: 'then one more registration per this many ms, for each HTTP peer address (an exit gateway)',
  },
  registrationBurstGlobal: {
    type: 'integer',
    default: DEFAULT_REGISTRATION_LIMITS.global.burst,
    min: 1,
    max: 1_000_000,
    description: 'new handles registered at once by the whole instance',
  },
  registrationRefillMsGlobal: {
    type: 'integer',
    default: DEFAULT_REGISTRATION_LIMITS.global.refillMs,
    min: 1,
    max: 24 * 60 * 60 * 1000,
    description: 'then one more registration per this many ms, for the whole instance',
  },
  maxConnectionsPerIp: {
    type: 'integer',
    default: DEFAULT_MAX_CONNECTIONS_PER_IP,
    min: 1,
    max: 1_000_000,
    description: 'WebSockets open at once from one remote address (more: HTTP 429)',
  },
  maxConnections: {
    type: 'integer',
    default: DEFAULT_MAX_CONNECTIONS,
    min: 1,
    max: 1_000_000,
    description: 'WebSockets open at once (more: HTTP 429)',
  },
  maxBufferedBytes: {
    type: 'integer',
    default: DEFAULT_MAX_BUFFERED_BYTES,
    min: 64 * 1024,
    max: 1024 * 1024 * 1024,
    description: 'unread outgoing bytes per WebSocket: past half, its requests wait; past it, it is closed',
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

function parseKey(text: string, where: string): Uint8Array {
  const hex = text.trim();
  if (!new RegExp(`^[0-9a-fA-F]{${2 * IDENTIFIER_KEY_LENGTH}}$`).test(hex)) {
    throw new ConfigError(
      'invalid_value',
      `identifierKeyFile: ${where} must hold ${2 * IDENTIFIER_KEY_LENGTH} hex digits`,
    );
  }
  return fromHex(hex);
}

/** Where the key came from, for the start-up log line (never the key). */
export type IdentifierKeySource = 'file' | 'environment' | 'created' | 'moved';

/**
 * Reads the identifier key by the precedence in the header, creating it (mode 0600) beside the data directory
 * when there is none yet.
 */
export function loadIdentifierKey(
  options: DeliveryOptions,
  env: NodeJS.ProcessEnv = process.env,
): { readonly key: Uint8Array; readonly source: IdentifierKeySource } {
  const explicit = options.identifierKeyFile;
  if (explicit === undefined && env[IDENTIFIER_KEY_ENV] !== undefined) {
    return { key: parseKey(env[IDENTIFIER_KEY_ENV] as string, IDENTIFIER_KEY_ENV), source: 'environment' };
  }
  const path =
    explicit ?? (options.dataDir === undefined ? undefined : defaultIdentifierKeyPath(options.dataDir));
  if (path === undefined) {
    throw new ConfigError(
      'missing_value',
      `identifierKeyFile is required without a data directory: pass --identifier-key-file or set ${IDENTIFIER_KEY_ENV} (the same for every instance)`,
    );
  }
  let source: IdentifierKeySource = 'file';
  if (explicit === undefined && !existsSync(path)) {
    const legacy = join(options.dataDir as string, LEGACY_IDENTIFIER_KEY_FILE);
    if (existsSync(legacy)) {
      renameSync(legacy, path);
      source = 'moved';
    }
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
    return { key, source: 'created' };
  }
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      'insecure_file',
      `the identifier key file ${path} is readable by others: chmod 600 it`,
    );
  }
  return { key: parseKey(readFileSync(path, 'utf8'), path), source };
}

/**
 * Starts the delivery service from command-line arguments and stops it on SIGINT/SIGTERM. Returns undefined
 * after printing help; throws `ConfigError` for a refused configuration.
 */
export async function runDelivery(
  argv: readonly string[],
): Promise<
  | { readonly server: DeliveryServerHandle; readonly store: DeliveryStore; readonly shutdown: Shutdown }
  | undefined
> {
  const loaded = loadProcessConfig('umbra delivery', 'delivery', DELIVERY_OPTIONS, argv);
  if (loaded === undefined) return undefined;
  const { options, logger, metrics } = loaded;
  if (options.maxBufferedBytes < options.maxRequestBytes + FRAME_OVERHEAD) {
    throw new ConfigError(
      'invalid_value',
      `maxBufferedBytes must hold the largest frame: at least maxRequestBytes + ${FRAME_OVERHEAD}`,
    );
  }
  const location = storeLocation(options);
  const { key: identifierKey, source } = loadIdentifierKey(options);
  logger.info('identifier key', { source });
  const store = await openStore({
    ...location,
    limits: {
      ttlMs: options.ttlMs,
      maxItemsPerStream: options.maxItemsPerStream,
      maxBytesPerStream: options.maxBytesPerStream,
      maxKeyPackagesPerDevice: options.maxKeyPackagesPerDevice,
      maxKeyPackageBytesPerIdentity: options.maxKeyPackageBytesPerIdentity,
      maxTotalBytes: options.maxTotalBytes,
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
      maxConnectionsPerIp: options.maxConnectionsPerIp,
      maxConnections: options.maxConnections,
      maxBufferedBytes: options.maxBufferedBytes,
      registrationLimits: {
        perConnection: {
          burst: options.registrationBurstPerConnection,
          refillMs: options.registrationRefillMsPerConnection,
        },
        perPeer: { burst: options.registrationBurstPerPeer, refillMs: options.registrationRefillMsPerPeer },
        global: { burst: options.registrationBurstGlobal, refillMs: options.registrationRefillMsGlobal },
      },
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
