/**
 * The group story in bad weather, as users on slow phones beside a busy server live it: `umbra up` with slow
 * mixing rounds (500 ms) and every link between nodes delayed with jitter, three Chromium pages CPU-throttled
 * 6× (a low-end phone), and a CPU hog spinning beside them. Three people sign up; one starts a group with the
 * other two; each member sends and every other member reads it; one member is removed — she is told, keeps
 * what she read, read-only, and reads nothing sent afterwards — and the other two go on.
 *
 * `npm run test:weather` runs it (4 to 7 minutes: each mixnet round trip takes 10 to 40 s in this weather,
 * and a group change is a chain of them). It passes alone (374 s at load 12 to 16); it is not in `npm test`
 * yet because beside the suite's other browser tests it fails at the 150 s step cap: its three throttled pages
 * take about 40 % of a core each and its hog a whole one, so both it and its neighbour run starved. What it
 * took to pass alone: a gateway burst that covers the gateway's own stalls (docs/gateway.md), group changes
 * without needless round trips, request deadlines that follow the measured pace, and calls that wait for a
 * connecting carrier instead of failing.
 */
import { after, before } from 'node:test';
import { type CpuHog, startCpuHog } from '../support/cpu-hog.ts';
import { groupStory } from './group-story.ts';
import { browserTest } from './support.ts';

/**
 * The weather: slow rounds and slow, uneven links. B = 32 keeps the mixes' capacity (at most two batches a
 * round: 64 to 128 packets per second) above the three pages' 60 packets per second; at the default B = 16
 * a 500 ms round carries 32 to 64, the queues never drain and every loop is late (a network too small for
 * its clients, not weather).
 */
const WEATHER_UP_ARGS = [
  ...['--round-ms', '500', '--batch-size', '32'],
  ...['--link-delay-ms', '40', '--link-jitter-ms', '40'],
];
const SLOW_PHONE = 6;

let hog: CpuHog | undefined;
before(() => {
  hog = startCpuHog(1);
});
after(() => hog?.stop());

browserTest(
  'the group story holds on throttled browsers, slow rounds, delayed links and a busy CPU',
  WEATHER_UP_ARGS,
  (up, browser) => groupStory(up, browser, { cpuThrottle: SLOW_PHONE }),
);
