// `npm run bench -- delivery`: delivery-service throughput with 50 concurrent clients, each on its own
// WebSocket (DirectCarrier + DeliveryClient), against `umbra delivery` running as its own process — on
// SQLite (a data directory) and on PostgreSQL (DATABASE_URL, a fresh schema; skipped when unset).
// Each client keeps one request in flight at a time, so the service sees up to 50 concurrent requests.
// - posts: application messages of 1 KiB (bucket 1,024) to the client's own routing ID, a fresh routing ID
//   every 50 posts (the default quota is 100 items per routing ID);
// - polls: fetchLog from the cursor at the end of a routing ID (nothing new: the common poll), and
//   fetchLog of a page of 10 entries of 1 KiB.
// - tokens (docs/tokens.md): KeyPackage claims and mailbox posts, each spending an anonymous token, beside
//   the same run against a service started with `--tokens off`; and tokens issued per second (the service's
//   side of issuance: the clients blind their requests before and finalize after the timed phase).
// - reference (issue 14): the same posts against a bare server of the same shape (bench/reference/
//   delivery-server.ts: ws + the database with group commit or batched inserts, nothing else), from bare
//   `ws` clients; umbra's posts/s and the reference's are each the median of RUNS runs, side by side.
// Rates are requests completed divided by the wall time of the phase; latencies are per request. Beside the
// rates, the posts phases report CPU time per post (Linux /proc): the server process (all its threads), the
// bench process (the clients), and PostgreSQL's own processes — on a shared 2-core machine the wall-clock rate
// follows the sum of these more than any one server's speed.
// `npm run bench -- delivery --posts-only` runs only the posts beside the reference and writes no file;
// BENCH_SERVICE_NODE_FLAGS adds Node flags to umbra's service processes (to profile them).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { publicVerif } from '@cloudflare/privacypass-ts';
import pg from 'pg';
import { WebSocket } from 'ws';
import { toHex } from '../src/bytes.ts';
import { DirectCarrier } from '../src/client/carrier/direct.ts';
import { randomBytes } from '../src/crypto/random.ts';
import { DeliveryClient } from '../src/protocol/client.ts';
import { IdentityKeyPair } from '../src/protocol/identity.ts';
import { BLIND_RSA_MODE, MAX_TOKENS_PER_ISSUANCE, tokenChallenge } from '../src/protocol/tokens.ts';
import { formatRate, machine, median, table, writeResult } from './lib.ts';

const CLIENTS = 50;
const POSTS_PER_CLIENT = 200;
const POLLS_PER_CLIENT = 400;
const BLOB = 1024;
const PER_ROUTING_ID = 50;
/** Claims, and mailbox posts, per client in the token phases (each spends one token when tokens are on). */
const TOKEN_OPS_PER_CLIENT = 20;
const MAIN = fileURLToPath(new URL('../src/delivery/main.ts', import.meta.url));
const REFERENCE = fileURLToPath(new URL('./reference/delivery-server.ts', import.meta.url));
/** Runs of the posts phase, umbra's and the reference's alternating; the tables show medians. */
const RUNS = 3;
const POSTS_ONLY = process.argv.includes('--posts-only');
/** Node flags for umbra's service processes, e.g. BENCH_SERVICE_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/p'. */
const SERVICE_NODE_FLAGS = (process.env.BENCH_SERVICE_NODE_FLAGS ?? '').split(' ').filter(Boolean);

interface Service {
  readonly url: string;
  /** The server's process ID, for its CPU time. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** User + system CPU microseconds of one process (all its threads), or of every process named `name`. */
function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // utime and stime, fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function cpuOfProcessesNamed(name: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) total += processCpu(Number(entry));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total;
}

/** CPU microseconds per post of the server, of this process (the clients) and of PostgreSQL's processes. */
interface CpuPerPost {
  readonly server: number;
  readonly clients: number;
  readonly database: number;
}

/** Starts counting CPU time; the returned function gives it per post for `posts` posts (undefined off Linux). */
function cpuMeter(serverPid: number): (posts: number) => CpuPerPost | undefined {
  if (process.platform !== 'linux') return () => undefined;
  const server = processCpu(serverPid);
  const database = cpuOfProcessesNamed('postgres');
  const clients = process.cpuUsage();
  return (posts) => {
    const used = process.cpuUsage(clients);
    return {
      server: (processCpu(serverPid) - server) / posts,
      clients: (used.user + used.system) / posts,
      database: (cpuOfProcessesNamed('postgres') - database) / posts,
    };
  };
}

