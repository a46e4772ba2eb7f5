// `npm run bench -- mixnet`: the whole mix network on this machine — the development network in child-process
// mode (a directory, 2 gateways, 3 layers × 2 mix nodes, each its own process, TLS links, batch mixing) with
// mixnet carriers (src/client/carrier/mixnet.ts) in this process sending echo requests — for round periods
// of 100, 250 and 500 ms. Per period: requests answered per second (each is a message delivered end to end
// to the exit's service plus its reply back over a SURB), round-trip latency p50/p99 (from `request()` to the
// answer, including the wait for the client's next Poisson tick), packets per second per mix node and
// CPU time per packet per node (utime + stime of each node's process from /proc, over the packets its
// /metrics counted in). Two closed-loop phases per period (no queue grows without bound): light, one
// request in flight per client, for latency; saturating, SATURATING per client, for throughput and CPU. λ is
// chosen so that the clients' packets (real and cover) and the replies would fill about 70 % of a layer's
// capacity (nodes × B / period).

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MixnetCarrier } from '../src/client/carrier/mixnet.ts';
import { randomBytes } from '../src/crypto/random.ts';
import { type Devnet, type DevnetNode, startDevnet } from '../src/devnet/index.ts';
import { type ExperimentResult, quantile, runExperiment, STANDARD_EXPERIMENT } from '../src/privacy/index.ts';
import { formatRate, machine, table, writeResult } from './lib.ts';

const PERIODS = [100, 250, 500];
const BATCH = 32;
const NODES_PER_LAYER = 2;
const CLIENTS = 8;
const SATURATING = 16;
const WARM_UP_MS = 3_000;
const MEASURE_MS = 15_000;
/** Linux reports process CPU time in ticks of 1/100 s. */
const TICK_MS = 10;

function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

