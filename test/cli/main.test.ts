/**
 * The `umbra` dispatcher as users run it: a real child process, its output and its exit code; `umbra
 * identity`, which prints the key a node registers with; and each role's `--help`, whose stated defaults
 * and units must be the ones the code runs with.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../src/bytes.ts';
import { DEFAULT_REGISTRATION_LIMITS } from '../../src/delivery/rate-limit.ts';
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_PING_INTERVAL_MS,
} from '../../src/delivery/server.ts';
import { DEFAULT_PURGE_INTERVAL_MS } from '../../src/delivery/service.ts';
import { DEFAULT_LIMITS } from '../../src/delivery/store/index.ts';
import { DEFAULT_SCHEMA } from '../../src/delivery/store/postgres.ts';
import { DEFAULT_EPOCH_PERIOD_MS } from '../../src/directory/epoch.ts';
import { DIRECTORY_OPTIONS, directoryConfig } from '../../src/directory/role.ts';
import { CLIENT_BURST_SECONDS, DEFAULT_GATEWAY_LIMITS } from '../../src/gateway/gateway.ts';
import { DEFAULT_SERVICE_TIMEOUT_MS } from '../../src/gateway/services.ts';
import { DEFAULT_POLL_MS, loadOrCreateNodeIdentity } from '../../src/hop/directory-session.ts';
import { DEFAULT_STARTUP_TIMEOUT_MS } from '../../src/hop/options.ts';
import { loadConfig } from '../../src/ops/config.ts';
import { silentLogger } from '../../src/ops/logger.ts';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../../src/ops/shutdown.ts';
import { DEFAULT_MAX_REQUEST_BYTES } from '../../src/protocol/messages.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function umbra(...argv: string[]): {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
} {
  const result = spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('--help lists every command and exits 0', () => {
  const { code, stdout } = umbra('--help');
  assert.equal(code, 0);
  for (const name of ['up', 'demo', 'client', 'directory', 'mix', 'gateway', 'delivery', 'identity']) {
    assert.match(stdout, new RegExp(`^  ${name} `, 'm'));
  }
});

test('umbra identity creates a node identity once and prints the key the directory admits', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'umbra-identity-'));
  try {
    const first = umbra('identity', '--data-dir', dataDir);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(join(dataDir, 'identity', 'identity.key')).mode & 0o777, 0o600);
    assert.equal(umbra('identity', '--data-dir', dataDir).stdout, first.stdout, 'the same key again');
    const identity = await loadOrCreateNodeIdentity(dataDir);
    assert.equal(first.stdout.trim(), toHex(identity.publicKey), 'the key umbra mix registers with');
    assert.equal(umbra('identity').code, 2, 'no --data-dir');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('no command prints the usage and exits 2', () => {
  const { code, stdout } = umbra();
  assert.equal(code, 2);
  assert.match(stdout, /usage: umbra <command>/);
});

test('an unknown command is refused with exit code 2', () => {
  const { code, stderr } = umbra('frobnicate');
  assert.equal(code, 2);
  assert.match(stderr, /unknown command "frobnicate"/);
});

test("a role's --help is the role's own option list", () => {
  const { code, stdout } = umbra('directory', '--help');
  assert.equal(code, 0);
  assert.match(stdout, /usage: umbra directory/);
  assert.match(stdout, /--data-dir/);
});

test('a refused configuration exits 2 and names the option', () => {
  const { code, stderr } = umbra('directory', '--no-such-option', '1');
  assert.equal(code, 2);
  assert.match(stderr, /umbra directory: .*--no-such-option/);
});

interface HelpLine {
  readonly text: string;
  /** The value after "default " in the trailing notes, as printed (JSON); absent when none is stated. */
  readonly stated?: unknown;
}

/** `umbra <role> --help`, by flag. */
function help(role: string): Map<string, HelpLine> {
  const { code, stdout } = umbra(role, '--help');
  assert.equal(code, 0);
  const lines = new Map<string, HelpLine>();
  for (const line of stdout.split('\n')) {
    const match = /^ {2}(--[a-z-]+)(?: <[^>]+>)? +(.+)$/.exec(line);
    if (match === null) continue;
    const [, flag, text] = match as unknown as [string, string, string];
    const notes = /\(([^()]*)\)$/.exec(text)?.[1]?.split('; ') ?? [];
    // The printed default is JSON; prose such as "default one per core" is a description, not a value.
    const stated = notes
      .map((note) => /^default (-?[\d.]+|true|false|".*"|\[.*\])$/.exec(note)?.[1])
      .find((value) => value !== undefined);
    lines.set(flag, stated === undefined ? { text } : { text, stated: JSON.parse(stated) });
  }
  return lines;
}

function assertStated(lines: Map<string, HelpLine>, expected: Record<string, unknown>): void {
  for (const [flag, value] of Object.entries(expected)) {
    assert.deepEqual(lines.get(flag)?.stated, value, `${flag}: ${lines.get(flag)?.text}`);
  }
}

