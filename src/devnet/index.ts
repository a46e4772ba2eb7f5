/**
 * A whole mix network on this machine for development and tests (docs/gateway.md, "Development network"):
 * one directory authority in development mode, `layers × nodesPerLayer` mix nodes and `gateways` gateways,
 * all on loopback with ephemeral ports, each with its own data directory under `dataDir`. In
 * 'single-process' mode every role runs in this process (`startDirectory`, `startMix`, `startGateway`); in
 * 'child-processes' mode each is its own `node src/<role>/main.ts` process, as an operator would run them,
 * and is found through the JSON line it logs when ready; such a child stops gracefully when this process dies,
 * however it dies (`ChildNode`, src/ops/process.ts). `startDevnet` resolves once the current network
 * document lists every node and every node follows it, so packets can flow at once.
 *
 * Nodes can be stopped (gracefully), killed (SIGKILL in child mode; in single-process mode the same as a
 * stop, as a process cannot kill part of itself) and restarted on the same data directory and ports, which
 * is what the fault tests need: identities, keys, replay filters and inboxes survive.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../bytes.ts';
import {
  type AuthorityPublicKeys,
  formatAuthorityPublicKeys,
  parseAuthorityPublicKeys,
} from '../directory/authority-keys.ts';
import { fetchNetworkDocument } from '../directory/client.ts';
import {
  DEFAULT_MIXING_PARAMETERS,
  type MixingParameters,
  type NetworkDocument,
} from '../directory/document.ts';
import { type DirectoryHandle, startDirectory } from '../directory/server.ts';
import { AUTHORITY_PUBLIC_FILE } from '../directory/store.ts';
import { ArgumentError, MixnetError } from '../errors.ts';
import type { GatewayLimits } from '../gateway/gateway.ts';
import { type GatewayHandle, startGateway } from '../gateway/role.ts';
import { parseServices } from '../gateway/services.ts';
import type { DirectoryLink } from '../hop/directory-session.ts';
import type { NodeAddress } from '../hop/types.ts';
import type { LinkDelay } from '../links/index.ts';
import { type MixHandle, startMix } from '../mixnode/role.ts';
import { createLogger, type Logger, type LogLevel } from '../ops/logger.ts';
import { CHILD_STDIO } from '../ops/process.ts';
import type { RequestHandler } from '../protocol/carrier.ts';
import { Geometry, type SphinxSchemeName } from '../sphinx/index.ts';

export type DevnetMode = 'single-process' | 'child-processes';

/**
 * The mixing parameters a development network runs with unless told otherwise: the directory's defaults
 * (`DEFAULT_MIXING_PARAMETERS`) but for the rounds, batches and client rate, which are sized for tests that
 * run a whole network on one machine: 100 ms rounds instead of 500 so a round trip through the layers takes
 * a fraction of a second, and B = 4 with λ = 5 instead of 32 and 2, so the dummies every round tops up to B
 * and the clients' cover stay cheap on shared cores while a few test clients still fill batches. (`umbra up`
 * passes its own.)
 */
export const DEVNET_PARAMETERS: MixingParameters = {
  ...DEFAULT_MIXING_PARAMETERS,
  roundPeriodMs: 100,
  batchSize: 4,
  clientSendRate: 5,
};