async function counter(node: DevnetNode, name: string): Promise<number> {
  const text = await (await fetch(`${node.opsUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

interface Phase {
  readonly answered: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  readonly retransmissions: number;
  /** CPU time of the benchmark process (the clients) per second of wall time. */
  readonly clientCpu: number;
  readonly mixPacketsPerSecond: number;
  readonly mixCpuUs: number;
  readonly gatewayCpuUs: number;
}

interface Row {
  readonly periodMs: number;
  readonly rate: number;
  /** One request in flight per client. */
  readonly light: Phase;
  /** `SATURATING` requests in flight per client. */
  readonly saturated: Phase;
}

async function run(periodMs: number): Promise<Row> {
  const capacity = (NODES_PER_LAYER * BATCH * 1000) / periodMs;
  // Per client: λ packets (requests and cover) and about λ/2 reply packets: 1.5 λ · clients = 0.7 capacity.
  const rate = Math.round((0.7 * capacity * 1000) / (1.5 * CLIENTS)) / 1000;
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-mixnet-'));
  let net: Devnet | undefined;
  const carriers: MixnetCarrier[] = [];
  try {
    net = await startDevnet({
      dataDir,
      mode: 'child-processes',
      layers: 3,
      nodesPerLayer: NODES_PER_LAYER,
      gateways: 2,
      roundPeriodMs: periodMs,
      batchSize: BATCH,
      clientSendRate: rate,
      gatewayLimits: { sendRate: 4 * rate, burst: 64 },
    });
    const network = net;
    for (let i = 0; i < CLIENTS; i++) {
      const gateway = network.gateways[i % network.gateways.length] as DevnetNode;
      carriers.push(
        await MixnetCarrier.connect({
          gatewayUrl: gateway.clientUrl as string,
          geometry: network.geometry,
          directoryUrl: network.directoryUrl,
          authorityPublicKeys: network.authorityKeys,
          service: 'echo',
        }),
      );
    }
    const mixes = network.mixes.flat();
    /** Keeps `outstanding` requests in flight per client; measures `MEASURE_MS` after `WARM_UP_MS`. */
    const phase = async (outstanding: number) => {
      const latencies: number[] = [];
      let failed = 0;
      let measuring = false;
      let stopping = false;
      const loops = carriers.flatMap((carrier) =>
        Array.from({ length: outstanding }, async () => {
          while (!stopping) {
            const counted = measuring;
            const started = performance.now();
            try {
              await carrier.request(randomBytes(64), { timeoutMs: 30_000 });
              if (counted && measuring) latencies.push(performance.now() - started);
            } catch {
              if (counted) failed++;
            }
          }
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
      const before = {
        cpu: network.nodes.map((node) => cpuMs(node.pid)),
        packets: await Promise.all(mixes.map((node) => counter(node, 'mix_packets_in_total'))),
        retransmitted: carriers.reduce((sum, carrier) => sum + carrier.stats().retransmissions, 0),
        client: process.cpuUsage(),
      };
      measuring = true;
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, MEASURE_MS));
      measuring = false;
      const elapsed = (performance.now() - started) / 1000;
      const after = {
        cpu: network.nodes.map((node) => cpuMs(node.pid)),
        packets: await Promise.all(mixes.map((node) => counter(node, 'mix_packets_in_total'))),
        retransmitted: carriers.reduce((sum, carrier) => sum + carrier.stats().retransmissions, 0),
        client: process.cpuUsage(before.client),
      };
      stopping = true;
      await Promise.all(loops);
      const cpuOf = (node: DevnetNode) => {
        const index = network.nodes.indexOf(node);
        return (after.cpu[index] as number) - (before.cpu[index] as number);
      };
      const mixPackets = mixes.reduce(
        (sum, _, i) => sum + (after.packets[i] as number) - (before.packets[i] as number),
        0,
      );
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        answered: latencies.length / elapsed,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        failed,
        retransmissions: after.retransmitted - before.retransmitted,
        clientCpu: (after.client.user + after.client.system) / 1000 / (elapsed * 1000),
        mixPacketsPerSecond: mixPackets / mixes.length / elapsed,
        mixCpuUs: (mixes.reduce((sum, node) => sum + cpuOf(node), 0) * 1000) / mixPackets,
        // A gateway unwraps twice per packet it serves (entry for its clients, exit for the last layer's
        // output); its packets are estimated as the mixes' mean.
        gatewayCpuUs:
          (network.gateways.reduce((sum, node) => sum + cpuOf(node), 0) * 1000) /
          (network.gateways.length * 2 * (mixPackets / mixes.length)),
      };
    };
    const light = await phase(1);
    const saturated = await phase(SATURATING);
    return { periodMs, rate, light, saturated };
  } finally {
    await Promise.all(carriers.map((carrier) => carrier.close()));
    await net?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
const loads: number[] = [];
for (const periodMs of PERIODS) {
  const row = await run(periodMs);
  loads.push(loadavg()[0] as number);
  console.log(JSON.stringify(row));
  rows.push(row);
}

/** The privacy harness of test/privacy, run longer: 20 clients at λ = 2, 10 conversations, 3 × 2 mixes. */
async function privacy(mixing: 'rounds' | 'off'): Promise<ExperimentResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-privacy-'));
  try {
    return await runExperiment({
      ...STANDARD_EXPERIMENT,
      dataDir,
      mixing,
      durationMs: PRIVACY_MS,
    });
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
const PRIVACY_MS = 40_000;
const privacyRuns = [await privacy('rounds'), await privacy('off')];
for (const result of privacyRuns) console.log(result.report);

const ms = (value: number) => `${Math.round(value).toLocaleString('en-US')} ms`;
const markdown = `# Mix network end to end (\`npm run bench -- mixnet\`)

${machine()}

Development network in child-process mode on this one machine: 1 directory, 2 gateways, 3 layers × ${NODES_PER_LAYER} mix
nodes (each its own process, unwrapping inline), batch size B = ${BATCH}, default geometry (X25519, 5 hops,
2,000-byte payload with SURB; 3,082-byte packets). ${CLIENTS} mixnet carriers in the benchmark process, each sending
at λ (table); its ticks without a request packet carry cover. A request is one message delivered end to end
(entry gateway → 3 mixes → exit gateway's echo service) and its reply back over a SURB (3 mixes → home
gateway); it takes two packets (the carrier attaches at least two SURBs, one per fragment). Two closed-loop
phases per period, each ${WARM_UP_MS / 1000} s of warm-up and ${MEASURE_MS / 1000} s measured: **light**, one request in flight per
client (latency), and **saturating**, ${SATURATING} per client (throughput, CPU).

${table(
  [
    'round period',
    'λ per client',
    'light: round trip p50',
    'light: p99',
    'saturating: answered/s',
    'saturating: p50',
    'packets/s per mix node',
    'CPU per packet, mix node',
    'CPU per packet, gateway',
    'client CPU (cores)',
    'retransmissions',
    'failed',
  ],
  rows.map(({ periodMs, rate, light, saturated }) => [
    `${periodMs} ms`,
    rate.toFixed(1),
    ms(light.p50),
    ms(light.p99),
    formatRate(saturated.answered),
    ms(saturated.p50),
    formatRate(saturated.mixPacketsPerSecond),
    `${Math.round(saturated.mixCpuUs)} µs`,
    `${Math.round(saturated.gatewayCpuUs)} µs`,
    saturated.clientCpu.toFixed(2),
    String(light.retransmissions + saturated.retransmissions),
    String(light.failed + saturated.failed),
  ]),
)}

- A mix node sends one or two whole batches of B per round (two only when a backlog waits); at one batch: ${PERIODS.map((p) => `${formatRate((BATCH * 1000) / p)}/s at ${p} ms`).join(', ')}.
  "packets/s per mix node" is what each node received; the rest of each batch is its own dummies.
- The round trip crosses the three layers twice: at least six waits for a round boundary (half a period on
  average) plus queueing behind dummies at layers 2 and 3 (docs/privacy.md, "dummies fill the later
  layers"), the wait for the client's next tick (1/λ on average) and the service.
- CPU per packet: a node's process CPU time over the packets it received (its rounds also build and send its
  dummies, and TLS for every packet out): the cost of one packet through one hop, everything included.
- Load average (1 min) of the machine after each period's run: ${loads.map((load) => load.toFixed(1)).join(', ')}
  — other work shared the machine's 2 cores; under contention latency is mostly waiting for a CPU.
- Anchors: xx network's realtime phase ≈ 1–2 s per round trip; Loopix > 300 messages/s per relay (Piotrowska
  et al., 2017, on server hardware). Here all ${3 * NODES_PER_LAYER + 3} processes and the clients share this machine's cores.
`;
const privacyMarkdown = `## Global passive adversary, longer run (src/privacy, docs/privacy.md)

In-process network of real MixNodes over TLS links, every link tapped; 20 clients at λ = 2/s, 10 conversations
at 1 message/s, ${PRIVACY_MS / 1000} s; round period 250 ms, B = 32. "Mixing off" replaces each mix by a relay that
forwards every packet as it arrives.

${table(
  [
    'mixing',
    'messages',
    'attacker right',
    'chance (perfect shuffle)',
    '± 3σ',
    '1/k',
    'mean k',
    'latency p50',
    'latency p99',
    'conversations identified by intersection',
  ],
  privacyRuns.map(({ report }, i) => [
    i === 0 ? 'rounds' : 'off',
    String(report.messages),
    report.successRate.toFixed(3),
    report.chance.toFixed(3),
    report.margin.toFixed(3),
    report.inverseK.toFixed(3),
    report.meanK.toFixed(1),
    `${Math.round(report.latency.p50)} ms`,
    `${Math.round(report.latency.p99)} ms`,
    `${report.conversations.identified}/${report.conversations.total}`,
  ]),
)}
`;
writeResult('mixnet', `${markdown}\n${privacyMarkdown}`);