async function startService(args: readonly string[]): Promise<Service> {
  // Every client connects from 127.0.0.1: the per-address cap must let all of them in.
  const options = [
    '--port',
    '0',
    '--log-level',
    'info',
    '--max-connections-per-ip',
    String(CLIENTS),
    // The bench process blinds thousands of tokens between phases, for minutes on a loaded machine; a pong
    // it answers late must not have the service drop its clients.
    '--ping-interval-ms',
    '600000',
    ...args,
  ];
  const child: ChildProcess = spawn(process.execPath, [...SERVICE_NODE_FLAGS, MAIN, ...options], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'close');
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      const line = JSON.parse(text) as { msg: string; fields?: { port?: number } };
      if (line.msg === 'delivery service listening' && line.fields?.port) resolve(line.fields.port);
    });
    void exited.then(() => reject(new Error('the delivery service exited')));
  });
  return {
    url: `ws://127.0.0.1:${port}/v1/ws`,
    pid: child.pid as number,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts the bare reference server (`sqlite <file>` or `postgres <url>`) as its own process. */
async function startReference(args: readonly string[]): Promise<Service> {
  const child: ChildProcess = spawn(process.execPath, [REFERENCE, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'close');
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (text) =>
      resolve((JSON.parse(text) as { port: number }).port),
    );
    void exited.then(() => reject(new Error('the reference server exited')));
  });
  return {
    url: `ws://127.0.0.1:${port}`,
    pid: child.pid as number,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The posts phase against the reference: bare `ws` clients, one post in flight each, as in `run`. */
async function runReference(service: Service): Promise<Phase> {
  const sockets = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const socket = new WebSocket(service.url);
      await once(socket, 'open');
      return socket;
    }),
  );
  try {
    const blob = randomBytes(BLOB);
    const routing = sockets.map(() => randomBytes(32));
    const post = async (i: number): Promise<void> => {
      const socket = sockets[i] as WebSocket;
      const answered = once(socket, 'message');
      socket.send(Buffer.concat([routing[i] as Uint8Array, randomBytes(16), blob]));
      const [answer] = (await answered) as [Buffer];
      check(answer[0] === 1, 'reference post');
    };
    await Promise.all(sockets.map((_, i) => post(i)));
    const cpu = cpuMeter(service.pid);
    const posts = await phase(POSTS_PER_CLIENT, async (i, j) => {
      if (j % PER_ROUTING_ID === 0) routing[i] = randomBytes(32);
      await post(i);
    });
    return withCpu(posts, cpu(CLIENTS * POSTS_PER_CLIENT));
  } finally {
    for (const socket of sockets) socket.close();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

interface Phase {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** The posts phases only. */
  readonly cpu?: CpuPerPost;
}

function withCpu(phase: Phase, cpu: CpuPerPost | undefined): Phase {
  return cpu === undefined ? phase : { ...phase, cpu };
}

/** Runs `perClient(i, j)` `count` times per client, sequentially within a client, all clients at once. */
async function phase(count: number, perClient: (client: number, j: number) => Promise<void>): Promise<Phase> {
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let j = 0; j < count; j++) {
        const began = performance.now();
        await perClient(client, j);
        latencies.push(performance.now() - began);
      }
    }),
  );
  const elapsed = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return {
    rate: (latencies.length * 1000) / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark request failed: ${what}`);
}

interface Run {
  readonly posts: Phase;
  readonly emptyPolls?: Phase;
  readonly pagePolls?: Phase;
}

/** Posts, then (with `polls`) the two poll phases on what was posted. */
async function run(service: Service, polls: boolean): Promise<Run> {
  const carriers = Array.from({ length: CLIENTS }, () => new DirectCarrier({ url: service.url }));
  const clients = carriers.map((carrier) => new DeliveryClient({ carrier }));
  try {
    const routing = clients.map(() => randomBytes(32));
    const blob = randomBytes(BLOB);
    const post = () => ({ kind: 'application', messageId: randomBytes(16), blob, bucket: BLOB }) as const;
    // Warm-up: every connection opens and the database caches fill.
    await Promise.all(clients.map((client, i) => client.postToLog(routing[i] as Uint8Array, post())));

    const cpu = cpuMeter(service.pid);
    const postsPhase = await phase(POSTS_PER_CLIENT, async (i, j) => {
      if (j % PER_ROUTING_ID === 0) routing[i] = randomBytes(32);
      const routingId = routing[i] as Uint8Array;
      const result = await (clients[i] as DeliveryClient).postToLog(routingId, post());
      check(result.ok, 'post');
    });
    const posts = withCpu(postsPhase, cpu(CLIENTS * POSTS_PER_CLIENT));
    if (!polls) return { posts };
    // Each client's current routing ID holds up to 50 entries; poll at its end, then pages of 10.
    const cursors = await Promise.all(
      clients.map(async (client, i) => {
        const page = await client.fetchLog(routing[i] as Uint8Array, 0);
        return page.entries.at(-1)?.seq ?? 0;
      }),
    );
    const emptyPolls = await phase(POLLS_PER_CLIENT, async (i) => {
      const page = await (clients[i] as DeliveryClient).fetchLog(
        routing[i] as Uint8Array,
        cursors[i] as number,
      );
      check(page.entries.length === 0, 'empty poll');
    });
    const pagePolls = await phase(POLLS_PER_CLIENT, async (i) => {
      const page = await (clients[i] as DeliveryClient).fetchLog(routing[i] as Uint8Array, 0, 10);
      check(page.entries.length === 10, 'page poll');
    });
    return { posts, emptyPolls, pagePolls };
  } finally {
    await Promise.all(carriers.map((carrier) => carrier.close()));
  }
}

interface TokenRun {
  readonly claims: Phase;
  readonly mailboxPosts: Phase;
  /** Tokens issued per second during the issuance phase, when tokens are on. */
  readonly issuedPerSecond?: number;
}

/**
 * Claims and mailbox posts from registered clients, each on its own connection; with `tokens`, each spends a
 * token fetched beforehand (privacypass-ts's client blinds and finalizes outside the timed phases).
 */
async function runTokens(service: Service, tokens: boolean): Promise<TokenRun> {
  const carriers = Array.from({ length: CLIENTS }, () => new DirectCarrier({ url: service.url }));
  const wallets: Uint8Array[][] = carriers.map(() => []);
  const identities = carriers.map(() => IdentityKeyPair.generate());
  const clients = carriers.map(
    (carrier, i) =>
      new DeliveryClient({
        carrier,
        identity: identities[i] as IdentityKeyPair,
        tokens: { take: async () => wallets[i]?.pop(), refused: () => undefined },
      }),
  );
  const run = toHex(randomBytes(4));
  const handles = clients.map((_, i) => `bench-${run}-${i}`);
  try {
    await Promise.all(
      clients.map(async (client, i) => {
        const handle = handles[i] as string;
        check((await client.register(handle)).ok, 'register');
        const oneTime = Array.from({ length: TOKEN_OPS_PER_CLIENT }, () => ({
          id: randomBytes(16),
          data: randomBytes(BLOB),
        }));
        const published = await client.publishKeyPackages({ handle, deviceId: randomBytes(8), oneTime });
        check(published.ok, 'publish');
      }),
    );
    let issuedPerSecond: number | undefined;
    if (tokens) {
      const { issuerName, keys } = await (clients[0] as DeliveryClient).issuerKeys();
      const tokenKey = keys[0]?.tokenKey ?? new Uint8Array(0);
      const perClient = 2 * TOKEN_OPS_PER_CLIENT;
      const blinded = await Promise.all(
        clients.map(() =>
          Promise.all(
            Array.from({ length: perClient }, async () => {
              const client = new publicVerif.Client(BLIND_RSA_MODE);
              const request = await client.createTokenRequest(tokenChallenge(issuerName), tokenKey);
              return { client, request: request.serialize() };
            }),
          ),
        ),
      );
      const responses: Uint8Array[][] = clients.map(() => []);
      const start = performance.now();
      await Promise.all(
        clients.map(async (client, i) => {
          const mine = blinded[i] ?? [];
          for (let at = 0; at < mine.length; at += MAX_TOKENS_PER_ISSUANCE) {
            const batch = mine.slice(at, at + MAX_TOKENS_PER_ISSUANCE).map(({ request }) => request);
            const result = await client.issueTokens(handles[i] as string, batch);
            check(result.ok && result.responses.length === batch.length, 'issue');
            if (result.ok) responses[i]?.push(...result.responses);
          }
        }),
      );
      issuedPerSecond = (CLIENTS * perClient * 1000) / (performance.now() - start);
      for (const [i, mine] of blinded.entries()) {
        for (const [j, { client }] of mine.entries()) {
          const response = responses[i]?.[j] ?? new Uint8Array(0);
          const token = await client.finalize(new publicVerif.TokenResponse(Uint8Array.from(response)));
          wallets[i]?.push(token.serialize());
        }
      }
    }
    const claims = await phase(TOKEN_OPS_PER_CLIENT, async (i) => {
      const result = await (clients[i] as DeliveryClient).claimKeyPackages(handles[i] as string);
      check(result.ok && result.packages[0]?.lastResort === false, 'claim');
    });
    const mailboxes = clients.map(() => randomBytes(32));
    const blob = randomBytes(BLOB);
    const mailboxPosts = await phase(TOKEN_OPS_PER_CLIENT, async (i) => {
      const post = { messageId: randomBytes(16), blob, bucket: BLOB };
      const result = await (clients[i] as DeliveryClient).postToMailbox(mailboxes[i] as Uint8Array, post);
      check(result.ok, 'mailbox post');
    });
    return { claims, mailboxPosts, ...(issuedPerSecond === undefined ? {} : { issuedPerSecond }) };
  } finally {
    await Promise.all(carriers.map((carrier) => carrier.close()));
  }
}

const ms = (value: number) => value.toFixed(1);
const rows: string[][] = [];
const tokenRows: string[][] = [];
const ratios: string[] = [];

/** Runs the token phases with tokens on and off, each against its own fresh service from `start`. */
async function tokenRowsFor(name: string, start: (tokens: boolean) => Promise<Service>): Promise<void> {
  const results: TokenRun[] = [];
  for (const tokens of [true, false]) {
    const service = await start(tokens);
    try {
      const result = await runTokens(service, tokens);
      console.log(name, tokens ? 'tokens on' : 'tokens off', JSON.stringify(result));
      results.push(result);
      tokenRows.push([
        name,
        tokens ? 'on' : 'off',
        formatRate(result.claims.rate),
        `${ms(result.claims.p50)} / ${ms(result.claims.p99)}`,
        formatRate(result.mailboxPosts.rate),
        `${ms(result.mailboxPosts.p50)} / ${ms(result.mailboxPosts.p99)}`,
        result.issuedPerSecond === undefined ? '—' : formatRate(result.issuedPerSecond),
      ]);
    } finally {
      await service.stop();
    }
  }
  const [on, off] = results as [TokenRun, TokenRun];
  ratios.push(
    `${name}: claims ${(on.claims.rate / off.claims.rate).toFixed(2)}, mailbox posts ${(on.mailboxPosts.rate / off.mailboxPosts.rate).toFixed(2)}`,
  );
}

const referenceRows: string[][] = [];
const cpuRows: string[][] = [];

/**
 * RUNS runs of the posts phase against fresh umbra services from `start` (the first also runs the polls) and
 * against fresh reference servers from `startBare`, alternating; a row of medians in each table.
 */
async function compare(
  name: string,
  start: (runIndex: number) => Promise<Service>,
  startBare: (runIndex: number) => Promise<Service>,
): Promise<void> {
  const umbra: Run[] = [];
  const bare: Phase[] = [];
  for (let index = 0; index < RUNS; index++) {
    const service = await start(index);
    try {
      umbra.push(await run(service, index === 0));
    } finally {
      await service.stop();
    }
    const reference = await startBare(index);
    try {
      bare.push(await runReference(reference));
    } finally {
      await reference.stop();
    }
    console.log(name, `run ${index + 1}`, JSON.stringify({ umbra: umbra.at(-1), reference: bare.at(-1) }));
  }
  const [first] = umbra as [Run];
  const posts = median(umbra.map((result) => result.posts.rate));
  const referencePosts = median(bare.map((result) => result.rate));
  const rates = (phases: readonly Phase[]) => phases.map((result) => formatRate(result.rate)).join(', ');
  rows.push([
    name,
    formatRate(posts),
    `${ms(median(umbra.map((result) => result.posts.p50)))} / ${ms(median(umbra.map((result) => result.posts.p99)))}`,
    formatRate(first.emptyPolls?.rate ?? 0),
    `${ms(first.emptyPolls?.p50 ?? 0)} / ${ms(first.emptyPolls?.p99 ?? 0)}`,
    formatRate(first.pagePolls?.rate ?? 0),
    `${ms(first.pagePolls?.p50 ?? 0)} / ${ms(first.pagePolls?.p99 ?? 0)}`,
  ]);
  referenceRows.push([
    name,
    `${formatRate(posts)} (${rates(umbra.map((result) => result.posts))})`,
    `${formatRate(referencePosts)} (${rates(bare)})`,
    (posts / referencePosts).toFixed(2),
  ]);
  const umbraCpu = umbra.flatMap((result) => (result.posts.cpu ? [result.posts.cpu] : []));
  const bareCpu = bare.flatMap((result) => (result.cpu ? [result.cpu] : []));
  if (umbraCpu.length > 0 && bareCpu.length > 0) {
    const of = (all: readonly CpuPerPost[], part: (cpu: CpuPerPost) => number) => median(all.map(part));
    const sum = (cpu: CpuPerPost) => cpu.server + cpu.clients + cpu.database;
    const pair = (part: (cpu: CpuPerPost) => number) =>
      `${of(umbraCpu, part).toFixed(0)} / ${of(bareCpu, part).toFixed(0)}`;
    cpuRows.push([
      name,
      pair((cpu) => cpu.server),
      pair((cpu) => cpu.clients),
      pair((cpu) => cpu.database),
      pair(sum),
      (of(bareCpu, sum) / of(umbraCpu, sum)).toFixed(2),
    ]);
  }
}

/** The token runs' service flags: a budget that does not limit the benchmark, or tokens off. */
function tokenFlags(tokens: boolean): string[] {
  return tokens ? ['--tokens', 'on', '--tokens-per-day', '1000000'] : ['--tokens', 'off'];
}

const loadBefore = loadavg()[0] ?? 0;
const dataDir = await mkdtemp(join(tmpdir(), 'umbra-bench-delivery-'));
try {
  await compare(
    'SQLite (WAL, one file)',
    (index) => startService(['--data-dir', join(dataDir, `posts-${index}`)]),
    (index) => startReference(['sqlite', join(dataDir, `reference-${index}.sqlite`)]),
  );
  if (!POSTS_ONLY) {
    let fresh = 0;
    await tokenRowsFor('SQLite', (tokens) =>
      startService(['--data-dir', join(dataDir, `tokens-${fresh++}`), ...tokenFlags(tokens)]),
    );
  }

  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const schema = `umbra_bench_${toHex(randomBytes(4))}`;
    const schemas: string[] = [];
    const startPostgres = (flags: readonly string[]): Promise<Service> => {
      schemas.push(`${schema}_${schemas.length}`);
      return startService([
        '--postgres',
        databaseUrl,
        '--postgres-schema',
        schemas.at(-1) as string,
        '--data-dir',
        dataDir,
        ...flags,
      ]);
    };
    try {
      await compare(
        'PostgreSQL (pool of 10)',
        () => startPostgres([]),
        () => startReference(['postgres', databaseUrl]),
      );
      if (!POSTS_ONLY) await tokenRowsFor('PostgreSQL', (tokens) => startPostgres(tokenFlags(tokens)));
    } finally {
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      for (const name of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      await admin.end();
    }
  } else {
    rows.push(['PostgreSQL', 'skipped: DATABASE_URL not set', '', '', '', '', '']);
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
const loadAfter = loadavg()[0] ?? 0;

const referenceTable = table(
  ['database', 'umbra posts/s (runs)', 'bare server posts/s (runs)', 'ratio (target ≥ 0.8)'],
  referenceRows,
);
const cpuTable = table(
  [
    'database',
    'server µs/post (umbra / bare)',
    'clients µs/post',
    'PostgreSQL µs/post',
    'sum µs/post',
    'bare / umbra sum',
  ],
  cpuRows,
);
if (POSTS_ONLY) {
  console.log(
    `${machine()}; load ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}\n\n${referenceTable}\n\n${cpuTable}`,
  );
  process.exit(0);
}

writeResult(
  'delivery',
  `# Delivery service