export interface DevnetOptions {
  /** Every node's data directory goes under it (created if needed). */
  readonly dataDir: string;
  /** Default `DEVNET_PARAMETERS` (the directory's). */
  readonly layers?: number;
  /** Default 1. */
  readonly nodesPerLayer?: number;
  /** Default 1. */
  readonly gateways?: number;
  /** Default `DEVNET_PARAMETERS` (100 ms). */
  readonly roundPeriodMs?: number;
  /** B; default `DEVNET_PARAMETERS` (4). */
  readonly batchSize?: number;
  /** λ, packets per second per client; default `DEVNET_PARAMETERS` (5). */
  readonly clientSendRate?: number;
  /** Default `DEVNET_PARAMETERS` (the directory's, 0.5). */
  readonly loopCoverShare?: number;
  /** Default `DEVNET_PARAMETERS` (the directory's, 20 minutes: no rotation during a test); at least 1 s. */
  readonly epochPeriodMs?: number;
  /** Default `DEVNET_PARAMETERS` (the directory's, 60 s). */
  readonly keyGracePeriodMs?: number;
  /** `--service` entries for every gateway: 'echo' or 'name=http(s)://…'. Default ['echo']. */
  readonly services?: readonly string[];
  /** Extra in-process services by name ('single-process' mode only), e.g. a test's delivery handler. */
  readonly serviceHandlers?: Readonly<Record<string, RequestHandler>>;
  /** Default 'single-process'. */
  readonly mode?: DevnetMode;
  /** Default x25519, 2,000-byte payloads, with SURB, layers + 2 hops. */
  readonly geometry?: {
    readonly scheme?: SphinxSchemeName;
    readonly payloadLength?: number;
    readonly withSurb?: boolean;
    readonly hops?: number;
  };
  /**
   * Client limits of every gateway (child processes take inboxQuota, sendRate, burst, itemTtlMs,
   * maxClientsPerAddress). `maxClientsPerAddress` defaults to `DEVNET_CLIENTS_PER_ADDRESS`.
   */
  readonly gatewayLimits?: Partial<GatewayLimits>;
  /** How often nodes fetch the document; default 200 ms. */
  readonly pollMs?: number;
  /** Crypto worker threads per node (mix or gateway); default 0 (inline). */
  readonly workers?: number;
  /** Simulated latency on every link between nodes (bad-weather tests); none by default. */
  readonly linkDelay?: LinkDelay;
  /** Log level of every node; default 'error'. */
  readonly logLevel?: LogLevel;
  /** Where in-process nodes' log lines go; default nowhere. Child processes' lines are kept in `node.logs`. */
  readonly logSink?: (line: string) => void;
  /** Longest wait for the network to come up; default 60 s. */
  readonly startTimeoutMs?: number;
}

export interface DevnetNode {
  /** 'directory', 'mix-<layer>-<index>' or 'gateway-<index>'. */
  readonly name: string;
  readonly role: 'mix' | 'gateway';
  /** 1..layers for mixes, 0 for gateways. */
  readonly layer: number;
  /** Sphinx node id (stable across restarts: the identity is in `dataDir`). */
  readonly id: Uint8Array;
  readonly dataDir: string;
  /** Link (TLS) listener; the same after a restart. */
  readonly linkAddress: NodeAddress;
  /** Gateways: ws:// URL of the client endpoint (the same after a restart). */
  readonly clientUrl: string | undefined;
  /** http://127.0.0.1:port of its /metrics and /health (changes on restart). */
  readonly opsUrl: string;
  /** Child process id ('child-processes' mode, while running). */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The last log lines of a child process (for diagnosing a failed test). */
  readonly logs: readonly string[];
  /** Graceful stop (SIGTERM in child mode). */
  stop(): Promise<void>;
  /** SIGKILL in child mode; a stop in single-process mode. */
  kill(): Promise<void>;
  /** Starts it again on the same data directory and ports. */
  restart(): Promise<void>;
}

export interface Devnet {
  readonly mode: DevnetMode;
  readonly directoryUrl: string;
  readonly authorityKeys: AuthorityPublicKeys;
  /** The text form of the authority keys (what `--authority-keys` takes). */
  readonly authorityKeysText: string;
  readonly geometry: Geometry;
  readonly parameters: MixingParameters;
  /** Every mix and gateway. */
  readonly nodes: readonly DevnetNode[];
  /** Mixes by layer: `mixes[0]` is layer 1. */
  readonly mixes: readonly (readonly DevnetNode[])[];
  readonly gateways: readonly DevnetNode[];
  /** The current verified network document. */
  document(): Promise<NetworkDocument>;
  /**
   * Resolves with the current document once it lists every running node and every running node follows it
   * or a later issue (so that packets can flow along any path at once).
   */
  waitForDocument(timeoutMs?: number): Promise<NetworkDocument>;
  /** Stops every node, then the directory. */
  stop(): Promise<void>;
}

const MAIN = {
  directory: fileURLToPath(new URL('../directory/main.ts', import.meta.url)),
  mix: fileURLToPath(new URL('../mixnode/main.ts', import.meta.url)),
  gateway: fileURLToPath(new URL('../gateway/main.ts', import.meta.url)),
};
const KEPT_LOG_LINES = 200;
/** The per-address client cap of devnet gateways: all their clients share loopback. */
export const DEVNET_CLIENTS_PER_ADDRESS = 4096;

interface ReadyLine {
  readonly msg: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * A role's `main.ts` (or any `runProcess` entry point) as a child process, resolved when it logs
 * `readyMessage`. It is spawned with the IPC channel of `CHILD_STDIO`, so it stops gracefully when this
 * process dies, even by SIGKILL. Its last output lines are kept in `logs`, and each also goes to `onLine`.
 */
export class ChildNode {
  readonly logs: string[] = [];
  /** The JSON log lines up to and including the ready line. */
  readonly lines: ReadyLine[] = [];
  readonly process: ChildProcess;
  readonly ready: Promise<ReadyLine>;
  readonly exited: Promise<unknown>;

