// `npm run bench -- faults`: how fast the mixnet comes back after a fault, on the network `umbra up` runs by
// default (src/devnet in child-process mode: a directory, one gateway, 3 layers × 1 mix node; 100 ms rounds,
// B = 16, λ = 20/s) with the delivery service as its own process behind the gateway. One mixnet carrier
// (src/client/carrier/mixnet.ts) keeps one delivery request in flight at a time (fetchLog of a fresh routing
// ID: idempotent, a real round trip through the service). Per fault and outage length (OUTAGES_MS), RUNS
// times:
// - kill -9 of the mix node, the gateway or the delivery service, the outage later a restart on the same
//   data directory and port: from the restart (the process logged it was ready) to the first answered
//   request, and to the carrier's status `up` again (what the privacy indicator shows); for the gateway
//   that is the client's reconnection;
// - SIGSTOP of the gateway or the mix node, the outage later SIGCONT: from the stop to the status leaving
//   `up` (the indicator turning), and from SIGCONT to the status `up` and to the first answered request.
// Each figure is the median and the worst of the runs, in seconds. Backoffs grow with the outage, so
// the longer one shows what a short one hides. Two conditions, each on a fresh network: quiet, and beside a
// CPU hog (test/support/cpu-hog.ts: HOG_PROCESSES children each spinning a core); `--conditions quiet` or
// `--conditions hog` runs one.

import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MixnetCarrier } from '../src/client/carrier/mixnet.ts';
import { randomBytes } from '../src/crypto/random.ts';
import { REQUEST_PATH } from '../src/delivery/server.ts';
import { ChildNode, type Devnet, type DevnetNode, startDevnet } from '../src/devnet/index.ts';
import type { CarrierStatus } from '../src/protocol/carrier.ts';
import { DeliveryClient } from '../src/protocol/client.ts';
import { startCpuHog } from '../test/support/cpu-hog.ts';
import { machine, median, table, writeResult } from './lib.ts';

const RUNS = 3;
const OUTAGES_MS = [5_000, 20_000];
/** Between faults: the carrier is back and has answered this many requests. */
const SETTLE_ANSWERS = 3;
const DELIVERY_MAIN = new URL('../src/delivery/main.ts', import.meta.url).pathname;
const HOG_PROCESSES = 2;

type Fault = 'kill' | 'stop';
type Role = 'mix' | 'gateway' | 'delivery';
type Condition = 'quiet' | 'hog';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: { conditions: { type: 'string', default: 'quiet,hog' } },
});
const conditions = (values.conditions ?? '')
  .split(',')
  .filter((c): c is Condition => c === 'quiet' || c === 'hog');

