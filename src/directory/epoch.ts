/**
 * Epochs: the network's clock for key rotation and network documents. Epoch n covers the half-open interval
 * [genesis + n·period, genesis + (n+1)·period) in Unix milliseconds, so every party with a roughly right clock
 * derives the same number without talking to anyone, as Katzenpost's epochtime does. Sphinx keys, replay
 * filters and documents are all per epoch.
 */
import { ArgumentError } from '../errors.ts';

/** 20 minutes, Katzenpost's epoch period: long enough to fetch a document, short enough to rotate keys. */
export const DEFAULT_EPOCH_PERIOD_MS = 20 * 60 * 1000;

export interface EpochSchedule {
  readonly periodMs: number;
  /** Start of epoch 0, in Unix milliseconds; 0 by default. */
  readonly genesisMs: number;
}

export function checkSchedule(schedule: EpochSchedule): void {
  if (!Number.isSafeInteger(schedule.periodMs) || schedule.periodMs < 1) {
    throw new ArgumentError('periodMs', 'expected a positive integer');
  }
  if (!Number.isSafeInteger(schedule.genesisMs) || schedule.genesisMs < 0) {
    throw new ArgumentError('genesisMs', 'expected a non-negative integer');
  }
}

/** The epoch that contains the instant `nowMs`. */
export function epochAt(schedule: EpochSchedule, nowMs: number): number {
  if (!Number.isFinite(nowMs) || nowMs < schedule.genesisMs) {
    throw new ArgumentError('now', 'is before the start of epoch 0');
  }
  return Math.floor((nowMs - schedule.genesisMs) / schedule.periodMs);
}

/** Start (inclusive) and end (exclusive) of `epoch`, in Unix milliseconds. */
export function epochBounds(schedule: EpochSchedule, epoch: number): { start: number; end: number } {
  if (!Number.isSafeInteger(epoch) || epoch < 0)
    throw new ArgumentError('epoch', 'expected a non-negative integer');
  const start = schedule.genesisMs + epoch * schedule.periodMs;
  return { start, end: start + schedule.periodMs };
}
