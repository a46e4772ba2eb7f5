/**
 * A small seeded generator (mulberry32) for tests whose randomness must be the same on every run
 * (statistical checks, simulated arrivals), so a failure can be reproduced.
 */

/** mulberry32 over a 32-bit seed: uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
