/**
 * The mix node's `Metrics` (src/mixnode/metrics.ts) on the operations kit's Prometheus registry
 * (src/ops/metrics.ts), under the names docs/mixnode.md lists, for `umbra mix`'s /metrics.
 */
import { DURATION_BUCKETS, type Histogram, type MetricsRegistry } from '../ops/metrics.ts';
import type { DropReason, Metrics, MixCounter, MixHistogram } from './metrics.ts';

const COUNTERS: Readonly<Record<Exclude<MixCounter, 'mix_dropped_total'>, string>> = {
  mix_packets_in_total: 'Frames read from authorized ingress connections.',
  mix_packets_out_total: 'Frames handed to egress links, real and dummy.',
  mix_dummies_total: 'Dummy packets among the frames sent.',
  mix_replays_total: 'Packets whose replay tag was already seen in their key epoch.',
  mix_mac_failures_total: 'Packets whose header MAC verified under none of the live keys.',
  mix_rounds_held_total: 'Rounds not sent because no dummy route existed.',
};

export function registryMetrics(registry: MetricsRegistry): Metrics {
  const counters = new Map(
    Object.entries(COUNTERS).map(([name, help]) => [name, registry.counter({ name, help })] as const),
  );
  const dropped = registry.counter({
    name: 'mix_dropped_total',
    help: 'Packets not forwarded, by reason.',
    labelNames: ['reason'],
  });
  const queueDepth = registry.gauge({ name: 'mix_queue_depth', help: 'Packets waiting for a round.' });
  const histograms: Readonly<Record<MixHistogram, Histogram>> = {
    mix_round_duration_seconds: registry.histogram({
      name: 'mix_round_duration_seconds',
      help: 'Time to assemble and hand over one round.',
      buckets: DURATION_BUCKETS,
    }),
    mix_round_fill_ratio: registry.histogram({
      name: 'mix_round_fill_ratio',
      help: 'Real packets among those one round sent (the rest are dummies), 0 to 1.',
      buckets: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
    }),
    mix_unwrap_duration_seconds: registry.histogram({
      name: 'mix_unwrap_duration_seconds',
      help: 'Time to unwrap one batch of arriving packets, the crypto workers’ queue included.',
      buckets: DURATION_BUCKETS,
    }),
  };
  return {
    increment(name: MixCounter, amount = 1, labels?: { readonly reason: DropReason }): void {
      if (name === 'mix_dropped_total') dropped.inc(amount, { reason: labels?.reason ?? 'internal_error' });
      else counters.get(name)?.inc(amount);
    },
    setGauge: (_name, value) => queueDepth.set(value),
    observe: (name, value) => histograms[name].observe(value),
  };
}
