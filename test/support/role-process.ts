// A server role's main.ts (`umbra directory`, `delivery`, `mix`, `gateway`) run as a child process for its
// process tests, in a network namespace of its own if asked: its JSON log lines (other lines kept as the
// message), standard error and exit code.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface LogLine {
  readonly msg: string;
  readonly role?: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** A role's main.ts as a child process, its JSON log lines collected. */
export class RoleProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly #waiting = new Set<() => void>();

  /** `netns`: run it inside that Linux network namespace (`ip netns exec`, as root). */
  constructor(main: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, netns?: string) {
    const argv = [process.execPath, main, ...args];
    this.child =
      netns === undefined
        ? spawn(process.execPath, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env })
        : spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
    // 'close' comes after standard output has ended, so every line has been read by then.
    this.exited = once(this.child, 'close').then(() => this.child.exitCode);
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      try {
        this.lines.push(JSON.parse(text) as LogLine);
      } catch {
        this.lines.push({ msg: text });
      }
      for (const wake of this.#waiting) wake();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += String(chunk);
    });
  }

  /** The first line with this message (waiting for it), or a rejection if the process exits first. */
  async logged(msg: string, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.find((candidate) => candidate.msg === msg);
      if (line) return line;
      if (this.child.exitCode !== null)
        throw new Error(`exited (${this.child.exitCode}) before "${msg}": ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no "${msg}" in time`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiting.delete(wake);
          resolve();
        };
        this.#waiting.add(wake);
        setTimeout(wake, 100);
      });
    }
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}
