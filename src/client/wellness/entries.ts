/**
 * The on-device layer (issue 16): typed raw entries — activity, nutrition, mood, sleep, journal — kept in the
 * client's encrypted vault (storage.ts: the same seam in Node and in IndexedDB), one record per calendar
 * month. Nothing here is ever put in a message: only derived insights (insights.ts, fhir.ts) leave the device.
 *
 *     wellness/entries/<yyyy-mm>    that month's entries, oldest first (JSON)
 *
 * Days are calendar dates (`YYYY-MM-DD`) chosen by the app, the user's local day, so that a day's entries
 * stay together whatever time zone the device moves to.
 */
import { toBase64Url } from '../../bytes.ts';
import { randomBytes } from '../../crypto/random.ts';
import { ArgumentError } from '../../errors.ts';
import { type ClientVault, getJson, putJson } from '../storage.ts';

export const ENTRY_KINDS = ['activity', 'nutrition', 'mood', 'sleep', 'journal'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

/** Longest journal text, in characters: a journal page, not a document store. */
export const MAX_JOURNAL_CHARS = 20_000;
const ENTRIES_PREFIX = 'wellness/entries/';
const DAY_MS = 86_400_000;

export interface ActivityEntry {
  readonly kind: 'activity';
  readonly steps?: number;
  /** Minutes of moderate or vigorous activity. */
  readonly activeMinutes?: number;
}

export interface NutritionEntry {
  readonly kind: 'nutrition';
  readonly fruitVegServings?: number;
  readonly waterLitres?: number;
}

export interface MoodEntry {
  readonly kind: 'mood';
  /** 1 (very low) to 5 (very good). */
  readonly score: number;
}

export interface SleepEntry {
  readonly kind: 'sleep';
  readonly hours: number;
  /** 1 (very poor) to 5 (very good), if the user rated it. */
  readonly quality?: number;
}

export interface JournalEntry {
  readonly kind: 'journal';
  readonly text: string;
}

/** What the app logs: one of the kinds, and the day it belongs to. */
export type NewEntry = (ActivityEntry | NutritionEntry | MoodEntry | SleepEntry | JournalEntry) & {
  readonly date: string;
};

/** A logged entry: as logged, with its ID and when it was logged (this device's clock). */
export type RawEntry = NewEntry & { readonly id: string; readonly loggedAt: number };

/** The day number (days since 1970-01-01) of a `YYYY-MM-DD` date, or undefined if it is not one. */
export function dayNumber(date: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (match === null) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  // Date.UTC rolls 2024-02-31 over into March: a date is valid only if it comes back unchanged.
  return dateOf(ms / DAY_MS) === date ? ms / DAY_MS : undefined;
}

/** The `YYYY-MM-DD` date of a day number. */
export function dateOf(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** The UTC date of an instant (ms since the Unix epoch). */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function checkDate(argument: string, value: unknown): string {
  if (typeof value !== 'string' || dayNumber(value) === undefined) {
    throw new ArgumentError(argument, 'expected a calendar date YYYY-MM-DD');
  }
  return value;
}

function amount(argument: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new ArgumentError(argument, `expected a number from 0 to ${max}`);
  }
  return value;
}

function rating(argument: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 5) {
    throw new ArgumentError(argument, 'expected an integer from 1 to 5');
  }
  return value as number;
}

/** Optional fields are copied only when present, so stored entries carry no `undefined`s. */
function optional<T>(name: string, value: unknown, check: (v: unknown) => T): Record<string, T> {
  return value === undefined ? {} : { [name]: check(value) };
}

