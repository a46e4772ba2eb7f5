// Graceful shutdown, driven by real signals sent to this process (SIGWINCH: its default action is to ignore
// it, and unlike SIGUSR2 it does not trigger Node's diagnostic reports): hooks run once, in the order they
// were added, a failing hook does not stop the others but makes the exit code 1, a hook that hangs is cut
// off by the timeout, and a second signal exits at once.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/ops/logger.ts';
import { installShutdown, type ShutdownOptions } from '../../src/ops/shutdown.ts';

function setup(options: Partial<ShutdownOptions> = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ role: 'test', level: 'debug', sink: (line) => lines.push(JSON.parse(line)) });
  const exits: number[] = [];
  let exited: (code: number) => void = () => {};
  const exitedOnce = new Promise<number>((resolve) => {
    exited = resolve;
  });
  const shutdown = installShutdown({
    logger,
    signals: ['SIGWINCH'],
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
    ...options,
  });
  return { shutdown, lines, exits, exitedOnce };
}

describe('installShutdown', () => {
  test('a signal runs the hooks in order, once, then exits 0', async () => {
    const { shutdown, exits, exitedOnce, lines } = setup();
    const order: string[] = [];
    shutdown.add('ingress', () => {
      order.push('ingress');
    });
    shutdown.add('round', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('round');
    });
    shutdown.add('storage', () => {
      order.push('storage');
    });
    try {
      process.kill(process.pid, 'SIGWINCH');
      assert.equal(await exitedOnce, 0);
      assert.deepEqual(order, ['ingress', 'round', 'storage']);
      assert.deepEqual(exits, [0]);
      assert.equal(shutdown.stopping, true);
      assert.equal(await shutdown.run('again'), 0, 'a second run returns the first result');
      assert.deepEqual(order, ['ingress', 'round', 'storage'], 'hooks ran once');
      assert.ok(lines.some((line) => line.msg === 'shutting down'));
    } finally {
      shutdown.dispose();
    }
  });

  test('a failing hook is logged, the next still runs, and the exit code is 1', async () => {
    const { shutdown, lines } = setup();
    const order: string[] = [];
    shutdown.add('broken', () => {
      throw new Error('disk gone');
    });
    shutdown.add('after', () => {
      order.push('after');
    });
    try {
      assert.equal(await shutdown.run('test'), 1);
      assert.deepEqual(order, ['after']);
      const failure = lines.find((line) => line.msg === 'close hook failed');
      assert.deepEqual(failure?.fields, {
        component: 'broken',
        error: { name: 'Error', message: 'disk gone' },
      });
    } finally {
      shutdown.dispose();
    }
  });

  test('hooks that outlast the timeout end the shutdown with code 1', async () => {
    const { shutdown, lines } = setup({ timeoutMs: 50 });
    shutdown.add('stuck', () => new Promise<void>(() => {}));
    try {
      assert.equal(await shutdown.run('test'), 1);
      assert.ok(lines.some((line) => line.msg === 'shutdown timed out'));
    } finally {
      shutdown.dispose();
    }
  });

  test('a second signal exits 1 at once', async () => {
    const { shutdown, exits, exitedOnce } = setup({ timeoutMs: 60_000 });
    let release: () => void = () => {};
    shutdown.add('slow', () => new Promise<void>((resolve) => (release = resolve)));
    try {
      process.kill(process.pid, 'SIGWINCH');
      await once(process, 'SIGWINCH');
      process.kill(process.pid, 'SIGWINCH');
      assert.equal(await exitedOnce, 1);
      assert.deepEqual(exits, [1]);
    } finally {
      release();
      shutdown.dispose();
    }
  });
});
