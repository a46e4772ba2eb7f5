/**
 * Graceful shutdown for server processes. SIGINT or SIGTERM runs the registered close hooks one after
 * another, in the order they were added (add them in the order the process should stop: stop accepting,
 * finish or persist the work in progress, close storage), then exits 0. A hook that throws is logged and the
 * rest still run; if they take longer than the timeout altogether, or a second signal arrives (an operator
 * pressing Ctrl-C again), the process exits 1 at once, so a stuck peer can never keep a node from stopping.
 */
import type { Logger } from './logger.ts';

export type CloseHook = () => Promise<void> | void;

export interface ShutdownOptions {
  readonly logger: Logger;
  /** Time all hooks together may take; default 10 s. */
  readonly timeoutMs?: number;
  /** Default SIGINT and SIGTERM. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Default process.exit; tests pass a recorder. */
  readonly exit?: (code: number) => void;
}

export interface Shutdown {
  /** Registers a hook; hooks run in the order they were added. */
  add(name: string, hook: CloseHook): void;
  /** Runs the hooks once (later calls return the same promise) and resolves with the exit code. */
  run(reason: string): Promise<number>;
  readonly stopping: boolean;
  /** Removes the signal handlers (for embedding and tests). */
  dispose(): void;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

export function installShutdown(options: ShutdownOptions): Shutdown {
  const { logger } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const hooks: { readonly name: string; readonly hook: CloseHook }[] = [];
  let running: Promise<number> | undefined;

  async function runHooks(): Promise<number> {
    let code = 0;
    for (const { name, hook } of hooks) {
      try {
        await hook();
        logger.debug('closed', { component: name });
      } catch (error) {
        code = 1;
        logger.error('close hook failed', { component: name, error });
      }
    }
    return code;
  }

  function run(reason: string): Promise<number> {
    if (running) return running;
    logger.info('shutting down', { reason });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        logger.error('shutdown timed out', { timeoutMs });
        resolve(1);
      }, timeoutMs);
    });
    running = Promise.race([runHooks(), timeout]).finally(() => clearTimeout(timer));
    return running;
  }

  function onSignal(signal: NodeJS.Signals): void {
    if (running) {
      logger.warn('second signal, exiting now', { signal });
      exit(1);
      return;
    }
    void run(signal).then((code) => {
      if (code === 0) logger.info('stopped');
      exit(code);
    });
  }

  for (const signal of signals) process.on(signal, onSignal);

  return {
    add(name, hook) {
      hooks.push({ name, hook });
    },
    run,
    get stopping() {
      return running !== undefined;
    },
    dispose() {
      for (const signal of signals) process.off(signal, onSignal);
    },
  };
}
