/**
 * What every server process (`umbra directory`, `umbra delivery`, `umbra mix`, `umbra gateway`) shares
 * around its own work: the operator options (the /metrics, /health and /ready endpoint, logging, the
 * graceful-stop timeout) spread into each process's schema, `--help` and the options, logger and metrics
 * registry from the command line, a start under an installed shutdown, and the exit codes of a failed start
 * (2 for a refused configuration, 1 for anything else).
 *
 * A process started by another one (the devnet, `umbra up`) must not outlive it, even when that parent is
 * killed with SIGKILL and so can stop nothing. The parent spawns it with an IPC channel (`CHILD_STDIO`); the
 * operating system closes the channel when the parent dies, however it dies, and the child sees
 * 'disconnect' and sends itself SIGTERM, so it stops through its own graceful shutdown (data flushed,
 * databases closed) exactly as if an operator had stopped it. An IPC channel rather than standard input:
 * it cannot be closed by accident (a role that reads stdin, a shell redirect) and exists only when a Node
 * parent asked for it, so a process an operator starts by hand has none and is not affected.
 */
import { ConfigError } from '../errors.ts';
import { type ConfigOf, type ConfigSchema, describeOptions, loadConfig } from './config.ts';
import { createLogger, LOG_LEVELS, type Logger } from './logger.ts';
import { MetricsRegistry } from './metrics.ts';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, installShutdown, type Shutdown } from './shutdown.ts';

/** Spread last into a process's schema, so `--help` lists them after its own options. */
export const PROCESS_OPTIONS = {
  opsHost: { type: 'string', default: '127.0.0.1', description: 'address of /metrics, /health and /ready' },
  opsPort: {
    type: 'integer',
    min: 0,
    max: 65_535,
    description: 'port of /metrics, /health and /ready (off if unset)',
  },
  logLevel: { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'lowest log level written' },
  logReveal: { type: 'list', description: 'log fields to show despite the redaction list' },
  shutdownTimeoutMs: {
    type: 'integer',
    default: DEFAULT_SHUTDOWN_TIMEOUT_MS,
    min: 100,
    max: 300_000,
    description: 'time allowed for a graceful stop',
  },
} as const satisfies ConfigSchema;

/** The `ops` endpoint the options ask for: none without `--ops-port`. */
export function opsFromOptions(options: { readonly opsHost: string; readonly opsPort: number | undefined }): {
  readonly ops?: { readonly host: string; readonly port: number };
} {
  return options.opsPort === undefined ? {} : { ops: { host: options.opsHost, port: options.opsPort } };
}

/** Prints the usage of `command` and its options when `argv` asks for `--help`; says whether it did. */
export function printHelp(command: string, schema: ConfigSchema, argv: readonly string[]): boolean {
  if (!argv.includes('--help')) return false;
  process.stdout.write(`usage: ${command} [options]\n\n${describeOptions(schema)}\n`);
  return true;
}

/**
 * A process's options from its command line (`ConfigError` if refused), its logger and its one metrics
 * registry (with the default process metrics); undefined after printing the help `--help` asks for.
 */
export function loadProcessConfig<S extends ConfigSchema & typeof PROCESS_OPTIONS>(
  command: string,
  role: string,
  schema: S,
  argv: readonly string[],
): { readonly options: ConfigOf<S>; readonly logger: Logger; readonly metrics: MetricsRegistry } | undefined {
  if (printHelp(command, schema, argv)) return undefined;
  const options = loadConfig(schema, argv);
  const common: ConfigOf<typeof PROCESS_OPTIONS> = options;
  return {
    options,
    logger: createLogger({ role, level: common.logLevel, reveal: common.logReveal }),
    metrics: new MetricsRegistry({ processMetrics: true }),
  };
}

/**
 * Starts a service with the shutdown installed first: a signal that comes while it starts stops the
 * process, never kills it mid-write, and one that comes after it is ready always finds the hook `name`.
 */
export async function startUnderShutdown<H extends { stop(): Promise<void> }>(
  options: { readonly name: string; readonly logger: Logger; readonly timeoutMs: number },
  start: () => Promise<H>,
): Promise<{ readonly handle: H; readonly shutdown: Shutdown }> {
  const shutdown = installShutdown({ logger: options.logger, timeoutMs: options.timeoutMs });
  let handle: H;
  try {
    handle = await start();
  } catch (error) {
    shutdown.dispose();
    throw error;
  }
  shutdown.add(options.name, () => handle.stop());
  return { handle, shutdown };
}

/**
 * The `stdio` a parent gives a child process it logs and must not leave behind: no stdin, stdout and stderr
 * piped, and the IPC channel whose closing tells the child that its parent is gone.
 */
export const CHILD_STDIO = ['ignore', 'pipe', 'pipe', 'ipc'] as const;

/**
 * Runs a process's `main` when its module is the entry point: exit 2 for a refused configuration, 1 else.
 * Started with an IPC channel (`CHILD_STDIO`), it stops gracefully (SIGTERM to itself) when the channel
 * closes, that is when its parent dies.
 */
export function runProcess(command: string, main: (argv: readonly string[]) => Promise<unknown>): void {
  const onParentGone = () => process.kill(process.pid, 'SIGTERM');
  if (process.connected) process.once('disconnect', onParentGone);
  main(process.argv.slice(2)).then(
    (result) => {
      // Nothing was started (`--help`): the listener alone would hold the process open on the channel.
      if (result === undefined) process.off('disconnect', onParentGone);
    },
    (error: unknown) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`${command}: ${error.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${command}: failed to start: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
