/**
 * `npm test`: every `test/**\/*.test.ts` file, each in its own `node --test` process, two at a time (the
 * machine has two cores), with the browser tests (test/browser/ and every `*-browser.test.ts`) kept apart.
 * Each browser test starts Chromium, most a whole network too; the weather scenario adds three CPU-throttled pages and a CPU hog. Two of them side by side
 * starve each other past any honest cap, so a browser test starts only while no other one runs — unless
 * nothing else is left and the running one is not the weather scenario, which always has the browser to
 * itself. The weather scenario starts first, beside the suite's other tests: a busy machine is its weather.
 *
 * Each file's output is printed whole when it ends (skip lines included), then a summary that repeats each
 * failed file's failures; the exit code is 1 when any file failed. Arguments narrow the run to files whose
 * path contains one of them.
 */
import { spawn } from 'node:child_process';
import { glob } from 'node:fs/promises';

const SLOTS = 2;
const WEATHER = 'test/browser/weather.test.ts';

interface Finished {
  readonly file: string;
  readonly code: number | null;
  readonly seconds: number;
  readonly output: string;
}

/** test/browser/, and the files elsewhere that start Chromium themselves (named `*-browser.test.ts`). */
const isBrowser = (file: string): boolean =>
  file.startsWith('test/browser/') || file.endsWith('-browser.test.ts');

const filters = process.argv.slice(2);
const all: string[] = [];
for await (const file of glob('test/**/*.test.ts')) {
  if (filters.length === 0 || filters.some((filter) => file.includes(filter))) all.push(file);
}
all.sort();
const queue = [...all.filter((file) => file === WEATHER), ...all.filter((file) => file !== WEATHER)];
const running = new Set<string>();
const finished: Finished[] = [];
const started = Date.now();

/** The next file a free slot may start, by the rule in the header; undefined: wait for a slot to free. */
function takeNext(): string | undefined {
  const browserRunning = [...running].filter(isBrowser);
  let index = 0;
  if (browserRunning.length > 0) {
    index = queue.findIndex((file) => !isBrowser(file));
    if (index < 0 && !browserRunning.includes(WEATHER)) index = 0;
  }
  if (index < 0 || index >= queue.length) return undefined;
  return queue.splice(index, 1)[0];
}

/** Lines kept of a failed file's output at the end of the run. */
const SUMMARY_LINES = 60;

/**
 * What a failed file's output says about its failures, repeated after the summary so that the end of a long
 * log (what a CI page shows) names the cause: node's own "failing tests" section when it printed one (a
 * crash or a timeout may not), else the output's last lines.
 */
function failureSummary(output: string): string {
  const lines = output.trimEnd().split('\n');
  const section = lines.findIndex((line) => line.includes('failing tests:'));
  const kept = section >= 0 ? lines.slice(section) : lines.slice(-SUMMARY_LINES);
  return kept.slice(0, SUMMARY_LINES).join('\n');
}

const indent = (text: string): string =>
  text
    .split('\n')
    .map((line) => `#   ${line}`)
    .join('\n');

function runFile(file: string): Promise<Finished> {
  const begun = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.on('close', (code) => {
      const seconds = (Date.now() - begun) / 1000;
      process.stdout.write(`\n▶ ${file} (${seconds.toFixed(1)} s, exit ${code})\n`);
      const text = Buffer.concat(output).toString('utf8');
      process.stdout.write(text);
      done({ file, code, seconds, output: text });
    });
  });
}

await new Promise<void>((allDone) => {
  const fill = (): void => {
    while (running.size < SLOTS) {
      const file = takeNext();
      if (file === undefined) break;
      running.add(file);
      void runFile(file).then((result) => {
        running.delete(file);
        finished.push(result);
        fill();
      });
    }
    if (running.size === 0 && queue.length === 0) allDone();
  };
  fill();
});

const failed = finished.filter(({ code }) => code !== 0);
const slowest = [...finished].sort((a, b) => b.seconds - a.seconds).slice(0, 8);
process.stdout.write(
  `\n# ${finished.length} test files in ${((Date.now() - started) / 1000).toFixed(0)} s; ${failed.length} failed\n` +
    `# slowest: ${slowest.map(({ file, seconds }) => `${file} ${seconds.toFixed(0)} s`).join(', ')}\n`,
);
for (const { file, output } of failed) {
  process.stdout.write(`# FAILED: ${file}\n${indent(failureSummary(output))}\n`);
}
process.exitCode = failed.length === 0 ? 0 : 1;
