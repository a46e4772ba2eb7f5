// A node's timers towards the directory (src/hop/directory-session.ts) on a virtual clock
// (test/support/virtual-clock.ts): the first document's retries back off 100, 200, 400, 800 ms and give up
// at the deadline, and the session polls every pollMs and only then — each checked by moving the clock, not
// by waiting. The directory itself is real (development mode, test/support/node-directory.ts) or a listener
// that resets every connection (an unreachable directory).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { DirectoryError } from '../../src/errors.ts';
import { type DirectoryLink, DirectorySession, fetchFirstDocument } from '../../src/hop/directory-session.ts';
import { NetworkView } from '../../src/hop/network-view.ts';
import { startMix } from '../../src/mixnode/role.ts';
import { silentLogger } from '../../src/ops/logger.ts';
import { temporaryDirectory, until } from '../mixnode/support.ts';
import { NODE_GEOMETRY, startNodeDirectory } from '../support/node-directory.ts';
import { VirtualClock } from '../support/virtual-clock.ts';

/** A listener that resets every connection (counting them), and a link to it with a real directory's keys. */
async function unreachableDirectory(): Promise<{ link: DirectoryLink; attempts: () => number }> {
  let attempts = 0;
  const unreachable = createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  unreachable.listen(0, '127.0.0.1');
  await once(unreachable, 'listening');
  after(() => unreachable.close());
  const { port } = unreachable.address() as { port: number };
  // A real directory only for its authority keys: the node is pointed elsewhere.
  const data = await temporaryDirectory();
  after(() => data[Symbol.asyncDispose]());
  const directory = await startNodeDirectory(data.path);
  after(() => directory.close());
  const link: DirectoryLink = {
    url: `http://127.0.0.1:${port}`,
    authorityKeys: directory.publicKeys,
    geometry: NODE_GEOMETRY,
  };
  return { link, attempts: () => attempts };
}

/**
 * Moves `clock` through the first document's backoff (100, 200, 400, 800 ms) as each failed attempt starts
 * its sleep, checking that no attempt comes before its whole backoff has passed on the clock.
 */
async function stepThroughBackoff(clock: VirtualClock, attempts: () => number): Promise<void> {
  for (const [n, backoff] of [
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
  ] as const) {
    await until(() => attempts() === n && clock.pending === 1, `attempt ${n} and its backoff`);
    clock.advance(backoff - 1);
    assert.equal(clock.pending, 1, `attempt ${n + 1} waits the whole ${backoff} ms`);
    clock.advance(1);
  }
}

const reasonOf = (error: unknown): string => (error instanceof DirectoryError ? error.reason : String(error));

test('the first document: retries back off on the clock and stop at the deadline', async () => {
  const { link, attempts } = await unreachableDirectory();
  const clock = new VirtualClock();
  const outcome = fetchFirstDocument(link, clock.now() + 1_000, silentLogger, clock).then(
    () => 'fetched',
    reasonOf,
  );
  // Each failed attempt sleeps on the clock; the next attempt waits until the test moves it that far.
  await stepThroughBackoff(clock, attempts);
  // The fifth attempt fails past the deadline (1,500 ms of virtual time): no more backoff.
  assert.equal(await outcome, 'unavailable');
  assert.equal(attempts(), 5);
  assert.equal(clock.pending, 0);
});

test('startMix waits for its first document on the clock it is given, and gives up at its deadline', async () => {
  const { link, attempts } = await unreachableDirectory();
  const data = await temporaryDirectory();
  after(() => data[Symbol.asyncDispose]());
  const clock = new VirtualClock();
  const outcome = startMix({
    dataDir: data.path,
    directory: link,
    layer: 1,
    listen: { host: '127.0.0.1', port: 0 },
    workers: 0,
    startupTimeoutMs: 1_000,
    logger: silentLogger,
    clock,
  }).then(async (mix) => {
    await mix.stop();
    return 'started';
  }, reasonOf);
  await stepThroughBackoff(clock, attempts);
  assert.equal(await outcome, 'unavailable', 'no document by the deadline on its clock');
  assert.equal(attempts(), 5);
});

test('the session polls the directory every pollMs on its clock', async () => {
  const data = await temporaryDirectory();
  after(() => data[Symbol.asyncDispose]());
  const directory = await startNodeDirectory(data.path);
  after(() => directory.close());
  const link: DirectoryLink = {
    url: directory.url,
    authorityKeys: directory.publicKeys,
    geometry: NODE_GEOMETRY,
  };
  // Documents are checked against real time (the directory signs them for now); only the polls are virtual.
  const view = new NetworkView({ layer: 1 });
  let syncs = 0;
  const lists = view.lists.bind(view);
  // Every sync ends by asking whether the document lists the node.
  view.lists = (...args: Parameters<typeof lists>) => {
    syncs++;
    return lists(...args);
  };
  const clock = new VirtualClock();
  const keys = new Map<number, Uint8Array>();
  const session = new DirectorySession({
    directory: link,
    identity: nodeBackend.ed25519.generateKeyPair(),
    role: 'mix',
    layer: 1,
    address: '127.0.0.1:9',
    tlsFingerprint: new Uint8Array(32),
    publicKeyFor: async (epoch) => {
      const key = keys.get(epoch) ?? nodeBackend.x25519.generateKeyPair().publicKey;
      keys.set(epoch, key);
      return key;
    },
    view,
    logger: silentLogger,
    pollMs: 5_000,
    clock,
  });
  await session.start();
  after(() => session.stop());
  assert.equal(syncs, 1);
  assert.ok(view.lists(session.id), 'registered and listed');
  syncs = 0;
  for (let poll = 1; poll <= 3; poll++) {
    assert.equal(clock.pending, 1, 'the next poll is set');
    clock.advance(4_999);
    assert.equal(clock.pending, 1, 'not due before pollMs');
    clock.advance(1);
    assert.equal(clock.pending, 0, 'due at pollMs: the sync runs');
    await until(() => syncs === poll && clock.pending === 1, `poll ${poll} and the next one set`);
  }
});
