/**
 * The derived insight layer (issue 16), computed on the device from raw entries: the Functional Wellness
 * Index (FWI), its 7- and 30-day trends, check-in adherence and 30-day functional patterns. Pure and
 * deterministic: the same entries, check-ins and day give the same numbers on every device (no clock, no
 * randomness, a fixed order of floating-point operations). docs/wellness.md states the formula; the FWI is a
 * wellness indicator for the user and their supporters, not a clinical score.
 */
import { checkDate, dateOf, dayNumber, type RawEntry } from './entries.ts';

/** The FWI's components and their weights (they sum to 1). */
export const FWI_WEIGHTS = { activity: 0.3, sleep: 0.3, mood: 0.25, nutrition: 0.15 } as const;
export type FwiComponent = keyof typeof FWI_WEIGHTS;
const COMPONENTS = Object.keys(FWI_WEIGHTS) as FwiComponent[];

/** A day has an FWI when at least this many components were logged that day. */
export const MIN_COMPONENTS_PER_DAY = 2;
/** A window has a mean and a trend when at least this many of its days have an FWI. */
export const MIN_DAYS_PER_WINDOW = 3;
/** Slopes (FWI points per week) at or beyond this are 'improving' or 'declining'; between, 'steady'. */
export const TREND_THRESHOLD = 2;

/** Daily targets of the normalisations (docs/wellness.md). */
const STEPS_TARGET = 10_000;
const ACTIVE_MINUTES_TARGET = 30;
const FRUIT_VEG_TARGET = 5;
const WATER_TARGET_LITRES = 2;

export interface DayScore {
  readonly date: string;
  /** Each logged component, normalised to 0..1. */
  readonly components: Readonly<Partial<Record<FwiComponent, number>>>;
  /** 0..100, or undefined when fewer than MIN_COMPONENTS_PER_DAY components were logged. */
  readonly fwi: number | undefined;
}

export type TrendDirection = 'improving' | 'steady' | 'declining';

export interface Trend {
  /** The window's length in days, ending on the insights' day. */
  readonly days: number;
  /** Days of the window that have an FWI. */
  readonly covered: number;
  /** Mean FWI over the covered days. */
  readonly mean: number;
  /** Least-squares slope of the daily FWI, in points per week. */
  readonly slopePerWeek: number;
  readonly direction: TrendDirection;
}

export type FwiBand = 'low' | 'fair' | 'good' | 'very-good';

export interface Adherence {
  /** Check-ins due in the window (up to and including the insights' day). */
  readonly planned: number;
  readonly completed: number;
  /** completed / planned, in percent, rounded. */
  readonly percent: number;
}

/** Means per day over the days each was logged in the 30-day window (undefined: never logged). */
export interface Patterns {
  readonly stepsPerDay: number | undefined;
  readonly activeMinutesPerDay: number | undefined;
  readonly sleepHoursPerDay: number | undefined;
  readonly moodMean: number | undefined;
  readonly fruitVegPerDay: number | undefined;
}

/** A check-in as adherence counts it: the day it was due, and whether it was answered. */
export interface CheckInOutcome {
  readonly dueDate: string;
  readonly completed: boolean;
}

