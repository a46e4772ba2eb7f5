/**
 * `umbra client` as scripts use it, against a real `umbra up` child process, through a recording TCP proxy
 * in front of its web port (what an observer of the user's connection sees): two `umbra client run`
 * daemons, then a sequence of short commands — register, watch, send, read, conversations, safety numbers,
 * status, stop — over their local sockets. The whole sequence opens one gateway connection per daemon and
 * none per command; the watcher prints the message once; safety numbers agree and verification is
 * remembered; the socket is private (0600); a command with no daemon fails with exit code 1, a wrong
 * passphrase fails `run` with 1, bad usage exits 2.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startUmbraUp, type UmbraUp } from './umbra-up.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const run = promisify(execFile);
/** Generous caps: on a busy 2-core machine a message through the pools takes seconds, a sign-up tens. */
const CAP_MS = 240_000;

let dataDir: string;
let up: UmbraUp;
let proxy: Server;
let web: string;
/** The processes whose gateway connections count as theirs: the daemons. */
const daemonPids = new Set<number>();
/** Every gateway WebSocket through the proxy: the daemon that opened it, or undefined for anyone else. */
const gatewayConnections: (number | undefined)[] = [];

/**
 * Which of `pids` holds the TCP socket whose local port is `port` (Linux /proc: the socket's inode in
 * /proc/net/tcp, then the processes' descriptors), if any.
 */
async function ownerOf(port: number, pids: Iterable<number>): Promise<number | undefined> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const tables = await Promise.all(
    ['/proc/net/tcp', '/proc/net/tcp6'].map((path) => readFile(path, 'utf8').catch(() => '')),
  );
  const inodes = new Set(
    tables
      .flatMap((table) => table.split('\n').slice(1))
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[1]?.endsWith(hex))
      .map((fields) => `socket:[${fields[9]}]`),
  );
  for (const pid of pids) {
    for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
      if (inodes.has(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''))) return pid;
    }
  }
  return undefined;
}

const env = (user: string) => ({ ...process.env, UMBRA_PASSPHRASE: `${user}'s passphrase` });

/** A short command: it is given the proxy's URL too, so a connection it opened would be seen. */
function client(user: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(
    process.execPath,
    [
      CLI,
      'client',
      ...args,
      '--web',
      web,
      '--data-dir',
      join(dataDir, user),
      '--json',
      `--timeout-ms=${CAP_MS}`,
    ],
    { env: env(user), timeout: CAP_MS },
  );
}

/**
 * `register`, once more if the delivery service was out of reach (a starved machine): the keys are kept and
 * a second try finishes the registration, as the error says.
 */
function register(user: string): Promise<unknown> {
  return client(user, 'register', user).catch((error: { stderr?: string }) => {
    if (!/unreachable/.test(error.stderr ?? '')) throw error;
    return client(user, 'register', user);
  });
}

function lines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the output holds a line for which `match` is true. */
  until(match: (line: Record<string, unknown>) => boolean, what: string): Promise<void>;
}

/** Every process followed, whose output a timeout shows beside the one waited on. */
const followed: Running[] = [];

/** A child printing JSON lines, with an event-driven wait on them (capped at CAP_MS). */
function follow(child: ChildProcess): Running {
  let output = '';
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    output += text;
    for (const waiter of waiters) waiter();
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const running: Running = {
    child,
    output: () => output,
    until: (match, what) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          const others = followed.filter((other) => other.child !== child).map((other) => other.output());
          reject(
            new Error(
              `timed out waiting for ${what}; output:\n${output}\nthe other processes:\n${others.join('\n--\n')}`,
            ),
          );
        }, CAP_MS);
        const check = () => {
          const found = output
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .some((line) => match(JSON.parse(line) as Record<string, unknown>));
          if (found) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      }),
  };
  followed.push(running);
  return running;
}

