/**
 * `umbra up` as a real child process for tests: started on a free port (`--port 0`) over a data directory,
 * its output collected, commands written to its standard input, stopped with SIGINT like Ctrl-C.
 *
 * It runs in a session of its own, as a network runs on hosts of its own. Linux schedules each session as one
 * group (autogroup), and Chromium starts its own: a network left in the test runner's session shares one
 * group's CPU with every other test file's processes, while the pages get a whole group's. On a busy suite
 * (load 20 on 2 cores) that left the gateway 2 % of a core (measured: 0.04 s run, 1.5 s queued per 2 s) and
 * 800 KB unread in its sockets, an artefact of the harness rather than weather; the weather scenario brings
 * its own (throttled pages, slow rounds, delayed links, a CPU hog).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const READY = /^umbra is ready at (http:\/\/\S+)$/m;

/** A line of standard output and when it arrived: milliseconds from the spawn. */
export interface TimedLine {
  readonly text: string;
  readonly ms: number;
}

export interface UmbraUp {
  readonly process: ChildProcess;
  readonly url: string;
  /** Everything written to standard output and error so far. */
  output(): string;
  /** Each complete line of standard output so far, timed from the spawn (for the start-up bench). */
  lines(): readonly TimedLine[];
  /** Writes a console command and resolves when the output shows `expect`. */
  command(line: string, expect: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGINT; resolves with the exit code (null if killed by a signal). */
  interrupt(): Promise<number | null>;
  /** Process ids of this process's descendants still alive. */
  descendants(): number[];
}

function waitFor(
  read: () => string,
  pattern: RegExp,
  child: ChildProcess,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${pattern}; output:\n${read()}`));
    }, timeoutMs);
    const check = () => {
      const match = pattern.exec(read());
      if (match) {
        cleanup();
        resolve(match[1] ?? match[0]);
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`umbra up exited (${child.exitCode}); output:\n${read()}`));
    };
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    }
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

/** Children of `pid`, recursively, from `ps` (Linux and macOS). */
function descendantsOf(pid: number): number[] {
  let table: string;
  try {
    table = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const line of table.trim().split('\n')) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (child === undefined || parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop() as number) ?? []) {
      found.push(child);
      stack.push(child);
    }
  }
  return found;
}

export async function startUmbraUp(args: readonly string[], timeoutMs = 120_000): Promise<UmbraUp> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [CLI, 'up', '--port', '0', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  // Out of the runner's session, it would outlive a test that throws past its own cleanup.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  const lines: TimedLine[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    output += text;
    const ms = performance.now() - spawnedAt;
    const split = (partial + text).split('\n');
    partial = split.pop() ?? '';
    for (const line of split) lines.push({ text: line, ms });
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const read = () => output;
  let url: string;
  try {
    url = await waitFor(read, READY, child, timeoutMs);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  // Every descendant, recorded while they run: after the exit they are reparented and can no longer be found.
  let known: number[] = descendantsOf(child.pid as number);
  return {
    process: child,
    url,
    output: read,
    lines: () => lines,
    command: async (line, expect, commandTimeoutMs = 60_000) => {
      const before = output.length;
      child.stdin.write(`${line}\n`);
      await waitFor(() => output.slice(before), expect, child, commandTimeoutMs);
      known = [...new Set([...known, ...descendantsOf(child.pid as number)])];
    },
    interrupt: async () => {
      if (child.exitCode !== null) return child.exitCode;
      known = [...new Set([...known, ...descendantsOf(child.pid as number)])];
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      const [code] = (await exited) as [number | null];
      return code;
    },
    descendants: () =>
      known.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      }),
  };
}