/** The entry the app passed, checked and copied field by field (nothing else it carried is kept). */
export function checkEntry(value: unknown): NewEntry {
  if (typeof value !== 'object' || value === null) throw new ArgumentError('entry', 'expected an object');
  const entry = value as Record<string, unknown>;
  const date = checkDate('entry.date', entry.date);
  switch (entry.kind) {
    case 'activity': {
      const checked = {
        kind: 'activity',
        date,
        ...optional('steps', entry.steps, (v) => amount('entry.steps', v, 200_000)),
        ...optional('activeMinutes', entry.activeMinutes, (v) => amount('entry.activeMinutes', v, 1440)),
      } as const;
      if (Object.keys(checked).length === 2)
        throw new ArgumentError('entry', 'expected steps or activeMinutes');
      return checked;
    }
    case 'nutrition': {
      const checked = {
        kind: 'nutrition',
        date,
        ...optional('fruitVegServings', entry.fruitVegServings, (v) =>
          amount('entry.fruitVegServings', v, 50),
        ),
        ...optional('waterLitres', entry.waterLitres, (v) => amount('entry.waterLitres', v, 20)),
      } as const;
      if (Object.keys(checked).length === 2) {
        throw new ArgumentError('entry', 'expected fruitVegServings or waterLitres');
      }
      return checked;
    }
    case 'mood':
      return { kind: 'mood', date, score: rating('entry.score', entry.score) };
    case 'sleep':
      return {
        kind: 'sleep',
        date,
        hours: amount('entry.hours', entry.hours, 24),
        ...optional('quality', entry.quality, (v) => rating('entry.quality', v)),
      };
    case 'journal': {
      const { text } = entry;
      if (typeof text !== 'string' || !text.isWellFormed() || text.length > MAX_JOURNAL_CHARS) {
        throw new ArgumentError(
          'entry.text',
          `expected a well-formed string of at most ${MAX_JOURNAL_CHARS}`,
        );
      }
      return { kind: 'journal', date, text };
    }
    default:
      throw new ArgumentError('entry.kind', `expected one of ${ENTRY_KINDS.join(', ')}`);
  }
}

export interface EntryRange {
  /** First day, inclusive (default: the first entry). */
  readonly from?: string;
  /** Last day, inclusive (default: the last entry). */
  readonly to?: string;
  readonly kind?: EntryKind;
}

/** The raw entries in the vault, by month record. Callers serialise writes (Wellness does). */
export class EntryStore {
  readonly #vault: ClientVault;

  constructor(vault: ClientVault) {
    this.#vault = vault;
  }

  /** Adds checked entries in their order, writing each month's record once (an import is one write a month). */
  async add(entries: readonly NewEntry[], loggedAt: number): Promise<RawEntry[]> {
    const stored = entries.map(
      (entry): RawEntry => ({ ...entry, id: toBase64Url(randomBytes(12)), loggedAt }),
    );
    const byMonth = Map.groupBy(stored, (entry) => entry.date.slice(0, 7));
    for (const [month, added] of byMonth) {
      const name = ENTRIES_PREFIX + month;
      const kept = (await getJson<RawEntry[]>(this.#vault, name)) ?? [];
      await putJson(this.#vault, name, [...kept, ...added]);
    }
    return stored;
  }

  /** Entries in `range`, by day then in the order they were logged. */
  async list(range: EntryRange = {}): Promise<RawEntry[]> {
    const from = range.from === undefined ? '' : checkDate('from', range.from);
    const to = range.to === undefined ? '\u{10ffff}' : checkDate('to', range.to);
    const months = (await this.#months()).filter(
      (month) => month >= from.slice(0, 7) && month <= to.slice(0, 7),
    );
    const entries: RawEntry[] = [];
    for (const month of months) {
      for (const entry of (await getJson<RawEntry[]>(this.#vault, ENTRIES_PREFIX + month)) ?? []) {
        if (entry.date < from || entry.date > to) continue;
        if (range.kind === undefined || entry.kind === range.kind) entries.push(entry);
      }
    }
    // Stable: entries of one day keep the order they were logged in.
    return entries.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  }

  /** Deletes the entry `id`; whether there was one. */
  async remove(id: string): Promise<boolean> {
    for (const month of await this.#months()) {
      const name = ENTRIES_PREFIX + month;
      const entries = (await getJson<RawEntry[]>(this.#vault, name)) ?? [];
      const kept = entries.filter((entry) => entry.id !== id);
      if (kept.length === entries.length) continue;
      if (kept.length === 0) await this.#vault.delete(name);
      else await putJson(this.#vault, name, kept);
      return true;
    }
    return false;
  }

  async #months(): Promise<string[]> {
    const names = await this.#vault.list();
    return names
      .filter((name) => name.startsWith(ENTRIES_PREFIX))
      .map((name) => name.slice(ENTRIES_PREFIX.length))
      .sort();
  }
}