test('umbra directory --help states the defaults, in the units, that the directory runs with', () => {
  const lines = help('directory');
  const config = directoryConfig(loadConfig(DIRECTORY_OPTIONS, ['--data-dir', 'unused']), silentLogger);
  const { parameters, geometry } = config;
  assertStated(lines, {
    '--epoch-period-ms': DEFAULT_EPOCH_PERIOD_MS,
    '--genesis-ms': config.genesisMs,
    '--layers': parameters.layers,
    '--round-period-ms': parameters.roundPeriodMs,
    '--batch-size': parameters.batchSize,
    '--client-send-rate': parameters.clientSendRate,
    '--loop-cover-share': parameters.loopCoverShare,
    '--key-grace-period-ms': parameters.keyGracePeriodMs,
    '--payload-length': geometry.userForwardPayloadLength,
    '--shutdown-timeout-ms': DEFAULT_SHUTDOWN_TIMEOUT_MS,
  });
  assert.equal(config.epochPeriodMs, DEFAULT_EPOCH_PERIOD_MS);
  // The network document carries the rate and the share in thousandths; the flags take the values themselves,
  // which the clients use as λ in packets per second and as a fraction.
  for (const [flag, { text }] of lines) assert.doesNotMatch(text, /thousandths/, flag);
  assert.match(lines.get('--client-send-rate')?.text ?? '', /^packets per second /);
  assert.match(lines.get('--loop-cover-share')?.text ?? '', /\(0 to 1\)/);
  assert.match(lines.get('--hops')?.text ?? '', /\(default: layers \+ 2 gateways\)$/);
  assert.equal(geometry.nrHops, parameters.layers + 2);
  // Mixes and gateways must derive the directory's geometry from their own defaults.
  for (const role of ['mix', 'gateway']) assertStated(help(role), { '--hops': geometry.nrHops });
});

test('umbra gateway and umbra delivery --help state the defaults the code falls back to', () => {
  const gateway = help('gateway');
  assertStated(gateway, {
    '--poll-ms': DEFAULT_POLL_MS,
    '--startup-timeout-ms': DEFAULT_STARTUP_TIMEOUT_MS,
    '--inbox-quota': DEFAULT_GATEWAY_LIMITS.inboxQuota,
    '--item-ttl-ms': DEFAULT_GATEWAY_LIMITS.itemTtlMs,
    '--max-clients': DEFAULT_GATEWAY_LIMITS.maxClients,
    '--max-clients-per-address': DEFAULT_GATEWAY_LIMITS.maxClientsPerAddress,
    '--max-client-buffered-bytes': DEFAULT_GATEWAY_LIMITS.maxClientBufferedBytes,
    '--max-service-calls': DEFAULT_GATEWAY_LIMITS.maxServiceCalls,
    '--max-delayed-packets': DEFAULT_GATEWAY_LIMITS.maxDelayedPackets,
    '--service-timeout-ms': DEFAULT_SERVICE_TIMEOUT_MS,
  });
  // The burst follows the client rate: the help states it in seconds of that rate.
  assert.match(
    gateway.get('--client-burst')?.text ?? '',
    new RegExp(`\\(default: ${CLIENT_BURST_SECONDS} s of its rate\\)$`),
  );
  const ttlHours = /\((\d+) h\)/.exec(gateway.get('--item-ttl-ms')?.text ?? '')?.[1];
  assert.equal(Number(ttlHours) * 3_600_000, DEFAULT_GATEWAY_LIMITS.itemTtlMs);

  assertStated(help('delivery'), {
    '--postgres-schema': DEFAULT_SCHEMA,
    '--ttl-ms': DEFAULT_LIMITS.ttlMs,
    '--max-items-per-stream': DEFAULT_LIMITS.maxItemsPerStream,
    '--max-bytes-per-stream': DEFAULT_LIMITS.maxBytesPerStream,
    '--max-key-packages-per-device': DEFAULT_LIMITS.maxKeyPackagesPerDevice,
    '--max-key-package-bytes-per-identity': DEFAULT_LIMITS.maxKeyPackageBytesPerIdentity,
    '--max-total-bytes': DEFAULT_LIMITS.maxTotalBytes,
    '--registration-burst-per-connection': DEFAULT_REGISTRATION_LIMITS.perConnection.burst,
    '--registration-refill-ms-per-connection': DEFAULT_REGISTRATION_LIMITS.perConnection.refillMs,
    '--registration-burst-per-peer': DEFAULT_REGISTRATION_LIMITS.perPeer.burst,
    '--registration-refill-ms-per-peer': DEFAULT_REGISTRATION_LIMITS.perPeer.refillMs,
    '--registration-burst-global': DEFAULT_REGISTRATION_LIMITS.global.burst,
    '--registration-refill-ms-global': DEFAULT_REGISTRATION_LIMITS.global.refillMs,
    '--max-connections-per-ip': DEFAULT_MAX_CONNECTIONS_PER_IP,
    '--max-connections': DEFAULT_MAX_CONNECTIONS,
    '--max-buffered-bytes': DEFAULT_MAX_BUFFERED_BYTES,
    '--max-request-bytes': DEFAULT_MAX_REQUEST_BYTES,
    '--purge-interval-ms': DEFAULT_PURGE_INTERVAL_MS,
    '--ping-interval-ms': DEFAULT_PING_INTERVAL_MS,
    '--shutdown-timeout-ms': DEFAULT_SHUTDOWN_TIMEOUT_MS,
  });
});