function daemon(user: string): Running {
  const running = follow(
    spawn(
      process.execPath,
      [CLI, 'client', 'run', '--web', web, '--data-dir', join(dataDir, user), '--json'],
      {
        env: env(user),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  daemonPids.add(running.child.pid as number);
  return running;
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'umbra-client-'));
  up = await startUmbraUp(['--data-dir', join(dataDir, 'up')], 2 * CAP_MS);
  const upstream = new URL(up.url);
  proxy = createServer((socket) => {
    const target = createConnection(Number(upstream.port), upstream.hostname);
    socket.once('data', (chunk: Buffer) => {
      if (!/^GET \/ws\/gateway\b/.test(chunk.toString('latin1'))) return;
      void ownerOf(socket.remotePort as number, daemonPids).then((pid) => gatewayConnections.push(pid));
    });
    socket.pipe(target).pipe(socket);
    socket.on('error', () => target.destroy());
    target.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address() as { port: number };
  web = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  proxy.close();
  assert.equal(await up.interrupt(), 0);
  await rm(dataDir, { recursive: true, force: true });
});

test('two running clients serve a sequence of commands over one gateway connection each', async () => {
  const daemons = { erin: daemon('erin'), frank: daemon('frank') };
  let watcher: Running | undefined;
  try {
    await Promise.all(
      Object.values(daemons).map((d) => d.until((line) => line.event === 'running', 'the daemon')),
    );
    const socket = await stat(join(dataDir, 'erin', 'client.sock'));
    assert.equal(socket.mode & 0o777, 0o600, 'the socket is for its owner only');

    await Promise.all([register('erin'), register('frank')]);
    watcher = follow(
      spawn(process.execPath, [CLI, 'client', 'watch', '--data-dir', join(dataDir, 'frank'), '--json'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    await watcher.until((line) => line.event === 'watching', 'the watch');
    const sent = lines((await client('erin', 'send', 'frank', 'hello from a script')).stdout);
    assert.equal(sent[0]?.event, 'acknowledged');
    await watcher.until((line) => line.text === 'hello from a script', 'the message');
    const read = lines((await client('frank', 'read')).stdout);
    assert.deepEqual(
      read.map((line) => [line.event, line.from, line.text]),
      [['message', 'erin', 'hello from a script']],
    );
    const conversations = lines((await client('erin', 'conversations')).stdout);
    assert.deepEqual(conversations[0]?.members, ['erin', 'frank']);

    const [erinSide] = lines((await client('erin', 'safety-number', 'frank', '--verify')).stdout);
    const [frankSide, again] = await Promise.all([
      client('frank', 'safety-number', 'erin').then(({ stdout }) => lines(stdout)[0]),
      client('erin', 'safety-number', 'frank').then(({ stdout }) => lines(stdout)[0]),
    ]);
    assert.match(String(erinSide?.digits), /^\d{60}$/);
    assert.equal(erinSide?.digits, frankSide?.digits);
    assert.equal(erinSide?.verified, true);
    assert.equal(frankSide?.verified, false);
    assert.equal(again?.verified, true, 'verification is remembered in the vault');
    const [status] = lines((await client('erin', 'status')).stdout);
    assert.equal(status?.handle, 'erin');

    const exited = once(watcher.child, 'exit');
    watcher.child.kill('SIGINT');
    assert.deepEqual(await exited, [0, null]);
    const messages = lines(watcher.output()).filter((line) => line.event === 'message');
    assert.equal(messages.length, 1, 'the watcher printed the message once');

    // Stopping through the socket ends the daemon; afterwards a command finds nobody to ask.
    const stopped = once(daemons.erin.child, 'exit');
    await client('erin', 'stop');
    assert.deepEqual(await stopped, [0, null]);
    await assert.rejects(client('erin', 'status'), (error: { code?: number; stderr?: string }) => {
      return error.code === 1 && /not_running/.test(error.stderr ?? '');
    });
  } finally {
    watcher?.child.kill('SIGINT');
    for (const d of Object.values(daemons)) if (d.child.exitCode === null) d.child.kill('SIGTERM');
    await Promise.all(
      Object.values(daemons).map((d) => (d.child.exitCode === null ? once(d.child, 'exit') : undefined)),
    );
  }
  // One gateway connection per daemon for the whole sequence, none per command. A daemon may reconnect
  // after its connection failed (a starved machine can take a stall for a hung gateway, and a reconnection
  // may take several attempts); it then says so by leaving full privacy.
  assert.deepEqual(
    gatewayConnections.filter((pid) => pid === undefined),
    [],
    'no gateway connection from anything but the daemons',
  );
  for (const [user, d] of Object.entries(daemons)) {
    const opened = gatewayConnections.filter((pid) => pid === d.child.pid).length;
    const drops = lines(d.output().replace(/^[^{].*$/gm, '')).filter(
      (line) => line.event === 'privacy' && line.level !== 'full',
    ).length;
    if (drops === 0) assert.equal(opened, 1, `${user}'s daemon: one connection from start to stop`);
    else assert.ok(opened >= 1, `${user}'s daemon reconnected after ${drops} drops: ${opened} connections`);
  }
});

test('a wrong passphrase fails run with 1, and bad usage exits 2', async () => {
  await assert.rejects(
    run(process.execPath, [CLI, 'client', 'run', '--web', web, '--data-dir', join(dataDir, 'frank')], {
      env: { ...process.env, UMBRA_PASSPHRASE: 'not the passphrase' },
    }),
    (error: { code?: number; stderr?: string }) =>
      error.code === 1 && /wrong_passphrase/.test(error.stderr ?? ''),
  );
  await assert.rejects(
    run(process.execPath, [CLI, 'client', 'send', 'frank'], { env: process.env }),
    (error: { code?: number }) => error.code === 2,
  );
});
