/**
 * A CPU hog for bad-weather tests and benchmarks: child processes that each spin a core, so what runs beside
 * them gets the share of the machine a loaded server or a slow phone would give it. The children die with
 * their parent (SIGKILL on stop, and they exit on their own once the parent's IPC channel closes).
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface CpuHog {
  readonly processes: number;
  stop(): void;
}

// Spins in slices so that the 'disconnect' event (the parent died) gets a turn.
const SPIN = `process.on('disconnect', () => process.exit(0));
const spin = () => { const end = Date.now() + 50; while (Date.now() < end) {} setImmediate(spin); };
spin();`;

/** Starts `processes` spinning children (default 2: as many as the 2-core machines this project targets). */
export function startCpuHog(processes = 2): CpuHog {
  const children: ChildProcess[] = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['-e', SPIN], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] }),
  );
  return {
    processes,
    stop() {
      for (const child of children) child.kill('SIGKILL');
    },
  };
}
