// `npm run bench -- mixnode`: Sphinx unwraps per second through a whole mix node pipeline — TLS ingress,
// unwrapping, replay filter (SQLite), round queue, rounds and TLS egress to an exit — with the unwrapping
// inline on the main thread and in a pool of worker threads, beside the bare single-thread unwrap rate
// measured in the same run. Default network geometry (X25519, 5 hops, 2,000-byte user payload with a SURB).
// A gateway in the same process sends a fixed set of packets as fast as the node takes them; the figure is
// packets admitted to the round queue divided by the time from the first send to the last admission.
//
// Then the CPU table (issue 14's metric): a node at 100 ms rounds of B = 32 — the devnet's — takes a steady
// LOAD_RATE packets/s for LOAD_SECONDS from a gateway in a child process (bench/support/mixnode-load.ts, which
// also holds the sink standing for every next hop), so that rounds, dummies (over two later layers and an
// exit, as a first-layer node's) and TLS both ways all run; its CPU time (process.cpuUsage: the main thread and
// the crypto workers) over the real packets it forwarded, beside one bare `Sphinx.unwrap` of the same run.
// `npm run bench -- mixnode cpu` measures and prints the CPU table alone (for before/after comparisons).

import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex, toHex } from '../src/bytes.ts';
import { nodeBackend } from '../src/crypto/backends/node.ts';
import { randomBytes } from '../src/crypto/random.ts';
import { Link, LinkServer, TlsIdentity } from '../src/links/index.ts';
import { type Logger, type Metrics, MixNode, type Topology } from '../src/mixnode/index.ts';
import { Geometry, Sphinx } from '../src/sphinx/index.ts';
import { formatRate, machine, measure, median, table, writeResult } from './lib.ts';
import type { Hello, NodeInfo } from './support/mixnode-load.ts';

const PACKETS = 8_000;
const RUNS = 3;
const BATCH = 512;
const PERIOD_MS = 250;
const LOAD_PERIOD_MS = 100;
const LOAD_BATCH = 32;
const LOAD_RATE = 250;
const LOAD_SECONDS = 8;
const cpuOnly = process.argv[3] === 'cpu';

const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 2000,
  withSurb: true,
  nrHops: 5,
});
const sphinx = new Sphinx(geometry, nodeBackend);
const exit = {
  id: randomBytes(32),
  keys: nodeBackend.x25519.generateKeyPair(),
  identity: TlsIdentity.generate(),
};
const gatewayIdentity = TlsIdentity.generate();
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const metrics: Metrics = { increment() {}, setGauge() {}, observe() {} };

const sink = await LinkServer.listen({
  identity: exit.identity,
  host: '127.0.0.1',
  port: 0,
  frameLength: geometry.packetLength,
  preamble: geometry.hash(),
  authorize: () => true,
  onFrame: () => {},
});

const topology: Topology = {
  peer: (id) =>
    toHex(id) === toHex(exit.id)
      ? { address: sink.address, tlsFingerprint: exit.identity.fingerprint }
      : undefined,
  isAllowedSender: (fingerprint) => toHex(fingerprint) === toHex(gatewayIdentity.fingerprint),
  hopsAfter: () => [[{ id: exit.id, sphinxPublicKey: exit.keys.publicKey }]],
};
const epochs = { now: Date.now, epochAt: () => 1, startOf: () => 0 };

const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-mix-'));

function start(workers: number): Promise<MixNode> {
  return MixNode.start({
    id: randomBytes(32),
    geometry,
    dataDir,
    listen: { host: '127.0.0.1', port: 0 },
    topology,
    epochs,
    metrics,
    logger: silent,
    round: { roundPeriodMs: PERIOD_MS, batchSize: BATCH },
    graceMs: 0,
    workers,
    maxQueuedPackets: PACKETS,
  });
}

