/**
 * A Prometheus metrics registry: counters, gauges and fixed-bucket histograms, rendered in the text
 * exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats). Small on purpose — the
 * roles need a few dozen series and no client library's defaults — and strict where scrapers are: metric
 * and label names are checked against the data model's grammar, HELP text escapes `\` and newlines, label
 * values escape `\`, `"` and newlines, and every sample carries exactly the labels its metric declared.
 * Label values must never carry identifiers of users or packets (one series per client is a log of them).
 */
import { ArgumentError } from '../errors.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

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

/** Buckets in seconds for durations from a millisecond to ten seconds (round times, unwrap batches). */
export const DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

type LabelArgument<L extends string> = [L] extends [never]
  ? [labels?: undefined]
  : [labels: Record<L, string>];

/** A number as Prometheus prints it: Go's float syntax for the special values. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

abstract class Metric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  /** Series by the JSON of their label values, in the order they first appeared. */
  protected readonly series = new Map<string, { readonly labels: readonly string[]; state: S }>();

  constructor(options: MetricOptions<L>, reserved: readonly string[]) {
    if (typeof options.name !== 'string' || !METRIC_NAME.test(options.name)) {
      throw new ArgumentError('name', 'a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*');
    }
    if (typeof options.help !== 'string') throw new ArgumentError('help', 'expected a string');
    const labelNames = options.labelNames ?? [];
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || reserved.includes(label)) {
        throw new ArgumentError('labelNames', `"${label}" is not a valid label name here`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new ArgumentError('labelNames', 'label names repeat');
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labelNames;
  }

  protected abstract initial(): S;

  protected state(labels: Readonly<Record<string, string>> | undefined): S {
    const values = this.labelNames.map((name) => {
      const value = labels?.[name];
      if (typeof value !== 'string')
        throw new ArgumentError('labels', `${this.name} needs the label "${name}"`);
      return value;
    });
    if (labels !== undefined && Object.keys(labels).length !== values.length) {
      throw new ArgumentError('labels', `${this.name} takes only the labels ${this.labelNames.join(', ')}`);
    }
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { labels: values, state: this.initial() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  protected pairs(values: readonly string[]): [string, string][] {
    return this.labelNames.map((name, index) => [name, values[index] as string]);
  }

  /** The sample lines of this metric, after its HELP and TYPE lines. */
  protected abstract samples(): string[];

  render(): string {
    // A metric without labels always has its one series, so a scraper sees 0 rather than nothing.
    if (this.labelNames.length === 0) this.state(undefined);
    return [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
      ...this.samples(),
    ]
      .map((line) => `${line}\n`)
      .join('');
  }

  protected simpleSamples(value: (state: S) => number): string[] {
    return [...this.series.values()].map(
      ({ labels, state }) => `${this.name}${formatLabels(this.pairs(labels))} ${formatValue(value(state))}`,
    );
  }
}

function checkAmount(amount: number): void {
  if (typeof amount !== 'number' || Number.isNaN(amount))
    throw new ArgumentError('value', 'expected a number');
}

/** A value that only goes up (packets forwarded, replays dropped); it restarts at 0 with the process. */
export class Counter<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'counter';

  protected initial(): { value: number } {
    return { value: 0 };
  }

  inc(amount = 1, ...[labels]: LabelArgument<L>): void {
    checkAmount(amount);
    if (amount < 0) throw new ArgumentError('amount', 'a counter never decreases');
    this.state(labels).value += amount;
  }

  get(...[labels]: LabelArgument<L>): number {
    return this.state(labels).value;
  }

  protected samples(): string[] {
    return this.simpleSamples((state) => state.value);
  }
}

/** A value that goes up and down (queue depth, current epoch, connected clients). */
export class Gauge<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'gauge';

  protected initial(): { value: number } {
    return { value: 0 };
  }

  set(value: number, ...[labels]: LabelArgument<L>): void {
    checkAmount(value);
    this.state(labels).value = value;
  }

  inc(amount = 1, ...[labels]: LabelArgument<L>): void {
    checkAmount(amount);
    this.state(labels).value += amount;
  }

  dec(amount = 1, ...[labels]: LabelArgument<L>): void {
    checkAmount(amount);
    this.state(labels).value -= amount;
  }

  get(...[labels]: LabelArgument<L>): number {
    return this.state(labels).value;
  }

  protected samples(): string[] {
    return this.simpleSamples((state) => state.value);
  }
}

interface HistogramState {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into fixed buckets (round durations, batch fill), with their sum and count. */
export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(options: HistogramOptions<L>) {
    super(options, ['le']);
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
    this.buckets = [...buckets];
  }

  protected initial(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  observe(value: number, ...[labels]: LabelArgument<L>): void {
    checkAmount(value);
    const state = this.state(labels);
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index >= 0) state.counts[index] = (state.counts[index] as number) + 1;
    state.sum += value;
    state.count += 1;
  }

  protected samples(): string[] {
    const lines: string[] = [];
    for (const { labels, state } of this.series.values()) {
      const pairs = this.pairs(labels);
      let cumulative = 0;
      for (const [index, bound] of this.buckets.entries()) {
        cumulative += state.counts[index] as number;
        lines.push(
          `${this.name}_bucket${formatLabels([...pairs, ['le', formatValue(bound)]])} ${cumulative}`,
        );
      }
      lines.push(`${this.name}_bucket${formatLabels([...pairs, ['le', '+Inf']])} ${state.count}`);
      lines.push(`${this.name}_sum${formatLabels(pairs)} ${formatValue(state.sum)}`);
      lines.push(`${this.name}_count${formatLabels(pairs)} ${state.count}`);
    }
    return lines;
  }
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** The metrics of one process, rendered together for `/metrics`. */
export class MetricsRegistry {
  readonly #metrics = new Map<string, AnyMetric>();
  readonly #collectors: (() => void)[] = [];

  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.#add(new Counter<L>(options, []));
  }

  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    return this.#add(new Gauge<L>(options, []));
  }

  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.#add(new Histogram<L>(options));
  }

  /** Runs `collect` before each rendering: for gauges read from elsewhere (queue lengths, uptime). */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  render(): string {
    for (const collect of this.#collectors) collect();
    return [...this.#metrics.values()].map((metric) => metric.render()).join('');
  }

  #add<M extends AnyMetric>(metric: M): M {
    // Histograms also own name_bucket, name_sum and name_count; a clash there would confuse every scraper.
    const owned = metric.type === 'histogram' ? ['', '_bucket', '_sum', '_count'] : [''];
    for (const suffix of owned) {
      const name = metric.name + suffix;
      const clash = [...this.#metrics.values()].some(
        (other) =>
          other.name === name ||
          (other.type === 'histogram' && ['_bucket', '_sum', '_count'].some((s) => other.name + s === name)),
      );
      if (clash) throw new ArgumentError('name', `a metric named ${name} is already registered`);
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}
