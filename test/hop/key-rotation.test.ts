// The one epoch-key rotation both hops use (src/hop/key-rotation.ts), without wall time: a test clock moves
// through an epoch change, its grace period and its end, and the test watches what reaches the engine, what
// the key store holds on disk and what the replay filter is told to forget.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { type EpochKey, EpochKeyStore } from '../../src/hop/index.ts';
import { KeyRotation, keyWindow } from '../../src/hop/key-rotation.ts';
import { geometry, MemoryLogger, TestClock, temporaryDirectory } from '../mixnode/support.ts';

const EPOCH_MS = 60_000;
const GRACE_MS = 10_000;

test('the key window: the current epoch, and the previous one during the grace period only', () => {
  const clock = new TestClock(EPOCH_MS, 5 * EPOCH_MS + GRACE_MS - 1);
  assert.deepEqual(keyWindow(clock, GRACE_MS), { epoch: 5, live: [5, 4] });
  clock.time = 5 * EPOCH_MS + GRACE_MS;
  assert.deepEqual(keyWindow(clock, GRACE_MS), { epoch: 5, live: [5] });
  clock.time = 0;
  assert.deepEqual(keyWindow(clock, GRACE_MS), { epoch: 0, live: [0] }, 'epoch 0 has no previous one');
});

test('rotation: the engine switches at once to a key made ahead; old keys are shredded after the grace', async () => {
  await using directory = await temporaryDirectory();
  const path = join(directory.path, 'sphinx-keys');
  const keys = await EpochKeyStore.open(path, geometry, nodeBackend);
  const clock = new TestClock(EPOCH_MS, 7 * EPOCH_MS + 30_000);
  const installed: number[][] = [];
  const forgotten: number[] = [];
  const rotation = new KeyRotation({
    keys,
    replay: { forgetBefore: (oldest) => forgotten.push(oldest) },
    epochs: clock,
    graceMs: GRACE_MS,
    engine: {
      setKeys: (window: readonly EpochKey[]) => installed.push(window.map((key) => key.epoch)),
    },
    logger: new MemoryLogger(),
  });

  await rotation.start();
  assert.deepEqual(installed, [[7]]);
  assert.deepEqual(rotation.liveEpochs, [7]);
  assert.equal(rotation.epoch, 7);
  assert.deepEqual(
    keys.publicKeys().map((key) => key.epoch),
    [7, 8],
    'the next epoch’s key is made ahead',
  );

  rotation.follow();
  await rotation.settled();
  assert.deepEqual(installed, [[7]], 'an unchanged window reaches the engine once');

  // Into epoch 8, inside the grace period: the switch happens in follow() itself, before any await.
  clock.time = 8 * EPOCH_MS + 1;
  rotation.follow();
  assert.deepEqual(installed.at(-1), [8, 7], 'switched synchronously');
  await rotation.settled();
  assert.deepEqual(rotation.liveEpochs, [8, 7]);
  assert.equal(rotation.epoch, 8);
  assert.ok(keys.get(9), 'the key of epoch 9 was made for the directory');
  assert.deepEqual(installed, [[7], [8, 7]]);

  // The grace period ends: epoch 7's key leaves the engine at once, then the disk and the replay filter.
  clock.time = 8 * EPOCH_MS + GRACE_MS;
  rotation.follow();
  assert.deepEqual(installed.at(-1), [8]);
  await rotation.settled();
  assert.deepEqual(rotation.liveEpochs, [8]);
  assert.equal(keys.get(7), undefined);
  assert.deepEqual(await readdir(path).then((files) => files.sort()), ['e8.key', 'e9.key']);
  assert.equal(forgotten.at(-1), 8, 'the tags of epoch 7 are forgotten');
});

test('rotation: a key not made ahead is waited for, and the old window stays until it exists', async () => {
  await using directory = await temporaryDirectory();
  const keys = await EpochKeyStore.open(join(directory.path, 'sphinx-keys'), geometry, nodeBackend);
  const clock = new TestClock(EPOCH_MS, 3 * EPOCH_MS);
  const installed: number[][] = [];
  const rotation = new KeyRotation({
    keys,
    replay: { forgetBefore: () => {} },
    epochs: clock,
    graceMs: GRACE_MS,
    engine: { setKeys: (window: readonly EpochKey[]) => installed.push(window.map((key) => key.epoch)) },
    logger: new MemoryLogger(),
  });
  await rotation.start();
  // Two epochs on: epoch 5's key was never made (the node was away), so the engine keeps [3] until it is.
  clock.time = 5 * EPOCH_MS + 1;
  rotation.follow();
  assert.deepEqual(installed, [[3]]);
  await rotation.settled();
  // Epoch 4's key (made ahead at the start) is the previous epoch's, in its grace period.
  assert.deepEqual(installed, [[3], [5, 4]]);
  assert.deepEqual(
    keys.publicKeys().map((key) => key.epoch),
    [4, 5, 6],
  );
});
