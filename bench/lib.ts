// Shared benchmark helpers: timing loops, the machine description, and markdown tables under bench/results/.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export interface Measurement {
  readonly opsPerSecond: number;
  readonly microsecondsPerOp: number;
}

/** Runs `operation` repeatedly for about `milliseconds` after a short warm-up and reports its rate. */
export function measure(operation: () => unknown, milliseconds = 1000): Measurement {
  const warmUpEnd = performance.now() + Math.min(200, milliseconds / 4);
  while (performance.now() < warmUpEnd) operation();
  let count = 0;
  const start = performance.now();
  const end = start + milliseconds;
  let now = start;
  while (now < end) {
    operation();
    count++;
    now = performance.now();
  }
  const elapsed = now - start;
  return { opsPerSecond: (count * 1000) / elapsed, microsecondsPerOp: (elapsed * 1000) / count };
}

export async function measureAsync(operation: () => Promise<unknown>, runs: number): Promise<Measurement> {
  await operation();
  const start = performance.now();
  for (let i = 0; i < runs; i++) await operation();
  const elapsed = performance.now() - start;
  return { opsPerSecond: (runs * 1000) / elapsed, microsecondsPerOp: (elapsed * 1000) / runs };
}

/** The result of `operation` and the milliseconds it took. */
export async function time<T>(operation: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await operation();
  return [result, performance.now() - start];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * `runs` times from the same state: `produce` something (a commit, a message), have `consume` take it (another
 * member processes or decrypts it). Median milliseconds of each, and the last thing produced.
 */
export async function pairedMedians<T>(
  runs: number,
  produce: () => Promise<T>,
  consume: (value: T) => Promise<unknown>,
): Promise<[number, number, T]> {
  const produced: number[] = [];
  const consumed: number[] = [];
  let last: T | undefined;
  for (let run = 0; run < runs; run++) {
    const [value, produceMs] = await time(produce);
    const [, consumeMs] = await time(() => consume(value));
    produced.push(produceMs);
    consumed.push(consumeMs);
    last = value;
  }
  if (last === undefined) throw new Error('runs must be positive');
  return [median(produced), median(consumed), last];
}

/** `runs` times the same operation from the same state: its last result and the median milliseconds. */
export async function medianTime<T>(runs: number, operation: () => Promise<T>): Promise<[T, number]> {
  const times: number[] = [];
  let last: T | undefined;
  for (let run = 0; run < runs; run++) {
    const [value, ms] = await time(operation);
    times.push(ms);
    last = value;
  }
  if (last === undefined) throw new Error('runs must be positive');
  return [last, median(times)];
}

export function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version} (${process.platform}-${process.arch}); ${new Date().toISOString().slice(0, 10)}`;
}

export function formatRate(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function writeResult(name: string, markdown: string): void {
  const path = new URL(`./results/${name}.md`, import.meta.url);
  writeFileSync(path, `${markdown.trim()}\n`);
  console.log(markdown);
  console.log(`\nwritten to bench/results/${name}.md`);
}
