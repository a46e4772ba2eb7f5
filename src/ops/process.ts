/**
 * What every server process (`umbra directory`, `umbra delivery`, `umbra mix`, `umbra gateway`) shares
 * around its own work: the operator options (the /metrics and /health endpoint, logging, the graceful-stop
 * timeout) spread into each process's schema, `--help` and the options and logger from the command line, a
 * start under an installed shutdown, and the exit codes of a failed start (2 for a refused configuration, 1
 * for anything else).
 */
import { ConfigError } from '../errors.ts';
import { type ConfigOf, type ConfigSchema, describeOptions, loadConfig } from './config.ts';
import { createLogger, LOG_LEVELS, type Logger } from './logger.ts';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, installShutdown, type Shutdown } from './shutdown.ts';

/** Spread last into a process's schema, so `--help` lists them after its own options. */
export const PROCESS_OPTIONS = {
  opsHost: { type: 'string', default: '127.0.0.1', description: 'address of /metrics and /health' },
  opsPort: {
    type: 'integer',
    min: 0,
    max: 65_535,
    description: 'port of /metrics and /health (off if unset)',
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

/**
 * A process's options from its command line (`ConfigError` if refused) and its logger; undefined after
 * printing the help `--help` asks for.
 */
export function loadProcessConfig<S extends ConfigSchema & typeof PROCESS_OPTIONS>(
  command: string,
  role: string,
  schema: S,
  argv: readonly string[],
): { readonly options: ConfigOf<S>; readonly logger: Logger } | undefined {
  if (argv.includes('--help')) {
    process.stdout.write(`usage: ${command} [options]\n\n${describeOptions(schema)}\n`);
    return undefined;
  }
  const options = loadConfig(schema, argv);
  const common: ConfigOf<typeof PROCESS_OPTIONS> = options;
  return { options, logger: createLogger({ role, level: common.logLevel, reveal: common.logReveal }) };
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

/** Runs a process's `main` when its module is the entry point: exit 2 for a refused configuration, 1 else. */
export function runProcess(command: string, main: (argv: readonly string[]) => Promise<unknown>): void {
  main(process.argv.slice(2)).catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${command}: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${command}: failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