/** Unwraps per second through the node: from the first send until every packet is queued or sent. */
async function throughput(workers: number, packets: readonly Uint8Array[]): Promise<number> {
  // A fresh replay filter, the same keys (the packets were built for them).
  await rm(join(dataDir, 'replay.sqlite'), { force: true });
  await rm(join(dataDir, 'replay.sqlite-wal'), { force: true });
  const node = await start(workers);
  let forwarded = 0;
  node.onRound((report) => {
    forwarded += report.real;
  });
  const link = new Link({
    identity: gatewayIdentity,
    peer: { ...node.address, fingerprint: node.tlsFingerprint },
    frameLength: geometry.packetLength,
    preamble: geometry.hash(),
    maxQueuedFrames: packets.length,
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  link.send(packets.map((packet) => packet.slice()));
  while (node.queueDepth + forwarded < packets.length) await new Promise((resolve) => setTimeout(resolve, 2));
  const seconds = (performance.now() - started) / 1000;
  await link.close();
  await node.stop();
  await rm(join(dataDir, 'queue'), { recursive: true, force: true });
  return packets.length / seconds;
}

const keyNode = await start(0);
const key = keyNode.publicKeys().find((entry) => entry.epoch === 1)?.publicKey;
const nodeId = randomBytes(32);
await keyNode.stop();
if (!key) throw new Error('no epoch key');
const path = [
  { id: nodeId, publicKey: key },
  {
    id: exit.id,
    publicKey: exit.keys.publicKey,
    commands: [{ type: 'recipient' as const, id: randomBytes(32) }],
  },
];
if (!cpuOnly) console.log(`building ${PACKETS} packets…`);
const packets = Array.from({ length: cpuOnly ? 1 : PACKETS }, () => sphinx.newPacket(path, randomBytes(100)));

const secret = (await readFile(join(dataDir, 'sphinx-keys', 'e1.key'))).subarray(32);
const sample = packets[0] as Uint8Array;
const bare = measure(() => sphinx.unwrap(secret, sample), 1500).opsPerSecond;

const threads = availableParallelism();
const rows: string[][] = [];
for (const workers of cpuOnly ? [] : [0, 1, threads]) {
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) rates.push(await throughput(workers, packets));
  const bestRate = Math.max(...rates);
  rows.push([
    workers === 0 ? 'inline (main thread)' : `worker pool, ${workers} thread${workers > 1 ? 's' : ''}`,
    formatRate(bestRate),
    `${(bestRate / bare).toFixed(2)}×`,
  ]);
}

interface CpuRun {
  readonly cpuPerPacketUs: number;
  readonly forwardedPerSecond: number;
  readonly dummiesPerSecond: number;
}

/** One node under LOAD_RATE packets/s for LOAD_SECONDS: its CPU time per real packet forwarded. */
async function cpuPerPacket(workers: number): Promise<CpuRun> {
  const child = fork(new URL('./support/mixnode-load.ts', import.meta.url), [
    String(geometry.packetLength),
    toHex(geometry.hash()),
  ]);
  const next = <T>(type: string) =>
    new Promise<T>((resolve) => {
      const listener = (message: { type: string }) => {
        if (message.type !== type) return;
        child.off('message', listener);
        resolve(message as T);
      };
      child.on('message', listener);
    });
  const hello = await next<Hello>('hello');
  const sinkPeer = { address: hello.sink, tlsFingerprint: fromHex(hello.sinkFingerprint) };
  const later = Array.from({ length: 2 }, () => ({
    id: randomBytes(32),
    sphinxPublicKey: nodeBackend.x25519.generateKeyPair().publicKey,
  }));
  const nextHops = new Set([toHex(exit.id), ...later.map((hop) => toHex(hop.id))]);
  const loadDir = await mkdtemp(join(tmpdir(), 'umbra-bench-mix-load-'));
  const node = await MixNode.start({
    id: randomBytes(32),
    geometry,
    dataDir: loadDir,
    listen: { host: '127.0.0.1', port: 0 },
    topology: {
      peer: (id) => (nextHops.has(toHex(id)) ? sinkPeer : undefined),
      isAllowedSender: (fingerprint) => toHex(fingerprint) === hello.gatewayFingerprint,
      hopsAfter: () => [
        ...later.map((hop) => [hop]),
        [{ id: exit.id, sphinxPublicKey: exit.keys.publicKey }],
      ],
    },
    epochs,
    metrics,
    logger: silent,
    round: { roundPeriodMs: LOAD_PERIOD_MS, batchSize: LOAD_BATCH },
    graceMs: 0,
    workers,
  });
  const publicKey = node.publicKeys().find((entry) => entry.epoch === 1)?.publicKey;
  if (!publicKey) throw new Error('no epoch key');
  const ready = next('ready');
  child.send({
    type: 'node',
    geometry: geometry.toJSON(),
    address: node.address,
    fingerprint: toHex(node.tlsFingerprint),
    publicKey: toHex(publicKey),
    nextHop: toHex(exit.id),
    nextHopPublicKey: toHex(exit.keys.publicKey),
    packetsPerSecond: LOAD_RATE,
    seconds: LOAD_SECONDS,
  } satisfies NodeInfo);
  await ready;
  let forwarded = 0;
  let dummies = 0;
  node.onRound((report) => {
    forwarded += report.real;
    dummies += report.dummies;
  });
  const sent = next<{ packets: number }>('sent');
  const cpu = process.cpuUsage();
  const started = performance.now();
  child.send({ type: 'go' });
  const { packets } = await sent;
  // The rest leave within the pool's cap (10 rounds); a packet lost on the way ends the wait at 3 s.
  const deadline = performance.now() + 3000;
  while (forwarded < packets && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - started) / 1000;
  await node.stop();
  child.send({ type: 'exit' });
  await new Promise((resolve) => child.once('exit', resolve));
  await rm(loadDir, { recursive: true, force: true });
  return {
    cpuPerPacketUs: (used.user + used.system) / forwarded,
    forwardedPerSecond: forwarded / seconds,
    dummiesPerSecond: dummies / seconds,
  };
}

/** CPU time of one bare unwrap, beside each run (CPU time, not wall time: a loaded machine stretches the latter). */
function bareUnwrapCpuUs(): number {
  const count = 1000;
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) sphinx.unwrap(secret, sample);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const bareRuns: number[] = [];
const cpuMedians: { workers: number; runs: CpuRun[] }[] = [];
for (const workers of [0, threads]) {
  const runs: CpuRun[] = [];
  for (let run = 0; run < RUNS; run++) {
    bareRuns.push(bareUnwrapCpuUs());
    runs.push(await cpuPerPacket(workers));
  }
  cpuMedians.push({ workers, runs });
}
const bareUs = median(bareRuns);
const cpuRows = cpuMedians.map(({ workers, runs }) => {
  const perPacket = median(runs.map((run) => run.cpuPerPacketUs));
  return [
    workers === 0 ? 'inline (main thread)' : `worker pool, ${workers} thread${workers > 1 ? 's' : ''}`,
    formatRate(median(runs.map((run) => run.forwardedPerSecond))),
    formatRate(median(runs.map((run) => run.dummiesPerSecond))),
    `${Math.round(perPacket)} µs`,
    `${(perPacket / bareUs).toFixed(2)}×`,
  ];
});
const cpuTable = table(
  ['crypto', 'forwarded/s', 'dummies/s', 'CPU per forwarded packet', 'vs. one bare unwrap'],
  cpuRows,
);
// The exit's sink was the only thing left listening: closed, the process exits once the table is out.
await sink.close();
await rm(dataDir, { recursive: true, force: true });
if (cpuOnly) console.log(`one bare unwrap: ${Math.round(bareUs)} µs\n${cpuTable}`);
else
  writeResult(
    'mixnode',
    `# Mix node pipeline

${machine()}

${PACKETS.toLocaleString('en-US')} packets of ${geometry.packetLength.toLocaleString('en-US')} bytes (X25519, 5 hops, 2,000-byte user
payload with a SURB) sent over one TLS link (X25519MLKEM768) by a gateway in the same process, through ingress →
unwrap → replay filter (SQLite, committed every round) → round queue → rounds of ${BATCH} every ${PERIOD_MS} ms → TLS
egress to an exit. Best of ${RUNS} runs. The bare figure is \`Sphinx.unwrap\` in a loop on one thread, no I/O.
On this shared machine repeated runs differ by up to about 20 %.

${table(
  ['pipeline', 'unwraps/s', 'vs. bare single-thread unwrap'],
  [...rows, ['bare `Sphinx.unwrap`, one thread', formatRate(bare), '1.00×']],
)}

## CPU per packet with rounds and dummies running

One node at ${LOAD_PERIOD_MS} ms rounds of B = ${LOAD_BATCH} (the devnet's), ${LOAD_RATE} packets/s for ${LOAD_SECONDS} s from a gateway in a child process
(bench/support/mixnode-load.ts); each round tops up to B with dummies over two later layers and an exit, as a
first-layer node's. CPU is the node process's (main thread and crypto workers: \`process.cpuUsage\`) from the first
packet sent until the last real one left, over the real packets forwarded. Medians of ${RUNS} runs. One bare
\`Sphinx.unwrap\`, in CPU time, measured before each run: ${Math.round(bareUs)} µs (median). Target (issue 14): ≤ 1.5×.

${cpuTable}
`,
  );
