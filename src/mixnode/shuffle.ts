/**
 * The batch shuffle: Fisher–Yates (Durstenfeld's in-place form, Knuth TAOCP vol. 2 §3.4.2, Algorithm P)
 * driven by the platform CSPRNG through `randomInt`, which samples without modulo bias, so every one of the
 * n! orders is equally likely and none can be predicted from earlier rounds.
 */
import { randomInt } from '../crypto/random.ts';

/** Shuffles `items` in place and returns it. */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const swap = items[i] as T;
    items[i] = items[j] as T;
    items[j] = swap;
  }
  return items;
}