  constructor(main: string, args: readonly string[], readyMessage: string, onLine?: (line: string) => void) {
    this.process = spawn(process.execPath, [main, ...args], { stdio: [...CHILD_STDIO] });
    // The channel is only there to close when this process dies; it must not keep this process running.
    this.process.channel?.unref();
    this.exited = once(this.process, 'exit');
    let isReady = false;
    const keep = (line: string) => {
      this.logs.push(line);
      if (this.logs.length > KEPT_LOG_LINES) this.logs.shift();
      onLine?.(line);
    };
    this.ready = new Promise<ReadyLine>((resolve, reject) => {
      createInterface({ input: this.process.stdout as NodeJS.ReadableStream }).on('line', (text) => {
        keep(text);
        if (isReady) return;
        try {
          const line = JSON.parse(text) as ReadyLine;
          this.lines.push(line);
          if (line.msg === readyMessage) {
            isReady = true;
            resolve(line);
          }
        } catch {
          // Not a log line: kept for diagnosis only.
        }
      });
      createInterface({ input: this.process.stderr as NodeJS.ReadableStream }).on('line', keep);
      void this.exited.then(() =>
        reject(
          new MixnetError('closed', `${main} exited before it was ready: ${this.logs.slice(-5).join(' | ')}`),
        ),
      );
    });
  }

  /** Whether the process has not exited yet. */
  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.alive) this.process.kill(signal);
    await this.exited;
  }
}

/** A number the ready line carries (a port a child bound, say); throws when it carries none. */
export function numberField(line: ReadyLine, name: string): number {
  const value = line.fields?.[name];
  if (typeof value !== 'number') throw new MixnetError('closed', `the ready line carries no ${name}`);
  return value;
}

function stringField(line: ReadyLine, name: string): string {
  const value = line.fields?.[name];
  if (typeof value !== 'string') throw new MixnetError('closed', `the ready line carries no ${name}`);
  return value;
}

