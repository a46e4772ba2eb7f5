/**
 * The queue between unwrapping and the round scheduler: the node's pool of unwrapped packets waiting for a
 * round, each with the time from which it may leave (its arrival plus the delay its sender asked for), the
 * draw that picks a round's real packets (`draw`, a binomial pool mix with a cap on the stay: Díaz and
 * Serjantov, "Generalising Mixes", PET 2003; docs/mixnode.md "The pool"), and the rule that sizes a round
 * (`roundSize`, docs/mixnode.md "Round size"): whole batches of B, at most `maxBatches` of them. What a round
 * does not send waits for later rounds, so overflow is delayed and never sent unmixed. At shutdown the queue
 * is saved whole, to be reloaded by the next start.
 *
 * Saved form: "UMBRAMQ1" ‖ geometry hash (32) ‖ vector of (eligible-at ms u64 ‖ next hop id (32) ‖ packet),
 * in the codec kit's encoding (RFC 9420 §2.1 vectors).
 */

import { constantTimeEqual } from '../bytes.ts';
import { fixedBytes, literal, Reader, struct, u64, utf8String, vectorOf, Writer } from '../codec/index.ts';
import { randomBytes } from '../crypto/random.ts';
import type { Geometry } from '../sphinx/index.ts';
import { NODE_ID_LENGTH } from '../sphinx/index.ts';
import { shuffle } from './shuffle.ts';

export interface QueuedPacket {
  readonly packet: Uint8Array;
  readonly nextHop: Uint8Array;
  /** Milliseconds since the Unix epoch from which the packet may join a round. */
  readonly eligibleAt: number;
}

/** How a round draws from the pool (docs/mixnode.md "The pool"). */
export interface PoolRule {
  /** p, in (0, 1]: the chance that a round picks an eligible packet; 1 sends everything eligible at once. */
  readonly leaveProbability: number;
  /** A packet eligible for this long (ms) or longer is picked by every round, oldest first, until it leaves. */
  readonly maxStayMs: number;
}

/**
 * How many packets a round sends when `eligible` real packets may leave: B × clamp(⌊eligible / B⌋, 1,
 * maxBatches). Never less than one batch (dummies top up a short one), and beyond one batch only whole
 * batches of real packets, so that a node whose inputs arrive at its nominal rate of B per round still
 * has room to drain a backlog, and the count it sends says only how many whole batches it holds.
 */
export function roundSize(eligible: number, batchSize: number, maxBatches: number): number {
  return batchSize * Math.min(maxBatches, Math.max(1, Math.floor(eligible / batchSize)));
}

export class RoundQueue {
  readonly #randomBytes: (length: number) => Uint8Array;
  #items: QueuedPacket[] = [];

  /** `random` supplies the draws: the CSPRNG by default, a seeded source in tests. */
  constructor(random: (length: number) => Uint8Array = randomBytes) {
    this.#randomBytes = random;
  }

  get depth(): number {
    return this.#items.length;
  }

  push(item: QueuedPacket): void {
    this.#items.push(item);
  }

  /**
   * The candidates of a round at `now`, removed from the queue: first every packet eligible for
   * `rule.maxStayMs` or longer, oldest first; then each other eligible packet independently with probability
   * `rule.leaveProbability` (the queue's random source, the CSPRNG by default), in random order. Whether a packet is picked does not depend on when it
   * arrived, only on its having become eligible (and, rarely, on reaching the cap), so the picked set is a
   * uniformly random subset of the eligible pool of its size. The caller sends a prefix and gives the rest
   * back with `restore`.
   */
  draw(now: number, rule: PoolRule): QueuedPacket[] {
    const due: QueuedPacket[] = [];
    const picked: QueuedPacket[] = [];
    const kept: QueuedPacket[] = [];
    const draws = new Uint32Array(this.#randomBytes(4 * this.#items.length).buffer);
    const threshold = rule.leaveProbability * 2 ** 32;
    this.#items.forEach((item, i) => {
      if (item.eligibleAt > now) kept.push(item);
      else if (now - item.eligibleAt >= rule.maxStayMs) due.push(item);
      else if ((draws[i] as number) < threshold) picked.push(item);
      else kept.push(item);
    });
    this.#items = kept;
    due.sort((a, b) => a.eligibleAt - b.eligibleAt);
    return [...due, ...shuffle(picked)];
  }

  /** Puts drawn packets that a round did not send back into the pool. */
  restore(items: readonly QueuedPacket[]): void {
    this.#items.push(...items);
  }

  /** Empties the queue, returning everything in it. */
  drain(): QueuedPacket[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }
}

const MAGIC = 'UMBRAMQ1';

const header = struct({ magic: literal(utf8String(MAGIC.length), MAGIC), geometry: fixedBytes(32) });

function packetsCodec(geometry: Geometry) {
  return vectorOf(
    struct({
      eligibleAt: u64,
      nextHop: fixedBytes(NODE_ID_LENGTH),
      packet: fixedBytes(geometry.packetLength),
    }),
    Number.MAX_SAFE_INTEGER,
  );
}

export function encodeSavedQueue(geometry: Geometry, items: readonly QueuedPacket[]): Uint8Array {
  const writer = new Writer();
  header.encode(writer, { magic: MAGIC, geometry: geometry.hash() });
  packetsCodec(geometry).encode(
    writer,
    items.map(({ packet, nextHop, eligibleAt }) => ({
      packet,
      nextHop,
      eligibleAt: BigInt(Math.max(0, Math.floor(eligibleAt))),
    })),
  );
  return writer.finish();
}

/**
 * The saved packets, or undefined when they were saved under another geometry (useless now). Throws
 * `CodecError` when the bytes are not a saved queue.
 */
export function decodeSavedQueue(geometry: Geometry, bytes: Uint8Array): QueuedPacket[] | undefined {
  const reader = new Reader(bytes);
  if (!constantTimeEqual(header.decode(reader).geometry, geometry.hash())) return undefined;
  const packets = packetsCodec(geometry).decode(reader);
  reader.end();
  return packets.map(({ packet, nextHop, eligibleAt }) => ({
    packet,
    nextHop,
    eligibleAt: Number(eligibleAt),
  }));
}
