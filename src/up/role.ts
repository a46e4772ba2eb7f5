/**
 * `umbra up` (what `npm start` runs), as a library (`runUp(argv)`; src/up/main.ts is its process entry): a
 * complete local deployment on loopback in one command — the directory authority, a gateway, three mix
 * layers, the delivery service (SQLite under the data directory, or PostgreSQL with `--postgres`) and the web
 * app — with progress while it starts, a status table, and the line `umbra is ready at <url>`. Components run
 * as child processes (the default) or in this process (`--single-process`, for debugging). Keys and data live
 * under `--data-dir` (default `./.umbra`), so a second start reuses them. SIGINT/SIGTERM stop everything in
 * order (web server, network, delivery service) and exit 0; a second Ctrl-C exits at once.
 *
 * Standard input takes a few commands for trying failures by hand (and for tests): `stop gateway`, `start
 * gateway`, `status`. Exit codes: 0 after a clean stop, 1 after a failed start or stop, 2 for a refused
 * configuration. Its components stop by themselves if it is killed (src/ops/process.ts); run directly with an
 * IPC channel, it stops in turn when its own parent dies.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MIXING_PARAMETERS, type MixingParameters } from '../directory/document.ts';
import { ConfigError } from '../errors.ts';
import { linkDelayConfig } from '../hop/options.ts';
import { type ConfigOf, type ConfigSchema, loadConfig } from '../ops/config.ts';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../ops/logger.ts';
import { printHelp } from '../ops/process.ts';
import { installShutdown, type Shutdown } from '../ops/shutdown.ts';
import { PRIVACY_POLICIES } from '../protocol/carrier.ts';
import { WEB_CONFIG_VERSION, type WebConfig } from '../protocol/web-config.ts';
import { bundleWebApp } from './bundle.ts';
import { type RunningNetwork, startNetwork } from './network.ts';
import { progress, readyLine, statusTable } from './report.ts';
import { startWebServer, type WebServer } from './web-server.ts';

/**
 * `umbra up`'s mixing parameters: the directory's defaults (`DEFAULT_MIXING_PARAMETERS`, three layers among
 * them) but for the rounds, batches and client rate, chosen for an interactive app on one machine.
 * 50 ms rounds, not 500: the mixes' pool holds a packet 1.5 rounds a hop, so a round trip crosses its six
 * hops in about 0.45 s where 500 ms rounds take about 4.5 s (docs/web.md "The rounds"; at 50 ms the burst
 * attackers of docs/privacy.md still stay at chance). λ = 20 packets/s per client, not 2: a 13 kB request
 * leaves in its seven packets within about 0.35 s. B = 16, not 32: at 50 ms rounds each client sends one
 * packet a round, so one batch holds a round's packets from up to 16 tabs, and the dummies every round tops
 * up to B cost half as much at twenty rounds a second.
 */
export const UP_PARAMETERS: MixingParameters = {
  ...DEFAULT_MIXING_PARAMETERS,
  roundPeriodMs: 50,
  batchSize: 16,
  clientSendRate: 20,
};

export const UP_OPTIONS = {
  dataDir: { type: 'string', default: '.umbra', description: 'where keys, databases and logs are kept' },
  host: { type: 'string', default: '127.0.0.1', description: 'address the web app listens on' },
  port: { type: 'integer', default: 8080, min: 0, max: 65_535, description: 'port of the web app' },
  postgres: {
    type: 'string',
    secret: true,
    description: 'PostgreSQL URL for the delivery service (default: SQLite under --data-dir)',
  },
  nodesPerLayer: {
    type: 'integer',
    default: 1,
    min: 1,
    max: 8,
    description: `mix nodes in each of the ${UP_PARAMETERS.layers} layers`,
  },
  // The flags keep the names people type; they set roundPeriodMs, batchSize and clientSendRate.
  roundMs: {
    type: 'integer',
    default: UP_PARAMETERS.roundPeriodMs,
    min: 10,
    max: 60_000,
    description: 'mixing round period',
  },
  batchSize: {
    type: 'integer',
    default: UP_PARAMETERS.batchSize,
    min: 1,
    max: 10_000,
    description: 'packets per mix batch',
  },
  sendRate: {
    type: 'number',
    default: UP_PARAMETERS.clientSendRate,
    min: 0.1,
    max: 100,
    description: "each client's constant packet rate λ per second (real or cover)",
  },
  linkDelayMs: {
    type: 'integer',
    default: 0,
    min: 0,
    max: 60_000,
    description: 'simulated latency on every link between nodes, to try the app in bad weather',
  },
  linkJitterMs: {
    type: 'integer',
    default: 0,
    min: 0,
    max: 60_000,
    description: 'uniform jitter (±) around --link-delay-ms',
  },
  privacy: {
    type: 'string',
    default: 'mixnet',
    choices: PRIVACY_POLICIES,
    description: 'privacy policy of the web app (mixnet: never falls back to direct)',
  },
  singleProcess: { type: 'boolean', description: 'run every component in this process (debugging)' },
  logLevel: {
    type: 'string',
    default: 'warn',
    choices: LOG_LEVELS,
    description: 'lowest level of the components’ logs (written under <data-dir>/logs)',
  },
} as const satisfies ConfigSchema;

export type UpOptions = ConfigOf<typeof UP_OPTIONS>;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `umbra up`'s own log lines: readable on a terminal, pino's JSON when its output goes to a file or pipe. */
function upLogger(level: LogLevel): Logger {
  return createLogger({ role: 'up', level, pretty: process.stdout.isTTY === true });
}

