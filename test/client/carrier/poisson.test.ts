// The sending clock in virtual time: tick counts per window follow the Poisson distribution of rate λ
// (mean, dispersion and a chi-square fit), gaps are exponential (Kolmogorov–Smirnov), a new rate applies,
// stop stops, and a suspended machine does not send a catch-up burst. Seeded randomness: reproducible.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exponentialGapMs, PoissonScheduler, secureRandom } from '../../../src/client/carrier/poisson.ts';
import { ArgumentError } from '../../../src/errors.ts';
import { seededRandom, VirtualClock } from './support.ts';

function run(rate: number, seconds: number, seed: number): number[] {
  const clock = new VirtualClock(0);
  const ticks: number[] = [];
  const scheduler = new PoissonScheduler({
    ratePerSecond: rate,
    clock,
    random: seededRandom(seed),
    onTick: () => ticks.push(clock.now()),
  });
  scheduler.start();
  clock.advance(seconds * 1000);
  scheduler.stop();
  return ticks;
}

function countsPerWindow(ticks: readonly number[], windowMs: number, windows: number): number[] {
  const counts = new Array<number>(windows).fill(0);
  for (const at of ticks) {
    const window = Math.floor(at / windowMs);
    if (window < windows) counts[window] = (counts[window] as number) + 1;
  }
  return counts;
}

function poissonPmf(mean: number, k: number): number {
  let p = Math.exp(-mean);
  for (let i = 1; i <= k; i++) p *= mean / i;
  return p;
}

describe('PoissonScheduler', () => {
  test('counts per second have mean λ, variance λ, and fit the Poisson distribution', () => {
    const rate = 4;
    const windows = 4000;
    const counts = countsPerWindow(run(rate, windows, 7), 1000, windows);
    const mean = counts.reduce((a, b) => a + b, 0) / windows;
    const variance = counts.reduce((a, b) => a + (b - mean) ** 2, 0) / (windows - 1);
    // Standard errors: √(λ/n) ≈ 0.03 for the mean, √((λ + 2λ²)/n) ≈ 0.095 for the variance.
    assert.ok(Math.abs(mean - rate) < 0.15, `mean ${mean}`);
    assert.ok(Math.abs(variance - rate) < 0.5, `variance ${variance}`);

    // Chi-square over bins 0..9 and ≥ 10: 10 degrees of freedom, 0.1 % critical value 29.6.
    const observed = new Array<number>(11).fill(0);
    for (const count of counts) observed[Math.min(10, count)] = (observed[Math.min(10, count)] as number) + 1;
    let chiSquare = 0;
    let tail = 1;
    for (let k = 0; k <= 10; k++) {
      const p = k < 10 ? poissonPmf(rate, k) : tail;
      tail -= p;
      const expected = p * windows;
      chiSquare += ((observed[k] as number) - expected) ** 2 / expected;
    }
    assert.ok(chiSquare < 29.6, `chi-square ${chiSquare.toFixed(1)}`);
  });

  test('gaps are exponential with mean 1/λ (Kolmogorov–Smirnov)', () => {
    const rate = 2;
    const ticks = run(rate, 5000, 11);
    const gaps = ticks.slice(1).map((at, i) => (at - (ticks[i] as number)) / 1000);
    gaps.sort((a, b) => a - b);
    let statistic = 0;
    gaps.forEach((gap, i) => {
      const cdf = 1 - Math.exp(-rate * gap);
      statistic = Math.max(statistic, Math.abs(cdf - i / gaps.length), Math.abs(cdf - (i + 1) / gaps.length));
    });
    // The 0.1 % critical value of the KS statistic is 1.95 / √n.
    assert.ok(statistic < 1.95 / Math.sqrt(gaps.length), `KS ${statistic}`);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    assert.ok(Math.abs(mean - 1 / rate) < 0.03, `mean gap ${mean}`);
  });

  test('a fixed-interval sender would fail the dispersion check the Poisson one passes', () => {
    // Guards the test above: equally spaced ticks have the right mean but almost no variance.
    const ticks = Array.from({ length: 4000 * 4 }, (_, i) => i * 250 + 125);
    const counts = countsPerWindow(ticks, 1000, 4000);
    const variance = counts.reduce((a, b) => a + (b - 4) ** 2, 0) / 3999;
    assert.ok(variance < 0.5);
  });

  test('setRate applies to the next gaps; stop ends the ticks', () => {
    const clock = new VirtualClock(0);
    let ticks = 0;
    const scheduler = new PoissonScheduler({
      ratePerSecond: 1,
      clock,
      random: seededRandom(3),
      onTick: () => ticks++,
    });
    scheduler.start();
    clock.advance(1000 * 1000);
    const slow = ticks;
    scheduler.setRate(10);
    ticks = 0;
    clock.advance(1000 * 1000);
    assert.ok(Math.abs(slow - 1000) < 120, `slow ${slow}`);
    assert.ok(Math.abs(ticks - 10_000) < 400, `fast ${ticks}`);
    scheduler.stop();
    ticks = 0;
    clock.advance(100_000);
    assert.equal(ticks, 0);
    assert.equal(scheduler.running, false);
  });

  test('after the machine was suspended, sending resumes at rate λ without a catch-up burst', () => {
    const clock = new VirtualClock(0);
    const ticks: number[] = [];
    const scheduler = new PoissonScheduler({
      ratePerSecond: 5,
      clock,
      random: seededRandom(5),
      onTick: () => ticks.push(clock.now()),
    });
    scheduler.start();
    clock.advance(10_000);
    const before = ticks.length;
    clock.jump(60_000);
    // Catching up would send ~300 packets at once; resuming sends the one overdue tick.
    assert.ok(ticks.length - before <= 2, `${ticks.length - before} ticks at once`);
    clock.advance(100_000);
    const resumed = ticks.filter((at) => at > 70_000).length;
    assert.ok(Math.abs(resumed - 500) < 90, `resumed ${resumed}`);
    scheduler.stop();
  });

  test('a stall of half a second (a starved phone) is not caught up with a burst either', () => {
    const clock = new VirtualClock(0);
    const ticks: number[] = [];
    const scheduler = new PoissonScheduler({
      ratePerSecond: 20,
      clock,
      random: seededRandom(9),
      onTick: () => ticks.push(clock.now()),
    });
    scheduler.start();
    let largestBurst = 0;
    for (let stall = 0; stall < 50; stall++) {
      clock.advance(2_000);
      const before = ticks.length;
      clock.jump(500);
      largestBurst = Math.max(largestBurst, ticks.length - before);
    }
    // Ten ticks fell due in each stall; at most the overdue ones within two mean gaps go at once.
    assert.ok(largestBurst <= 4, `${largestBurst} ticks at once`);
    scheduler.stop();
  });

  test('the rate must be positive; the CSPRNG source is uniform in [0, 1)', () => {
    assert.throws(() => new PoissonScheduler({ ratePerSecond: 0, onTick: () => undefined }), ArgumentError);
    const draws = Array.from({ length: 4000 }, secureRandom);
    assert.ok(draws.every((u) => u >= 0 && u < 1));
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    assert.ok(Math.abs(mean - 0.5) < 0.03);
    assert.ok(Number.isFinite(exponentialGapMs(3, () => 0.999_999_999)));
  });
});
