/**
 * The group story in bad weather, as users on slow phones beside a busy server live it: `umbra up` with slow
 * mixing rounds (500 ms) and every link between nodes delayed with jitter, three Chromium pages CPU-throttled
 * like phones — Carol's 6× (DevTools' low-end phone), Alice's 3×, Bob's 2× — and a CPU hog spinning beside
 * them. Three people sign up; one starts a group with the
 * other two; each member sends and every other member reads it; one member is removed — she is told, keeps
 * what she read, read-only, and reads nothing sent afterwards — and the other two go on.
 *
 * It runs in `npm test`, first, and never beside another browser test (test/run.ts): beside one, both ran
 * starved past any honest cap. Why not every page at 6×: Chromium slows a page's main thread by spinning it,
 * so a throttled page burns its busy time times the rate in real CPU; three pages at 6× took 1.4 of the
 * machine's 2 cores for eight minutes, and the suite's other tests stopped beside them. One slow phone — the
 * newest member, who must be read and read the others, and is then removed — takes the paths the same way. About 6 minutes: a mixnet round trip here is 10 to 30 s (each mix holds a
 * packet two 500 ms rounds on average, both ways), and a group change is a chain of them; the parts' times
 * are printed. What it took: a gateway burst that covers the gateway's own stalls (docs/gateway.md), group
 * changes without needless round trips (no lookup before a claim, no catch-up before a first commit),
 * request deadlines that follow the measured pace, calls that wait for a connecting carrier, a retransmitted
 * signed request answered instead of refused, and packets built off the page's thread (docs/mixnet-carrier.md).
 */
import { after, before } from 'node:test';
import { type CpuHog, startCpuHog } from '../support/cpu-hog.ts';
import { groupStory, type StoryPages } from './group-story.ts';
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
/** Alice's, Bob's and Carol's CPU throttling (see the header). */
const PHONES: StoryPages = [{ cpuThrottle: 3 }, { cpuThrottle: 2 }, { cpuThrottle: 6 }];

let hog: CpuHog | undefined;
before(() => {
  hog = startCpuHog(1);
});
after(() => hog?.stop());

browserTest(
  'the group story holds on throttled browsers, slow rounds, delayed links and a busy CPU',
  WEATHER_UP_ARGS,
  (up, browser) => groupStory(up, browser, PHONES),
);
