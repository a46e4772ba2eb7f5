// The hop's ingress stage (src/hop/unwrap-stage.ts) over an engine the test controls: packets pushed in one
// turn of the event loop make one batch, the key window follows the clock before each batch, outcomes come
// back in arrival order with their contexts, the listener pauses at the in-flight bound and resumes at half,
// a failed batch is reported whole, and drain() waits for every batch. Times come from the stage's clock
// (virtual here): a batch is stamped when it goes to the engine, its seconds are its time in the engine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CryptoEngine, UnwrapOutcome } from '../../src/hop/index.ts';
import { type UnwrapBatch, UnwrapStage } from '../../src/hop/unwrap-stage.ts';
import { VirtualClock } from '../support/virtual-clock.ts';

/** An engine whose batches wait until the test releases them; each outcome names its packet's first byte. */
class HeldEngine implements CryptoEngine {
  readonly threads = 0;
  readonly batches: { packets: readonly Uint8Array[]; release: () => void; fail: (error: Error) => void }[] =
    [];

  setKeys(): void {}

  unwrap(packets: readonly Uint8Array[]): Promise<UnwrapOutcome[]> {
    return new Promise((resolve, reject) => {
      this.batches.push({
        packets,
        release: () =>
          resolve(packets.map((packet) => ({ kind: 'failed', message: String(packet[0]) }) as const)),
        fail: reject,
      });
    });
  }

  async buildDummies(): Promise<Uint8Array[]> {
    return [];
  }

  async close(): Promise<void> {}
}

function stage(engine: HeldEngine, maxInFlight = 100) {
  const seen: UnwrapBatch<string>[] = [];
  const failures: { error: unknown; count: number }[] = [];
  const events: string[] = [];
  let follows = 0;
  const clock = new VirtualClock();
  const unwrap = new UnwrapStage<string>({
    engine,
    rotation: { follow: () => follows++ },
    clock,
    onBatch: (batch) => seen.push(batch),
    onFailure: (error, count) => failures.push({ error, count }),
    maxInFlight,
    pause: () => events.push('pause'),
    resume: () => events.push('resume'),
  });
  return { unwrap, seen, failures, events, clock, follows: () => follows };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('one batch per turn, the window followed first, outcomes in order with their contexts', async () => {
  const engine = new HeldEngine();
  const { unwrap, seen, clock, follows } = stage(engine);
  const start = clock.now();
  for (const n of [1, 2, 3]) unwrap.push(Uint8Array.of(n), `from ${n}`);
  await turn();
  assert.equal(engine.batches.length, 1);
  assert.equal(follows(), 1);
  clock.advance(40);
  unwrap.push(Uint8Array.of(4), 'from 4');
  await turn();
  assert.equal(engine.batches.length, 2);
  assert.equal(follows(), 2);
  clock.advance(10);
  engine.batches[1]?.release();
  await turn();
  clock.advance(50);
  engine.batches[0]?.release();
  await unwrap.drain();
  const names = seen.map((batch) =>
    batch.outcomes.map(
      ({ outcome, context }) => `${outcome.kind === 'failed' && outcome.message}:${context}`,
    ),
  );
  assert.deepEqual(names, [['4:from 4'], ['1:from 1', '2:from 2', '3:from 3']]);
  assert.deepEqual(
    seen.map((batch) => [batch.receivedAt - start, batch.seconds]),
    [
      [40, 0.01],
      [0, 0.1],
    ],
  );
});

test('the listener pauses at the bound and resumes at half; a failed batch is reported whole', async () => {
  const engine = new HeldEngine();
  const { unwrap, events, failures, seen } = stage(engine, 4);
  for (const n of [1, 2]) unwrap.push(Uint8Array.of(n), '');
  unwrap.flush();
  assert.deepEqual(events, []);
  for (const n of [3, 4]) unwrap.push(Uint8Array.of(n), '');
  unwrap.flush();
  assert.deepEqual(events, ['pause'], '4 in flight');
  engine.batches[0]?.fail(new Error('worker died'));
  await turn();
  assert.deepEqual(
    failures.map(({ count }) => count),
    [2],
  );
  assert.deepEqual(events, ['pause'], '2 in flight is not below half of 4');
  const draining = unwrap.drain();
  engine.batches[1]?.release();
  await draining;
  assert.deepEqual(events, ['pause', 'resume']);
  assert.equal(seen.length, 1);
});
