/**
 * A process's Prometheus metrics on `prom-client`: one `prom-client` Registry per registry here (a role's
 * process makes one, with the default process metrics — CPU, resident memory, heap, GC, event-loop lag, open
 * handles and file descriptors — when it asks for them), and counters, gauges and fixed-bucket histograms
 * whose labels are typed. `prom-client` stores the series and renders the text exposition format 0.0.4; this
 * module adds the strictness it leaves out, so a mistake fails where it is made rather than in a scraper: every
 * sample carries exactly the labels its metric declared, label names are never reserved (`__*`, `le` on a
 * histogram) or repeated, buckets increase strictly, and a histogram's `_bucket`, `_sum` and `_count` never
 * clash with another metric. Names follow Prometheus conventions: a prefix per role (`mix_`, `gateway_`,
 * `umbra_delivery_`, `umbra_directory_`), `_total` for counters, base units (`_seconds`). Label values must
 * never carry identifiers of users or packets (one series per client is a log of them): labels name reasons,
 * outcomes, kinds and layers, from closed sets.
 */
import {
  collectDefaultMetrics,
  Counter as PromCounter,
  Gauge as PromGauge,
  Histogram as PromHistogram,
  Registry,
} from 'prom-client';
import { ArgumentError } from '../errors.ts';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface MetricOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing and finite; the +Inf bucket is added. */
  readonly buckets: readonly number[];
}

export interface RegistryOptions {
  /**
   * Adds `prom-client`'s default process metrics (`process_*`, `nodejs_*`). A role's `main` asks for them;
   * registries of components embedded in a bigger process (tests, `umbra up --single-process`) do not.
   */
  readonly processMetrics?: boolean;
}

/** Buckets in seconds for durations from a millisecond to ten seconds (round times, unwrap batches). */
export const DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

type LabelArgument<L extends string> = [L] extends [never]
  ? [labels?: undefined]
  : [labels: Record<L, string>];

function checkOptions(options: MetricOptions<string>, reserved: readonly string[]): string[] {
  if (typeof options.name !== 'string' || !METRIC_NAME.test(options.name)) {
    throw new ArgumentError('name', 'a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*');
  }
  if (typeof options.help !== 'string') throw new ArgumentError('help', 'expected a string');
  const labelNames = [...(options.labelNames ?? [])];
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith('__') || reserved.includes(label)) {
      throw new ArgumentError('labelNames', `"${label}" is not a valid label name here`);
    }
  }
  if (new Set(labelNames).size !== labelNames.length) {
    throw new ArgumentError('labelNames', 'label names repeat');
  }
  return labelNames;
}

function checkAmount(amount: number): void {
  if (typeof amount !== 'number' || Number.isNaN(amount))
    throw new ArgumentError('value', 'expected a number');
}

/** The labels of one sample, exactly those the metric declared (prom-client would accept a subset). */
function checkLabels(
  name: string,
  labelNames: readonly string[],
  labels: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const given = labels ?? {};
  for (const label of labelNames) {
    if (typeof given[label] !== 'string')
      throw new ArgumentError('labels', `${name} needs the label "${label}"`);
  }
  if (Object.keys(given).length !== labelNames.length) {
    throw new ArgumentError('labels', `${name} takes only the labels ${labelNames.join(', ')}`);
  }
  return { ...given };
}

/** What the three kinds share: the prom-client metric, and the exact labels each of its samples carries. */
abstract class Labelled<M> {
  protected readonly metric: M;
  readonly #name: string;
  readonly #labelNames: readonly string[];

  constructor(metric: M, name: string, labelNames: readonly string[]) {
    this.metric = metric;
    this.#name = name;
    this.#labelNames = labelNames;
  }

  protected labels(labels: Readonly<Record<string, string>> | undefined): Record<string, string> {
    return checkLabels(this.#name, this.#labelNames, labels);
  }
}

/** A value that only goes up (packets forwarded, replays dropped); it restarts at 0 with the process. */
export class Counter<L extends string = never> extends Labelled<PromCounter<string>> {
  inc(amount = 1, ...[labels]: LabelArgument<L>): void {
    checkAmount(amount);
    if (amount < 0) throw new ArgumentError('amount', 'a counter never decreases');
    this.metric.inc(this.labels(labels), amount);
  }
}

/** A value that goes up and down (queue depth, current epoch, connected clients). */
export class Gauge<L extends string = never> extends Labelled<PromGauge<string>> {
  set(value: number, ...[labels]: LabelArgument<L>): void {
    checkAmount(value);
    this.metric.set(this.labels(labels), value);
  }

  inc(amount = 1, ...[labels]: LabelArgument<L>): void {
    checkAmount(amount);
    this.metric.inc(this.labels(labels), amount);
  }

  dec(amount = 1, ...[labels]: LabelArgument<L>): void {
    checkAmount(amount);
    this.metric.dec(this.labels(labels), amount);
  }
}

/** Observations counted into fixed buckets (round durations, batch fill), with their sum and count. */
export class Histogram<L extends string = never> extends Labelled<PromHistogram<string>> {
  observe(value: number, ...[labels]: LabelArgument<L>): void {
    checkAmount(value);
    this.metric.observe(this.labels(labels), value);
  }
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** The metrics of one process, rendered together for `/metrics`. */
export class MetricsRegistry {
  readonly #registry = new Registry();
  /** Names each metric owns in the exposition (a histogram's with its suffixes). */
  readonly #owned = new Set<string>();
  readonly #collectors: (() => void)[] = [];

  constructor(options: RegistryOptions = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.#registry });
  }

  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    const labelNames = checkOptions(options, []);
    this.#claim(options.name, ['']);
    const metric = new PromCounter({ ...options, labelNames, registers: [this.#registry] });
    return new Counter<L>(metric, options.name, labelNames);
  }

  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    const labelNames = checkOptions(options, []);
    this.#claim(options.name, ['']);
    const metric = new PromGauge({ ...options, labelNames, registers: [this.#registry] });
    return new Gauge<L>(metric, options.name, labelNames);
  }

  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    const labelNames = checkOptions(options, ['le']);
    const { buckets } = options;
    if (!Array.isArray(buckets) || buckets.length === 0) {
      throw new ArgumentError('buckets', 'expected at least one bucket');
    }
    for (const [index, bound] of buckets.entries()) {
      if (!Number.isFinite(bound)) throw new ArgumentError('buckets', 'bucket bounds must be finite');
      if (index > 0 && bound <= (buckets[index - 1] as number)) {
        throw new ArgumentError('buckets', 'bucket bounds must increase strictly');
      }
    }
    this.#claim(options.name, ['', ...HISTOGRAM_SUFFIXES]);
    const metric = new PromHistogram({
      ...options,
      labelNames,
      buckets: [...buckets],
      registers: [this.#registry],
    });
    return new Histogram<L>(metric, options.name, labelNames);
  }

  /** Runs `collect` before each rendering: for gauges read from elsewhere (queue lengths, uptime). */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  /** The text exposition of every metric, default process metrics included when asked for. */
  render(): Promise<string> {
    for (const collect of this.#collectors) collect();
    return this.#registry.metrics();
  }

  #claim(name: string, suffixes: readonly string[]): void {
    // Histograms also own name_bucket, name_sum and name_count; a clash there would confuse every scraper.
    for (const suffix of suffixes) {
      if (this.#owned.has(name + suffix)) {
        throw new ArgumentError('name', `a metric named ${name + suffix} is already registered`);
      }
    }
    for (const suffix of suffixes) this.#owned.add(name + suffix);
  }
}
