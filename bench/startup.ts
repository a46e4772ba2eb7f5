// `npm run bench -- startup`: how long `umbra up` takes to be ready (issue 14's start-up targets), RUNS times:
// (a) a first run on a fresh --data-dir (keys generated, the SQLite schema created, the web app bundled, as
// its cache lives under the data directory), (b) a second run on the same data directory (everything reused,
// the bundle from its cache); each from the spawn to the line `umbra is ready at …` on standard output, with
// the time of each line it prints before (`umbra up: data in …`, its `✓ …` steps) from the same spawn, and the
// time from SIGINT to its exit. The reference, in the same run and of the same shape: spawning
// `node src/cli/main.ts --help` to its exit (node's start, type stripping, the dispatcher: the floor of any
// `umbra` command), and `umbra up --help` (the same plus umbra up's modules, nothing started). Each run
// records the load average (1 min) at its start; every process runs in a session of its own as
// startUmbraUp starts it (test/up/umbra-up.ts), so they are scheduled alike on a shared machine.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startUmbraUp, type TimedLine } from '../test/up/umbra-up.ts';
import { machine, median, table, writeResult } from './lib.ts';

const RUNS = 3;
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const READY = /^umbra is ready at /;
/** Issue 14's targets, seconds from the spawn to the ready line. */
const TARGET_FIRST_S = 15;
const TARGET_SECOND_S = 5;

/** Milliseconds from the spawn of `node src/cli/main.ts …args` to its exit. */
async function spawnToExit(args: readonly string[]): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore', detached: true });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`umbra ${args.join(' ')} exited with ${code}`);
  return performance.now() - start;
}

interface UpRun {
  /**
   * Each line printed before the ready line (paths and epochs elided) and each component's ready line in its
   * log, with its milliseconds from the spawn.
   */
  readonly steps: readonly TimedLine[];
  readonly readyMs: number;
  readonly stopMs: number;
}

/** The line as a row label: the same step reads the same in every run. */
function stepLabel(text: string): string {
  return text
    .trim()
    .replace(/\/\S+/g, '…')
    .replace(/epoch \d+/, 'epoch N');
}

/** Components' log lines (written under <data-dir>/logs as umbra up stops) that mark a component ready. */
const COMPONENT_READY: readonly { readonly file: RegExp; readonly msg: string; readonly label: string }[] = [
  { file: /^gateway-/, msg: 'gateway ready', label: 'gateway ready (its log)' },
  { file: /^mix-/, msg: 'mix node ready', label: 'every mix node ready (their logs; the last)' },
];

/**
 * For each of COMPONENT_READY, the milliseconds from `spawnedAt` (wall clock) to the latest of its first
 * lines after `spawnedAt` in each matching log: the logs are appended to from run to run.
 */
