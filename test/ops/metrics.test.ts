// The Prometheus registry: what it renders is parsed back with an independent parser of the text format
// 0.0.4 (HELP/TYPE lines, label sets with escapes, sample values) and compared with what was recorded:
// counters, gauges, cumulative histogram buckets with +Inf, _sum and _count; escaping of help text and label
// values; the default process metrics (prom-client's) in a process's registry only; and the refusals that keep
// the output scrapeable (bad names, wrong labels, negative counts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import { MetricsRegistry } from '../../src/ops/metrics.ts';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

interface Family {
  help?: string;
  type?: string;
}

/** A parser written from the format description, independent of the renderer. */
function parseExposition(text: string): { families: Map<string, Family>; samples: Sample[] } {
  assert.ok(text === '' || text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  const unescapeText = (value: string, quotes: boolean) =>
    value.replace(quotes ? /\\([\\"n])/g : /\\([\\n])/g, (_, char: string) => (char === 'n' ? '\n' : char));
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // the format ignores empty lines
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      const family = families.get(name) ?? {};
      if (kind === 'HELP') family.help = unescapeText(rest, false);
      else family.type = rest;
      families.set(name, family);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(sample, `unparseable line: ${line}`);
    const [, name, labelText, valueText] = sample as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (labelText !== undefined) {
      const body = labelText.slice(1, -1);
      const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let offset = 0;
      while (offset < body.length) {
        pair.lastIndex = offset;
        const match = pair.exec(body);
        assert.ok(match, `bad label set: ${labelText}`);
        labels[match[1] as string] = unescapeText(match[2] as string, true);
        offset = pair.lastIndex;
      }
    }
    const value =
      valueText === '+Inf'
        ? Number.POSITIVE_INFINITY
        : valueText === '-Inf'
          ? Number.NEGATIVE_INFINITY
          : Number(valueText);
    samples.push({ name, labels, value });
  }
  return { families, samples };
}

function find(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const sorted = (set: Record<string, string>) => JSON.stringify(Object.entries(set).sort());
  return samples.find((s) => s.name === name && sorted(s.labels) === sorted(labels))?.value;
}

describe('metrics registry', () => {
  test('counters and gauges render and parse back to what was recorded', async () => {
    const registry = new MetricsRegistry();
    const packets = registry.counter({
      name: 'umbra_packets_total',
      help: 'Packets, by direction.',
      labelNames: ['direction'],
    });
    const depth = registry.gauge({ name: 'umbra_queue_depth', help: 'Queued packets.' });
    packets.inc(1, { direction: 'in' });
    packets.inc(41, { direction: 'in' });
    packets.inc(1, { direction: 'out' });
    depth.set(10);
    depth.dec(3);
    depth.inc();

    const { families, samples } = parseExposition(await registry.render());
    assert.deepEqual(families.get('umbra_packets_total'), {
      help: 'Packets, by direction.',
      type: 'counter',
    });
    assert.deepEqual(families.get('umbra_queue_depth'), { help: 'Queued packets.', type: 'gauge' });
    assert.equal(find(samples, 'umbra_packets_total', { direction: 'in' }), 42);
    assert.equal(find(samples, 'umbra_packets_total', { direction: 'out' }), 1);
    assert.equal(find(samples, 'umbra_queue_depth'), 8);
  });

  test('an unlabelled metric shows 0 before anything happens; a labelled one shows no series', async () => {
    const registry = new MetricsRegistry();
    registry.counter({ name: 'plain_total', help: 'h' });
    registry.counter({ name: 'labelled_total', help: 'h', labelNames: ['reason'] });
    const { families, samples } = parseExposition(await registry.render());
    assert.equal(find(samples, 'plain_total'), 0);
    assert.ok(families.has('labelled_total'));
    assert.equal(samples.filter((s) => s.name === 'labelled_total').length, 0);
  });

  test('histograms render cumulative buckets, +Inf, sum and count', async () => {
    const registry = new MetricsRegistry();
    const rounds = registry.histogram({
      name: 'umbra_round_seconds',
      help: 'Round duration.',
      buckets: [0.1, 0.5, 1],
      labelNames: ['layer'],
    });
    for (const value of [0.05, 0.1, 0.3, 0.7, 2, 5]) rounds.observe(value, { layer: '1' });
    const { families, samples } = parseExposition(await registry.render());
    assert.equal(families.get('umbra_round_seconds')?.type, 'histogram');
    const bucket = (le: string) => find(samples, 'umbra_round_seconds_bucket', { layer: '1', le });
    assert.equal(bucket('0.1'), 2, 'a value equal to a bound falls in that bucket');
    assert.equal(bucket('0.5'), 3);
    assert.equal(bucket('1'), 4);
    assert.equal(bucket('+Inf'), 6);
    assert.equal(find(samples, 'umbra_round_seconds_count', { layer: '1' }), 6);
    assert.ok(Math.abs((find(samples, 'umbra_round_seconds_sum', { layer: '1' }) ?? 0) - 8.15) < 1e-9);
  });

  test('help text and label values are escaped so the output stays parseable', async () => {
    const registry = new MetricsRegistry();
    const help = 'Line one\nback\\slash "quoted"';
    const counter = registry.counter({ name: 'weird_total', help, labelNames: ['path'] });
    const value = 'C:\\dir\n"name"';
    counter.inc(2, { path: value });
    const text = await registry.render();
    assert.equal(text.split('\n').filter((line) => line.startsWith('weird_total')).length, 1);
    const { families, samples } = parseExposition(text);
    assert.equal(families.get('weird_total')?.help, help);
    assert.equal(find(samples, 'weird_total', { path: value }), 2);
  });

  test('special values use the format’s spellings', async () => {
    const registry = new MetricsRegistry();
    const gauge = registry.gauge({ name: 'g', help: 'h', labelNames: ['k'] });
    gauge.set(Number.POSITIVE_INFINITY, { k: 'a' });
    gauge.set(Number.NEGATIVE_INFINITY, { k: 'b' });
    const text = await registry.render();
    assert.match(text, /^g\{k="a"\} \+Inf$/m);
    assert.match(text, /^g\{k="b"\} -Inf$/m);
  });

  test('collectors run before each rendering', async () => {
    const registry = new MetricsRegistry();
    const gauge = registry.gauge({ name: 'uptime_seconds', help: 'h' });
    let ticks = 0;
    registry.onCollect(() => gauge.set(++ticks));
    await registry.render();
    assert.equal(find(parseExposition(await registry.render()).samples, 'uptime_seconds'), 2);
  });

  test('a process registry adds the default process metrics; a component registry has none', async () => {
    const processRegistry = new MetricsRegistry({ processMetrics: true });
    processRegistry.counter({ name: 'mix_replays_total', help: 'h' });
    const { families } = parseExposition(await processRegistry.render());
    for (const [name, type] of [
      ['process_cpu_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_gc_duration_seconds', 'histogram'],
      ['nodejs_active_handles_total', 'gauge'],
      ['mix_replays_total', 'counter'],
    ]) {
      assert.equal(families.get(name as string)?.type, type, name);
    }
    const component = new MetricsRegistry();
    component.counter({ name: 'mix_replays_total', help: 'h' });
    const names = [...parseExposition(await component.render()).families.keys()];
    assert.deepEqual(names, ['mix_replays_total']);
  });

  test('refuses what would make the output unscrapeable', () => {
    const registry = new MetricsRegistry();
    assert.throws(() => registry.counter({ name: '1bad', help: 'h' }), ArgumentError);
    assert.throws(() => registry.counter({ name: 'has-dash', help: 'h' }), ArgumentError);
    assert.throws(
      () => registry.counter({ name: 'ok_total', help: 'h', labelNames: ['__reserved'] }),
      ArgumentError,
    );
    assert.throws(
      () => registry.counter({ name: 'ok_total', help: 'h', labelNames: ['a', 'a'] }),
      ArgumentError,
    );
    assert.throws(
      () => registry.histogram({ name: 'h', help: 'h', buckets: [1], labelNames: ['le'] }),
      ArgumentError,
    );
    assert.throws(() => registry.histogram({ name: 'h', help: 'h', buckets: [1, 1] }), ArgumentError);
    assert.throws(() => registry.histogram({ name: 'h', help: 'h', buckets: [] }), ArgumentError);

    const counter = registry.counter({ name: 'c_total', help: 'h', labelNames: ['reason'] });
    assert.throws(() => registry.counter({ name: 'c_total', help: 'again' }), ArgumentError);
    registry.histogram({ name: 'lat', help: 'h', buckets: [1] });
    assert.throws(() => registry.gauge({ name: 'lat_count', help: 'clash' }), ArgumentError);
    assert.throws(() => counter.inc(-1, { reason: 'x' }), ArgumentError);
    assert.throws(() => counter.inc(1, {} as { reason: string }), ArgumentError);
    assert.throws(() => counter.inc(1, { reason: 'x', extra: 'y' } as { reason: string }), ArgumentError);
  });
});