export interface Up {
  readonly web: WebServer;
  readonly network: RunningNetwork;
  /** Stops the web server, then the network and the delivery service. */
  close(): Promise<void>;
}

export interface StartUpOptions {
  /**
   * 'eager' (default) bundles the web app while the network starts, so the first page load is quick;
   * 'lazy' bundles it on the first request of /app.js (for `umbra demo`, whose users are in Node).
   */
  readonly bundle?: 'eager' | 'lazy';
}

/** Starts the deployment, writing progress to `write`. `runUp` adds the signals, stdin and exit codes. */
export async function startUp(
  options: UpOptions,
  write: (text: string) => void,
  start: StartUpOptions = {},
): Promise<Up> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const report = progress(write);
  const logger = upLogger(options.logLevel);
  report.line(`umbra up: data in ${dataDir}`);

  // The bundle is built while the network starts (esbuild and key generation overlap), or on first use.
  let bundle: Promise<Uint8Array> | undefined;
  const app = (): Promise<Uint8Array> => {
    bundle ??= bundleWebApp({ root: ROOT, cacheDir: resolve(dataDir, 'web'), logger }).then((result) => {
      report.step(result.cached ? 'web app bundle (cached)' : 'web app bundled');
      return result.js;
    });
    return bundle;
  };
  if (start.bundle !== 'lazy') app().catch(() => {}); // awaited below; must not be unhandled meanwhile

  // The web server listens first, so a port in use is reported before anything else starts; it answers
  // 503 for the configuration and the relays until the network is up.
  let network: RunningNetwork | undefined;
  const started = (): RunningNetwork => {
    if (network === undefined) throw new Error('the network is still starting');
    return network;
  };
  let web: WebServer;
  try {
    web = await startWebServer({
      host: options.host,
      port: options.port,
      webRoot: resolve(ROOT, 'web'),
      app,
      config: (): WebConfig => ({
        version: WEB_CONFIG_VERSION,
        directoryPath: '/directory',
        authorityPublicKeys: started().authorityPublicKeys,
        gatewayPath: '/ws/gateway',
        deliveryPath: started().delivery === undefined ? null : '/ws/delivery',
        geometry: started().geometry,
        privacy: options.privacy,
      }),
      upstreams: () => started().upstreams(),
      ready: () => network !== undefined,
      logger,
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EADDRINUSE') {
      throw new ConfigError('invalid_value', `port: ${options.port} is in use; choose another with --port`);
    }
    throw error;
  }
  try {
    network = await startNetwork({
      dataDir,
      parameters: {
        ...UP_PARAMETERS,
        roundPeriodMs: options.roundMs,
        batchSize: options.batchSize,
        clientSendRate: options.sendRate,
      },
      nodesPerLayer: options.nodesPerLayer,
      ...linkDelayConfig(options),
      postgres: options.postgres,
      singleProcess: options.singleProcess,
      logLevel: options.logLevel,
      step: report.step,
      logger,
    });
  } catch (error) {
    await web.close();
    throw error;
  }
  const running = network;
  try {
    if (start.bundle !== 'lazy') await app();
  } catch (error) {
    await web.close();
    await running.close();
    throw error;
  }
  report.line('');
  report.line(
    statusTable([...running.rows(), { role: 'web app', address: web.url, detail: 'open it in two windows' }]),
  );
  report.line(`  ${running.summary()}`);
  report.line('');
  report.line(readyLine(web.url));
  return {
    web,
    network: running,
    close: async () => {
      await web.close();
      await running.close();
    },
  };
}

/** The commands standard input accepts; the answers go to `write`. */
function listenForCommands(up: Up, write: (text: string) => void, shutdown: Shutdown): void {
  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on('line', (line) => {
    const [verb, target] = line.trim().split(/\s+/);
    if (verb === undefined || verb === '') return;
    const act = async () => {
      if (verb === 'status') return write(`${statusTable(up.network.rows())}\n  ${up.network.summary()}\n`);
      if ((verb === 'stop' || verb === 'start') && target !== undefined) {
        await up.network.control(verb, target);
        return write(`${target} ${verb === 'stop' ? 'stopped' : 'started'}\n`);
      }
      if (verb === 'quit' || verb === 'exit') {
        void shutdown.run('quit').then((code) => process.exit(code));
        return;
      }
      write('commands: status, stop <component>, start <component>, quit\n');
    };
    act().catch((error: unknown) => write(`${verb}: ${(error as Error).message}\n`));
  });
  // Standard input closing (a detached `npm start`) must not stop the deployment.
  lines.on('close', () => {});
}

export async function runUp(argv: readonly string[]): Promise<Up | undefined> {
  if (printHelp('umbra up', UP_OPTIONS, argv)) return undefined;
  const options = loadConfig(UP_OPTIONS, argv);
  const write = (text: string) => process.stdout.write(text);
  const logger = upLogger(options.logLevel);
  // The stop hook is in place before anything starts: a Ctrl-C during the start waits for the start to
  // settle, then stops whatever did start, so no child process outlives this one.
  const shutdown = installShutdown({ logger, timeoutMs: 30_000 });
  const starting = startUp(options, write);
  shutdown.add('umbra up', async () => {
    const started = await starting.catch(() => undefined);
    write('\nstopping umbra…\n');
    await started?.close();
    write('stopped\n');
  });
  let up: Up;
  try {
    up = await starting;
  } catch (error) {
    shutdown.dispose();
    throw error;
  }
  listenForCommands(up, write, shutdown);
  return up;
}