/** Starts the network and resolves once every node is in the current document. */
export async function startDevnet(options: DevnetOptions): Promise<Devnet> {
  const mode = options.mode ?? 'single-process';
  const layers = options.layers ?? DEVNET_PARAMETERS.layers;
  const nodesPerLayer = options.nodesPerLayer ?? 1;
  const gatewayCount = options.gateways ?? 1;
  for (const [name, value] of [
    ['layers', layers],
    ['nodesPerLayer', nodesPerLayer],
    ['gateways', gatewayCount],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new ArgumentError(name, 'expected a positive integer');
  }
  if (mode === 'child-processes' && options.serviceHandlers) {
    throw new ArgumentError('serviceHandlers', 'in-process handlers need single-process mode');
  }
  const pollMs = options.pollMs ?? 200;
  const logLevel = options.logLevel ?? 'error';
  const services = options.services ?? ['echo'];
  const geometryChoices = {
    scheme: options.geometry?.scheme ?? 'x25519',
    userForwardPayloadLength: options.geometry?.payloadLength ?? 2_000,
    withSurb: options.geometry?.withSurb ?? true,
    nrHops: options.geometry?.hops ?? layers + 2,
  };
  const geometry = Geometry.create(geometryChoices);
  const parameters: MixingParameters = {
    epochPeriodMs: options.epochPeriodMs ?? DEVNET_PARAMETERS.epochPeriodMs,
    layers,
    roundPeriodMs: options.roundPeriodMs ?? DEVNET_PARAMETERS.roundPeriodMs,
    batchSize: options.batchSize ?? DEVNET_PARAMETERS.batchSize,
    clientSendRate: options.clientSendRate ?? DEVNET_PARAMETERS.clientSendRate,
    loopCoverShare: options.loopCoverShare ?? DEVNET_PARAMETERS.loopCoverShare,
    keyGracePeriodMs: options.keyGracePeriodMs ?? DEVNET_PARAMETERS.keyGracePeriodMs,
  };
  await mkdir(options.dataDir, { recursive: true });
  const logger = (role: string, name: string): Logger =>
    createLogger({ role, level: logLevel, sink: options.logSink ?? (() => {}) }).child({ node: name });
  const geometryFlags = [
    `--sphinx-scheme=${geometryChoices.scheme}`,
    `--payload-length=${geometryChoices.userForwardPayloadLength}`,
    `--with-surb=${geometryChoices.withSurb}`,
    `--hops=${geometryChoices.nrHops}`,
  ];

  // The directory.
  const directoryDir = join(options.dataDir, 'directory');
  let directoryUrl: string;
  let authorityKeys: AuthorityPublicKeys;
  let stopDirectory: () => Promise<void>;
  if (mode === 'single-process') {
    const handle: DirectoryHandle = await startDirectory({
      dataDir: directoryDir,
      devMode: true,
      epochPeriodMs: parameters.epochPeriodMs,
      geometry,
      parameters,
      logger: logger('directory', 'directory'),
    });
    directoryUrl = handle.url;
    authorityKeys = handle.publicKeys;
    stopDirectory = () => handle.close();
  } else {
    const child = new ChildNode(
      MAIN.directory,
      [
        `--data-dir=${directoryDir}`,
        '--port=0',
        '--dev-mode',
        `--epoch-period-ms=${parameters.epochPeriodMs}`,
        `--layers=${layers}`,
        `--round-period-ms=${parameters.roundPeriodMs}`,
        `--batch-size=${parameters.batchSize}`,
        `--client-send-rate=${parameters.clientSendRate}`,
        `--loop-cover-share=${parameters.loopCoverShare}`,
        `--key-grace-period-ms=${parameters.keyGracePeriodMs}`,
        ...geometryFlags,
        '--log-level=info',
      ],
      'directory listening',
    );
    const ready = await child.ready;
    directoryUrl = `http://127.0.0.1:${numberField(ready, 'port')}`;
    authorityKeys = parseAuthorityPublicKeys(
      await readFile(join(directoryDir, AUTHORITY_PUBLIC_FILE), 'utf8'),
    );
    stopDirectory = () => child.signal('SIGTERM');
  }
  const authorityKeysText = formatAuthorityPublicKeys(authorityKeys);
  const directory: DirectoryLink = { url: directoryUrl, authorityKeys, geometry };
  const nodeFlags = (dataDir: string) => [
    `--data-dir=${dataDir}`,
    `--directory-url=${directoryUrl}`,
    `--authority-keys=${authorityKeysText}`,
    ...geometryFlags,
    `--poll-ms=${pollMs}`,
    ...(options.linkDelay === undefined
      ? []
      : [`--link-delay-ms=${options.linkDelay.ms}`, `--link-jitter-ms=${options.linkDelay.jitterMs}`]),
    '--ops-port=0',
    '--log-level=info',
  ];
  const linkDelay = options.linkDelay === undefined ? {} : { linkDelay: options.linkDelay };

  const inProcessServices = new Map<string, RequestHandler>(parseServices(services));
  for (const [name, handler] of Object.entries(options.serviceHandlers ?? {}))
    inProcessServices.set(name, handler);

  /** One node: how to start it (on given ports) and what it reports once started. */
  function makeNode(
    role: 'mix' | 'gateway',
    layer: number,
    name: string,
  ): DevnetNode & { start(): Promise<void> } {
    const dataDir = join(options.dataDir, name);
    let linkPort = 0;
    let clientPort = 0;
    let opsPort = 0;
    let id: Uint8Array | undefined;
    let inProcess: MixHandle | GatewayHandle | undefined;
    let child: ChildNode | undefined;
    let running = false;
    // Every client of a devnet connects from this host: the per-address cap would count them as one.
    const limits = { maxClientsPerAddress: DEVNET_CLIENTS_PER_ADDRESS, ...options.gatewayLimits };
    const workers = options.workers ?? 0;

    async function start(): Promise<void> {
      if (running) return;
      if (mode === 'single-process') {
        const nodeLogger = logger(role, name);
        if (role === 'mix') {
          const handle = await startMix({
            dataDir,
            directory,
            layer,
            listen: { host: '127.0.0.1', port: linkPort },
            workers,
            ...linkDelay,
            pollMs,
            ops: { host: '127.0.0.1', port: 0 },
            logger: nodeLogger,
          });
          linkPort = handle.address.port;
          opsPort = handle.ops?.port ?? 0;
          id = handle.id;
          inProcess = handle;
        } else {
          const handle = await startGateway({
            dataDir,
            directory,
            linkListen: { host: '127.0.0.1', port: linkPort },
            clientListen: { host: '127.0.0.1', port: clientPort },
            services: inProcessServices,
            limits,
            workers,
            ...linkDelay,
            pollMs,
            ops: { host: '127.0.0.1', port: 0 },
            logger: nodeLogger,
          });
          linkPort = handle.linkAddress.port;
          opsPort = handle.ops?.port ?? 0;
          clientPort = handle.node.clientAddress.port;
          id = handle.id;
          inProcess = handle;
        }
      } else {
        const args =
          role === 'mix'
            ? [...nodeFlags(dataDir), `--layer=${layer}`, `--port=${linkPort}`, `--workers=${workers}`]
            : [
                ...nodeFlags(dataDir),
                `--port=${linkPort}`,
                `--client-port=${clientPort}`,
                `--workers=${workers}`,
                ...services.map((service) => `--service=${service}`),
                ...(limits.inboxQuota === undefined ? [] : [`--inbox-quota=${limits.inboxQuota}`]),
                ...(limits.sendRate === undefined ? [] : [`--client-rate=${limits.sendRate}`]),
                ...(limits.burst === undefined ? [] : [`--client-burst=${limits.burst}`]),
                ...(limits.itemTtlMs === undefined ? [] : [`--item-ttl-ms=${limits.itemTtlMs}`]),
                `--max-clients-per-address=${limits.maxClientsPerAddress}`,
              ];
        const started = new ChildNode(MAIN[role], args, role === 'mix' ? 'mix node ready' : 'gateway ready');
        child = started;
        const ready = await started.ready;
        linkPort = numberField(ready, role === 'mix' ? 'port' : 'linkPort');
        if (role === 'gateway') clientPort = numberField(ready, 'clientPort');
        id = fromHex(stringField(ready, 'nodeId'));
        const ops = started.lines.find((line) => line.msg === 'operator endpoints listening');
        opsPort = ops ? numberField(ops, 'port') : 0;
      }
      running = true;
    }

    async function halt(signal: NodeJS.Signals): Promise<void> {
      if (!running) return;
      running = false;
      if (inProcess) await inProcess.stop();
      if (child) await child.signal(signal);
      inProcess = undefined;
      child = undefined;
    }

    return {
      name,
      role,
      layer,
      dataDir,
      get id() {
        if (!id) throw new MixnetError('closed', `${name} has not started`);
        return id;
      },
      get linkAddress() {
        return { host: '127.0.0.1', port: linkPort };
      },
      get clientUrl() {
        return role === 'gateway' ? `ws://127.0.0.1:${clientPort}/v1/client` : undefined;
      },
      get opsUrl() {
        return `http://127.0.0.1:${opsPort}`;
      },
      get pid() {
        return child?.process.pid;
      },
      get running() {
        return running;
      },
      get logs() {
        return child?.logs ?? [];
      },
      start,
      stop: () => halt('SIGTERM'),
      kill: () => halt('SIGKILL'),
      restart: async () => {
        await halt('SIGTERM');
        await start();
      },
    };
  }

  const gateways = Array.from({ length: gatewayCount }, (_, index) =>
    makeNode('gateway', 0, `gateway-${index}`),
  );
  const mixes = Array.from({ length: layers }, (_, layer) =>
    Array.from({ length: nodesPerLayer }, (_, index) =>
      makeNode('mix', layer + 1, `mix-${layer + 1}-${index}`),
    ),
  );
  const nodes = [...gateways, ...mixes.flat()];

  async function document(): Promise<NetworkDocument> {
    return (
      await fetchNetworkDocument(directoryUrl, { authorityKeys, expectedGeometryHash: geometry.hash() })
    ).document;
  }

  /** When the document a node follows was issued, in Unix ms (its `network_document_issued_at_seconds`). */
  async function followed(node: DevnetNode): Promise<number> {
    const text = await (await fetch(`${node.opsUrl}/metrics`)).text();
    const name = 'network_document_issued_at_seconds ';
    const line = text.split('\n').find((candidate) => candidate.startsWith(name));
    return line ? Math.round(Number(line.slice(name.length)) * 1000) : 0;
  }

  async function waitForDocument(timeoutMs = options.startTimeoutMs ?? 60_000): Promise<NetworkDocument> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await document();
      const listed = new Set(current.nodes.map((node) => toHex(node.id)));
      const wanted = nodes.filter((node) => node.running);
      if (wanted.every((node) => listed.has(toHex(node.id)))) {
        const issued = await Promise.all(wanted.map(followed));
        if (issued.every((at) => at >= current.issuedAt)) return current;
      }
      if (Date.now() > deadline)
        throw new MixnetError('closed', 'the network document never listed every node');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function stop(): Promise<void> {
    await Promise.allSettled(nodes.map((node) => node.stop()));
    await stopDirectory();
  }

  try {
    // Gateways first: until exits are listed, mixes hold their rounds (no dummy route).
    await Promise.all(gateways.map((node) => node.start()));
    await Promise.all(mixes.flat().map((node) => node.start()));
    await waitForDocument();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    mode,
    directoryUrl,
    authorityKeys,
    authorityKeysText,
    geometry,
    parameters,
    nodes,
    mixes,
    gateways,
    document,
    waitForDocument,
    stop,
  };
}