export interface Insights {
  /** The last day of every window. */
  readonly asOf: string;
  /** The 30 days up to `asOf`, oldest first: the chart. */
  readonly daily: readonly DayScore[];
  /** The 7-day mean FWI, with its band; undefined with fewer than MIN_DAYS_PER_WINDOW days. */
  readonly fwi: number | undefined;
  readonly band: FwiBand | undefined;
  readonly trend7: Trend | undefined;
  readonly trend30: Trend | undefined;
  /** Over the 30-day window; undefined when no check-in was due. */
  readonly adherence: Adherence | undefined;
  readonly patterns: Patterns;
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Sleep hours score 1 from 7 to 9 h, falling linearly to 0 at 4 h and at 12 h. */
function sleepHoursScore(hours: number): number {
  if (hours < 7) return clamp01((hours - 4) / 3);
  if (hours > 9) return clamp01((12 - hours) / 3);
  return 1;
}

/** One day's sums and means of what was logged (several entries of a kind add up, ratings average). */
interface DayTotals {
  steps?: number;
  activeMinutes?: number;
  sleepHours?: number;
  sleepQualities: number[];
  moods: number[];
  fruitVeg?: number;
  water?: number;
}

const add = (a: number | undefined, b: number | undefined): number | undefined =>
  b === undefined ? a : (a ?? 0) + b;

function totalsByDay(entries: readonly RawEntry[]): Map<string, DayTotals> {
  const days = new Map<string, DayTotals>();
  for (const entry of entries) {
    let day = days.get(entry.date);
    if (day === undefined) {
      day = { sleepQualities: [], moods: [] };
      days.set(entry.date, day);
    }
    switch (entry.kind) {
      case 'activity':
        day.steps = add(day.steps, entry.steps);
        day.activeMinutes = add(day.activeMinutes, entry.activeMinutes);
        break;
      case 'sleep':
        day.sleepHours = add(day.sleepHours, entry.hours);
        if (entry.quality !== undefined) day.sleepQualities.push(entry.quality);
        break;
      case 'mood':
        day.moods.push(entry.score);
        break;
      case 'nutrition':
        day.fruitVeg = add(day.fruitVeg, entry.fruitVegServings);
        day.water = add(day.water, entry.waterLitres);
        break;
      case 'journal':
        break; // Free text is never scored.
    }
  }
  return days;
}

/** The mean of the sub-scores present, or undefined when none is. */
function subScores(...scores: (number | undefined)[]): number | undefined {
  return mean(scores.filter((score): score is number => score !== undefined));
}

function componentsOf(day: DayTotals | undefined): Partial<Record<FwiComponent, number>> {
  if (day === undefined) return {};
  const moodMean = mean(day.moods);
  const quality = mean(day.sleepQualities);
  const scores: Record<FwiComponent, number | undefined> = {
    activity: subScores(
      day.steps === undefined ? undefined : clamp01(day.steps / STEPS_TARGET),
      day.activeMinutes === undefined ? undefined : clamp01(day.activeMinutes / ACTIVE_MINUTES_TARGET),
    ),
    sleep: subScores(
      day.sleepHours === undefined ? undefined : sleepHoursScore(day.sleepHours),
      quality === undefined ? undefined : (quality - 1) / 4,
    ),
    mood: moodMean === undefined ? undefined : (moodMean - 1) / 4,
    nutrition: subScores(
      day.fruitVeg === undefined ? undefined : clamp01(day.fruitVeg / FRUIT_VEG_TARGET),
      day.water === undefined ? undefined : clamp01(day.water / WATER_TARGET_LITRES),
    ),
  };
  const present: Partial<Record<FwiComponent, number>> = {};
  for (const component of COMPONENTS) {
    const score = scores[component];
    if (score !== undefined) present[component] = score;
  }
  return present;
}

/** 100 × the weighted mean of the components present, the weights re-normalised over them. */
function fwiOf(components: Partial<Record<FwiComponent, number>>): number | undefined {
  let weighted = 0;
  let weights = 0;
  let count = 0;
  for (const component of COMPONENTS) {
    const score = components[component];
    if (score === undefined) continue;
    weighted += FWI_WEIGHTS[component] * score;
    weights += FWI_WEIGHTS[component];
    count++;
  }
  return count < MIN_COMPONENTS_PER_DAY ? undefined : (100 * weighted) / weights;
}

/** One score per calendar day of the `days` days ending on `asOf`, oldest first. */
function scoresOf(totals: Map<string, DayTotals>, asOf: number, days: number): DayScore[] {
  const scores: DayScore[] = [];
  for (let day = asOf - days + 1; day <= asOf; day++) {
    const date = dateOf(day);
    const components = componentsOf(totals.get(date));
    scores.push({ date, components, fwi: fwiOf(components) });
  }
  return scores;
}

/** The mean and least-squares slope of the daily FWI over the last `days` of `scores`. */
export function trendOf(scores: readonly DayScore[], days: number): Trend | undefined {
  const window = scores.slice(-days);
  const points: [number, number][] = [];
  for (const [index, score] of window.entries()) {
    if (score.fwi !== undefined) points.push([index, score.fwi]);
  }
  if (points.length < MIN_DAYS_PER_WINDOW) return undefined;
  const meanX = mean(points.map(([x]) => x)) as number;
  const meanY = mean(points.map(([, y]) => y)) as number;
  let covariance = 0;
  let variance = 0;
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  const slopePerWeek = variance === 0 ? 0 : (7 * covariance) / variance;
  const direction: TrendDirection =
    slopePerWeek >= TREND_THRESHOLD ? 'improving' : slopePerWeek <= -TREND_THRESHOLD ? 'declining' : 'steady';
  return { days, covered: points.length, mean: meanY, slopePerWeek, direction };
}

export function bandOf(fwi: number): FwiBand {
  if (fwi < 40) return 'low';
  if (fwi < 60) return 'fair';
  if (fwi < 80) return 'good';
  return 'very-good';
}

/** Planned vs completed check-ins due in the window [from, to] (day numbers). */
function adherenceOf(checkIns: readonly CheckInOutcome[], from: number, to: number): Adherence | undefined {
  const due = checkIns.filter((checkIn) => {
    const day = dayNumber(checkIn.dueDate);
    return day !== undefined && day >= from && day <= to;
  });
  if (due.length === 0) return undefined;
  const completed = due.filter((checkIn) => checkIn.completed).length;
  return { planned: due.length, completed, percent: Math.round((100 * completed) / due.length) };
}

function patternsOf(totals: Map<string, DayTotals>, window: readonly DayScore[]): Patterns {
  const days = window.flatMap((score) => totals.get(score.date) ?? []);
  const of = (pick: (day: DayTotals) => number | undefined) => mean(days.flatMap((day) => pick(day) ?? []));
  return {
    stepsPerDay: of((day) => day.steps),
    activeMinutesPerDay: of((day) => day.activeMinutes),
    sleepHoursPerDay: of((day) => day.sleepHours),
    moodMean: of((day) => mean(day.moods)),
    fruitVegPerDay: of((day) => day.fruitVeg),
  };
}

/** Every insight as of `asOf` (YYYY-MM-DD) from the entries and check-ins (others' days are ignored). */
export function computeInsights(
  entries: readonly RawEntry[],
  checkIns: readonly CheckInOutcome[],
  asOf: string,
): Insights {
  const end = dayNumber(checkDate('asOf', asOf)) as number;
  const totals = totalsByDay(entries);
  const daily = scoresOf(totals, end, 30);
  const trend7 = trendOf(daily, 7);
  return {
    asOf,
    daily,
    fwi: trend7?.mean,
    band: trend7 === undefined ? undefined : bandOf(trend7.mean),
    trend7,
    trend30: trendOf(daily, 30),
    adherence: adherenceOf(checkIns, end - 29, end),
    patterns: patternsOf(totals, daily),
  };
}
