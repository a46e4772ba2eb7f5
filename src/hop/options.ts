/**
 * Options every network node process shares (`umbra mix`, `umbra gateway`), in the schema language of
 * src/ops/config.ts: where the directory is and which authority keys to pin, the Sphinx geometry (the same
 * four choices and defaults as `umbra directory`, so equal options derive an equal geometry hash), the link
 * listener, the operator endpoints and logging. Also the helpers that turn them into values (the `NodeConfig`
 * of src/hop/node-process.ts).
 */
import { readFileSync } from 'node:fs';
import { type AuthorityPublicKeys, parseAuthorityPublicKeys } from '../directory/authority-keys.ts';
import { geometryFromOptions, SPHINX_OPTIONS } from '../directory/geometry-options.ts';
import { CodecError, ConfigError } from '../errors.ts';
import type { LinkDelay } from '../links/index.ts';
import type { ConfigOf, ConfigSchema } from '../ops/config.ts';
import { hostForUrl } from '../ops/http.ts';
import type { Logger } from '../ops/logger.ts';
import { opsFromOptions, PROCESS_OPTIONS } from '../ops/process.ts';
import { DEFAULT_POLL_MS, type DirectoryLink } from './directory-session.ts';
import type { NodeConfig } from './node-process.ts';

/** How long a node waits for the directory's first document when it starts. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 30_000;

export const NODE_OPTIONS = {
  dataDir: {
    type: 'string',
    required: true,
    description: 'directory for the identity, TLS and Sphinx keys, the replay filter and queues',
  },
  directoryUrl: { type: 'string', required: true, description: 'http(s) URL of the directory authority' },
  authorityKeys: {
    type: 'string',
    description: 'the authority public keys (base64url text of authority.pub); or --authority-keys-file',
  },
  authorityKeysFile: { type: 'string', description: 'a file holding the authority public keys' },
  host: { type: 'string', default: '127.0.0.1', description: 'address the link (TLS) listener binds' },
  port: {
    type: 'integer',
    default: 0,
    min: 0,
    max: 65_535,
    description: 'port of the link listener (0: any)',
  },
  advertiseHost: {
    type: 'string',
    description: 'host other nodes reach the link listener at, as registered (default: --host)',
  },
  ...SPHINX_OPTIONS,
  hops: { type: 'integer', default: 5, min: 1, max: 32, description: 'Sphinx hops (layers + 2 gateways)' },
  pollMs: {
    type: 'integer',
    default: DEFAULT_POLL_MS,
    min: 50,
    max: 600_000,
    description: 'how often the network document is fetched and the registration checked',
  },
  startupTimeoutMs: {
    type: 'integer',
    default: DEFAULT_STARTUP_TIMEOUT_MS,
    min: 0,
    max: 600_000,
    description: 'how long to wait for the directory at start',
  },
  linkDelayMs: {
    type: 'integer',
    default: 0,
    min: 0,
    max: 60_000,
    description: 'simulated latency added to every outgoing link, for bad-weather tests and drills',
  },
  linkJitterMs: {
    type: 'integer',
    default: 0,
    min: 0,
    max: 60_000,
    description: 'uniform jitter (±) around --link-delay-ms; bursts on one link keep their order',
  },
  workers: {
    type: 'integer',
    min: 0,
    max: 256,
    description: 'crypto worker threads (0: unwrap on the main thread; default one per core)',
  },
  ...PROCESS_OPTIONS,
} as const satisfies ConfigSchema;

/** The simulated link latency the options ask for, as a config field (none when both are 0). */
export function linkDelayConfig(options: { readonly linkDelayMs: number; readonly linkJitterMs: number }): {
  readonly linkDelay?: LinkDelay;
} {
  const { linkDelayMs, linkJitterMs } = options;
  return linkDelayMs + linkJitterMs === 0 ? {} : { linkDelay: { ms: linkDelayMs, jitterMs: linkJitterMs } };
}

/** The pinned authority keys, from `--authority-keys` or `--authority-keys-file` (exactly one). */
function authorityKeysFromOptions(options: {
  readonly authorityKeys: string | undefined;
  readonly authorityKeysFile: string | undefined;
}): AuthorityPublicKeys {
  const { authorityKeys, authorityKeysFile } = options;
  if ((authorityKeys === undefined) === (authorityKeysFile === undefined)) {
    throw new ConfigError('missing_value', 'pass exactly one of --authority-keys and --authority-keys-file');
  }
  let text = authorityKeys ?? '';
  if (authorityKeysFile !== undefined) {
    try {
      text = readFileSync(authorityKeysFile, 'utf8');
    } catch {
      throw new ConfigError('unreadable_file', `cannot read the authority keys file ${authorityKeysFile}`);
    }
  }
  try {
    return parseAuthorityPublicKeys(text);
  } catch (error) {
    if (error instanceof CodecError)
      throw new ConfigError('invalid_value', 'authority keys: not the text of authority.pub');
    throw error;
  }
}

/** The directory a node follows, as its options name it: URL, pinned authority keys and expected geometry. */
function directoryLinkFromOptions(options: ConfigOf<typeof NODE_OPTIONS>): DirectoryLink {
  return {
    url: options.directoryUrl,
    authorityKeys: authorityKeysFromOptions(options),
    geometry: geometryFromOptions(options),
  };
}

/** The configuration every node shares (`startMix`, `startGateway`), as its options give it. */
export function nodeConfigFromOptions(options: ConfigOf<typeof NODE_OPTIONS>, logger: Logger): NodeConfig {
  return {
    dataDir: options.dataDir,
    directory: directoryLinkFromOptions(options),
    ...(options.advertiseHost === undefined ? {} : { advertiseHost: options.advertiseHost }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    ...linkDelayConfig(options),
    pollMs: options.pollMs,
    startupTimeoutMs: options.startupTimeoutMs,
    ...opsFromOptions(options),
    logger,
  };
}

/** host:port as the directory expects it (IPv6 in brackets). */
export function formatAddress(host: string, port: number): string {
  return `${hostForUrl(host)}:${port}`;
}