${machine()}

${CLIENTS} concurrent clients, each on its own WebSocket (DirectCarrier + DeliveryClient) with one request in
flight, against \`umbra delivery\` running as a separate process on the same machine (default limits but
\`--max-connections-per-ip ${CLIENTS}\`, every client being on loopback; the clients and the service share the
cores). Posts: ${CLIENTS} × ${POSTS_PER_CLIENT} application messages of
${BLOB} bytes, a fresh routing ID every ${PER_ROUTING_ID} posts. Empty polls: fetchLog from the end of a
routing ID (the common "anything new?" poll). Page polls: fetchLog of 10 entries of ${BLOB} bytes. Latency is
per request, p50 / p99 in ms. Load average (1 min) when the run started: ${loadBefore.toFixed(1)}; other work on
a shared machine slows every figure. SQLite runs with \`synchronous = FULL\` (an accepted commit survives a
power cut) on a worker thread of its own and commits in groups: the posts that arrive while one commit waits
for the disk share the next transaction and its fsync, each answered once that commit is done. PostgreSQL
runs each post as one statement (\`post_batch\`), the posts that arrive meanwhile batched into the next.
Posts are the median of ${RUNS} runs, each against a fresh service; polls are from the first run.

## Beside a bare server of the same shape (issue 14)

The same posts phase (${CLIENTS} clients, ${BLOB}-byte posts, one in flight each, a fresh stream every
${PER_ROUTING_ID}) against \`bench/reference/delivery-server.ts\`: \`ws\` and the database and nothing else — for
SQLite \`node:sqlite\` in WAL with \`synchronous = FULL\` and group commit (the posts that arrive during a
commit share the next), for PostgreSQL \`pg\` with the posts that arrive during an INSERT batched into the next
one (\`INSERT … SELECT … FROM unnest($1::bytea[], …)\`) — from bare \`ws\` clients sending one binary frame
per post. ${RUNS} runs each, alternating umbra and the reference, each against a fresh database; medians, the
runs in brackets. Load average (1 min) ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end.

${referenceTable}

CPU time per post in the same phases (medians of the runs; user + system from /proc, the server process with
all its threads, the bench process running the 50 clients, and PostgreSQL's own processes): the clients and
the servers share the machine's 2 cores, so the wall-clock ratio above follows the ratio of the sums.

${cpuTable}

## Throughput and latency

${table(
  ['database', 'posts/s', 'post ms', 'empty polls/s', 'empty poll ms', 'page polls/s', 'page poll ms'],
  rows,
)}

## Anonymous tokens (issue 12, docs/tokens.md)

The same ${CLIENTS} clients, registered, each claiming ${TOKEN_OPS_PER_CLIENT} of its own one-time KeyPackages and
posting ${TOKEN_OPS_PER_CLIENT} items of ${BLOB} bytes to a mailbox, with tokens on (each request spends
a token: challenge check, RSA-PSS verification with the public key in node:crypto, one more statement in the
request's transaction to record the spend) and, against a fresh
service started with \`--tokens off\`, without. Tokens issued/s: ${CLIENTS} clients at once each fetching
${2 * TOKEN_OPS_PER_CLIENT} tokens in signed \`issueTokens\` requests of up to ${MAX_TOKENS_PER_ISSUANCE} (the service's
side: signature and nonce check, budget, one RSA-2048 private operation and its check per token); the clients'
blinding (privacypass-ts) runs before the timed phase and finalization after it.

${table(
  ['database', 'tokens', 'claims/s', 'claim ms', 'mailbox posts/s', 'mailbox post ms', 'tokens issued/s'],
  tokenRows,
)}

On/off ratio (target ≥ 0.8): ${ratios.join('; ')}.
`,
);