async function componentsReady(dataDir: string, spawnedAt: number): Promise<TimedLine[]> {
  const logDir = join(dataDir, 'logs');
  const files = await readdir(logDir);
  const found: TimedLine[] = [];
  for (const { file, msg, label } of COMPONENT_READY) {
    const times: number[] = [];
    for (const name of files.filter((candidate) => file.test(candidate))) {
      const entries = (await readFile(join(logDir, name), 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { time: string; msg: string });
      const first = entries.find((entry) => entry.msg === msg && Date.parse(entry.time) >= spawnedAt);
      if (first !== undefined) times.push(Date.parse(first.time) - spawnedAt);
    }
    if (times.length > 0) found.push({ text: label, ms: Math.max(...times) });
  }
  return found;
}

async function upOnce(dataDir: string): Promise<UpRun> {
  const spawnedAt = Date.now();
  const up = await startUmbraUp(['--data-dir', dataDir]);
  const lines = up.lines();
  const readyIndex = lines.findIndex((line) => READY.test(line.text));
  const ready = lines[readyIndex];
  if (ready === undefined) throw new Error(`no ready line in:\n${up.output()}`);
  // Lines printed before the ready line, even when they arrived in its chunk.
  const printed = lines
    .slice(0, readyIndex)
    .filter((line) => line.text.startsWith('umbra up:') || line.text.includes('✓'))
    .map((line) => ({ text: `\`${stepLabel(line.text)}\``, ms: line.ms }));
  const stopping = performance.now();
  const code = await up.interrupt();
  if (code !== 0) throw new Error(`umbra up exited with ${code} after SIGINT:\n${up.output()}`);
  const stopMs = performance.now() - stopping;
  return { steps: [...printed, ...(await componentsReady(dataDir, spawnedAt))], readyMs: ready.ms, stopMs };
}

interface Run {
  readonly load: number;
  readonly help: number;
  readonly upHelp: number;
  readonly first: UpRun;
  readonly second: UpRun;
}

const runs: Run[] = [];
for (let run = 0; run < RUNS; run++) {
  const load = loadavg()[0] as number;
  const help = await spawnToExit(['--help']);
  const upHelp = await spawnToExit(['up', '--help']);
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-startup-'));
  try {
    const first = await upOnce(dataDir);
    const second = await upOnce(dataDir);
    runs.push({ load, help, upHelp, first, second });
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  console.error(`run ${run + 1}/${RUNS} done`);
}

const s = (ms: number) => (ms / 1000).toFixed(2);
const floor = median(runs.map((run) => run.help));
const row = (what: string, values: readonly number[]): string[] => [
  what,
  s(median(values)),
  values.map(s).join(', '),
  `${(median(values) / floor).toFixed(1)}×`,
];

/** One row per step `kind`'s runs printed, in the order of their medians, then the ready line and the stop. */
function upRows(kind: 'first' | 'second'): string[][] {
  const byStep = new Map<string, number[]>();
  for (const run of runs) {
    for (const step of run[kind].steps) byStep.set(step.text, [...(byStep.get(step.text) ?? []), step.ms]);
  }
  const steps = [...byStep]
    .sort(([, a], [, b]) => median(a) - median(b))
    .map(([text, values]) =>
      row(
        `${text}${values.length < runs.length ? ` (${values.length} of ${runs.length} runs)` : ''}`,
        values,
      ),
    );
  return [
    ...steps,
    row(
      '**`umbra is ready at …`**',
      runs.map((run) => run[kind].readyMs),
    ),
    [
      'SIGINT → exit',
      s(median(runs.map((run) => run[kind].stopMs))),
      runs.map((run) => s(run[kind].stopMs)).join(', '),
      '',
    ],
  ];
}

const firstReady = median(runs.map((run) => run.first.readyMs)) / 1000;
const secondReady = median(runs.map((run) => run.second.readyMs)) / 1000;
const verdict = (value: number, target: number) =>
  `${value.toFixed(1)} s against ≤ ${target} s: ${value <= target ? 'met' : 'not met'}`;
const header = ['from the spawn to', 'median s', `runs (s)`, 'ratio to `umbra --help`'];

const markdown = `# \`umbra up\` start-up (\`npm run bench -- startup\`)

${machine()}

\`npm run bench -- startup\`: ${RUNS} runs; in each, the references, then \`umbra up --port 0\` on a fresh
\`--data-dir\` (first run), stopped with SIGINT, then again on the same directory (second run). Times are from
the spawn of the process to each line it prints on standard output; the ratio is to the floor measured in the
same runs, \`node src/cli/main.ts --help\` (node's start, type stripping, the dispatcher). \`umbra up\`'s
defaults: child processes (delivery service, directory, gateway, 3 layers × 1 mix), SQLite, 50 ms rounds. On a
first run the web app is bundled by esbuild (its cache lives under the data directory) while the network
starts; a second run reads it from the cache. umbra up prints each \`✓\` line when that step is done: the
delivery service first (the gateway is given its address), then the whole development network in one step —
its line \`directory authority keys …\` comes once the directory, the gateway and every mix node run and have
followed the first signed document; the rows marked "log" are the components' own ready lines in
\`<data-dir>/logs\`, on the same clock. The machine is shared with other work: a busy machine stretches every
figure, the references with them.

Load average (1 min) at the start of each run: ${runs.map((run) => run.load.toFixed(1)).join(', ')}.

## References

${table(header, [
  row(
    '`umbra --help` exits (floor)',
    runs.map((run) => run.help),
  ),
  row(
    "`umbra up --help` exits (umbra up's modules loaded)",
    runs.map((run) => run.upHelp),
  ),
])}

## First run (fresh data directory: keys generated, schema created, web app bundled)

${table(header, upRows('first'))}

## Second run (same data directory: keys and schema reused, bundle cached)

${table(header, upRows('second'))}

## Issue 14's targets

- first run ready ≤ ${TARGET_FIRST_S} s: ${verdict(firstReady, TARGET_FIRST_S)}
- second run ready ≤ ${TARGET_SECOND_S} s: ${verdict(secondReady, TARGET_SECOND_S)}
`;
writeResult('startup', markdown);