interface Sample {
  /** Stop → status out of `up` (SIGSTOP only). */
  readonly detectMs: number | undefined;
  /** Restart or SIGCONT → status `up` (undefined when the status never left `up`). */
  readonly upMs: number | undefined;
  /** Restart or SIGCONT → the first request answered after it. */
  readonly answerMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every fault RUNS times per outage length, on a fresh network; samples by "fault role outage". */
async function measure(condition: Condition): Promise<{ samples: Map<string, Sample[]>; loads: number[] }> {
  const root = await mkdtemp(join(tmpdir(), 'umbra-bench-faults-'));
  let deliveryPort = 0;
  const startDelivery = async (port: number): Promise<ChildNode> => {
    const child = new ChildNode(
      DELIVERY_MAIN,
      [`--data-dir=${join(root, 'delivery')}`, `--port=${port}`, '--log-level=info'],
      'delivery service listening',
    );
    deliveryPort = Number((await child.ready).fields?.port);
    return child;
  };
  const hog = condition === 'hog' ? startCpuHog(HOG_PROCESSES) : undefined;
  let delivery = await startDelivery(0);
  let net: Devnet | undefined;
  let carrier: MixnetCarrier | undefined;
  const loads: number[] = [];
  const samples = new Map<string, Sample[]>();
  try {
    net = await startDevnet({
      dataDir: join(root, 'network'),
      mode: 'child-processes',
      layers: 3,
      nodesPerLayer: 1,
      gateways: 1,
      roundPeriodMs: 100,
      batchSize: 16,
      clientSendRate: 20,
      services: [`delivery=http://127.0.0.1:${deliveryPort}${REQUEST_PATH}`],
    });
    const devnet = net;
    const gateway = devnet.gateways[0] as DevnetNode;
    const mix = devnet.mixes[1]?.[0] as DevnetNode;
    const connected = await MixnetCarrier.connect({
      gatewayUrl: gateway.clientUrl as string,
      geometry: devnet.geometry,
      directoryUrl: devnet.directoryUrl,
      authorityPublicKeys: devnet.authorityKeys,
    });
    carrier = connected;
    const statuses: { readonly at: number; readonly status: CarrierStatus }[] = [];
    connected.onStatus((status) => statuses.push({ at: performance.now(), status }));
    const api = new DeliveryClient({ carrier: connected });
    const answers: number[] = [];
    let running = true;
    const stream = (async () => {
      while (running) {
        try {
          await api.fetchLog(randomBytes(32), 0, 10, { timeoutMs: 120_000 });
          answers.push(performance.now());
        } catch {
          // Down (the gateway refused, the service failed): the next request goes after a breath.
          await sleep(100);
        }
      }
    })();
    const settle = async (): Promise<void> => {
      const from = answers.length;
      while (connected.status().state !== 'up' || answers.length < from + SETTLE_ANSWERS) await sleep(50);
    };
    const firstAfter = async <T>(list: readonly T[], at: number, pick: (item: T) => number | undefined) => {
      for (;;) {
        for (const item of list) {
          const time = pick(item);
          if (time !== undefined && time >= at) return time - at;
        }
        await sleep(20);
      }
    };
    const answeredAfter = (at: number) => firstAfter(answers, at, (time) => time);
    const upAfter = (at: number) =>
      firstAfter(statuses, at, (entry) => (entry.status.state === 'up' ? entry.at : undefined));
    /**
     * When the status was first `up` again after it left `up` (from the entry `mark` on), relative to `at`;
     * 0 when it was back before `at` (a restarted gateway accepts clients before it logs that it is ready).
     */
    const backUp = async (mark: number, at: number): Promise<number> => {
      for (;;) {
        const entries = statuses.slice(mark);
        const left = entries.findIndex((entry) => entry.status.state !== 'up');
        const back = left < 0 ? undefined : entries.slice(left).find((entry) => entry.status.state === 'up');
        if (back) return Math.max(0, back.at - at);
        await sleep(20);
      }
    };

    const run = async (fault: Fault, role: Role, outageMs: number): Promise<Sample> => {
      await settle();
      loads.push(loadavg()[0] as number);
      const node = role === 'mix' ? mix : role === 'gateway' ? gateway : undefined;
      const mark = statuses.length;
      if (fault === 'stop') {
        const pid = node?.pid;
        if (pid === undefined) throw new Error(`${role} is not running`);
        const stoppedAt = performance.now();
        process.kill(pid, 'SIGSTOP');
        await sleep(outageMs);
        process.kill(pid, 'SIGCONT');
        const resumedAt = performance.now();
        const left = statuses.slice(mark).find((entry) => entry.status.state !== 'up');
        const [upMs, answerMs] = await Promise.all([
          left ? upAfter(resumedAt) : Promise.resolve(undefined),
          answeredAfter(resumedAt),
        ]);
        return { detectMs: left ? left.at - stoppedAt : undefined, upMs, answerMs };
      }
      if (node) await node.kill();
      else await delivery.signal('SIGKILL');
      await sleep(outageMs);
      if (node) await node.restart();
      else delivery = await startDelivery(deliveryPort);
      const restartedAt = performance.now();
      const left = statuses.slice(mark).some((entry) => entry.status.state !== 'up');
      const [upMs, answerMs] = await Promise.all([
        left ? backUp(mark, restartedAt) : Promise.resolve(undefined),
        answeredAfter(restartedAt),
      ]);
      return { detectMs: undefined, upMs, answerMs };
    };

    const faults: [Fault, Role][] = [
      ['kill', 'mix'],
      ['kill', 'gateway'],
      ['kill', 'delivery'],
      ['stop', 'gateway'],
      ['stop', 'mix'],
    ];
    for (const outageMs of OUTAGES_MS) {
      for (let round = 0; round < RUNS; round++) {
        for (const [fault, role] of faults) {
          const key = `${fault} ${role} ${outageMs}`;
          const sample = await run(fault, role, outageMs);
          console.log(key, JSON.stringify(sample));
          samples.set(key, [...(samples.get(key) ?? []), sample]);
        }
      }
    }
    running = false;
    await stream;
  } finally {
    await carrier?.close();
    await net?.stop();
    await delivery.signal('SIGTERM');
    hog?.stop();
    await rm(root, { recursive: true, force: true });
  }
  return { samples, loads };
}

const seconds = (values: readonly (number | undefined)[]): string => {
  const known = values.filter((value): value is number => value !== undefined);
  if (known.length === 0) return '— (stays up)';
  const fmt = (ms: number) => (ms / 1000).toFixed(1);
  const never = known.length < values.length ? ` (stayed up ${values.length - known.length}×)` : '';
  return `${fmt(median(known))} / ${fmt(Math.max(...known))}${never}`;
};
const label: Record<string, string> = {
  'kill mix': 'mix node: kill -9, restart',
  'kill gateway': 'gateway: kill -9, restart',
  'kill delivery': 'delivery service: kill -9, restart',
  'stop gateway': 'gateway: SIGSTOP, SIGCONT',
  'stop mix': 'mix node: SIGSTOP, SIGCONT',
};
const sections: string[] = [];
for (const condition of conditions) {
  const { samples, loads } = await measure(condition);
  const rows = [...samples].map(([key, list]) => [
    label[key.slice(0, key.lastIndexOf(' '))] ?? key,
    `${Number(key.slice(key.lastIndexOf(' ') + 1)) / 1000} s`,
    key.startsWith('stop') ? seconds(list.map((sample) => sample.detectMs)) : '—',
    seconds(list.map((sample) => sample.upMs)),
    seconds(list.map((sample) => sample.answerMs)),
  ]);
  const title = condition === 'quiet' ? 'Quiet' : `Beside a CPU hog (${HOG_PROCESSES} processes spinning)`;
  sections.push(`## ${title}

${table(['fault', 'outage', 'stop → indicator off', 'restart or SIGCONT → status up', 'restart or SIGCONT → first answer'], rows)}

Load average (1 min) before each fault: ${loads.map((load) => load.toFixed(1)).join(', ')}.`);
}
const markdown = `# Recovery after faults (\`npm run bench -- faults\`)

${machine()}

The network \`umbra up\` runs by default, every role its own process on this machine: a directory, one
gateway, 3 layers × 1 mix node (100 ms rounds, B = 16, λ = 20/s), the delivery service behind the gateway.
One mixnet carrier keeps one delivery request (fetchLog) in flight at a time. Each fault ${RUNS} times for
each outage length; median / worst, in seconds. "Restart" is when the restarted process logged it was
ready; "status up" is what the privacy indicator follows (for the gateway: the client's reconnection; 0.0
when it came before the ready line, as a gateway accepts clients first). The delivery service's outage
does not touch the indicator: the mixnet is up, and requests fail with \`unreachable\` (the exit's service
failed) until it is back. The machine is shared with other work: a busy machine stretches every figure.

${sections.join('\n\n')}
`;
writeResult('faults', markdown);
