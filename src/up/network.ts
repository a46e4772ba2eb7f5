/**
 * The network behind `umbra up`: the development network of src/devnet (directory authority in development
 * mode, one gateway, `layers × nodesPerLayer` mixes) plus the delivery service, which the gateway offers to
 * clients as its `delivery` service over HTTP (`POST /v1/request`) and which the direct carrier reaches over
 * WebSocket (`/v1/ws`). In child-process mode each is its own process, as an operator would run them; in
 * single-process mode everything runs here. Child processes stop on their own when this process dies
 * (`ChildNode` of src/devnet).
 *
 * Everything is kept under the data directory — `network/` (authority keys, node identities, Sphinx keys,
 * replay filters, inboxes), `delivery/` (SQLite database and identifier key) and `logs/` — so a second start
 * reuses keys and data. The delivery service keeps one port for the life of `umbra up`, so the gateway's
 * service address stays valid when it is stopped and started again from the console: the OS picks it when the
 * service first listens (port 0, read back from the handle or the child's ready line), never in advance.
 */
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DELIVERY_OPTIONS,
  defaultIdentifierKeyPath,
  loadIdentifierKey,
  SQLITE_FILE,
  storeLocation,
} from '../delivery/role.ts';
import {
  type DeliveryServerHandle,
  REQUEST_PATH,
  startDeliveryServer,
  WEBSOCKET_PATH,
} from '../delivery/server.ts';
import { openStore } from '../delivery/store/index.ts';
import { ChildNode, type Devnet, type DevnetNode, numberField, startDevnet } from '../devnet/index.ts';
import type { MixingParameters } from '../directory/document.ts';
import { AUTHORITY_PUBLIC_FILE } from '../directory/store.ts';
import { ArgumentError } from '../errors.ts';
import type { LinkDelay } from '../links/index.ts';
import { loadConfig } from '../ops/config.ts';
import type { Logger, LogLevel } from '../ops/logger.ts';
import type { WebConfig } from '../protocol/web-config.ts';
import type { StatusRow } from './report.ts';
import type { Upstreams } from './web-server.ts';

export interface NetworkOptions {
  readonly dataDir: string;
  /** What the directory signs into every network document: layers, rounds, B, λ, cover, epochs. */
  readonly parameters: MixingParameters;
  readonly nodesPerLayer: number;
  /** Simulated latency on every link between nodes (bad-weather tests and drills). */
  readonly linkDelay?: LinkDelay;
  readonly postgres: string | undefined;
  readonly singleProcess: boolean;
  readonly logLevel: LogLevel;
  /** Reports a completed startup step, for people. */
  readonly step: (text: string) => void;
  readonly logger: Logger;
}

export interface RunningNetwork {
  readonly authorityPublicKeys: string;
  readonly geometry: WebConfig['geometry'];
  /** Where the web server relays to; read on every request (components may restart). */
  upstreams(): Upstreams;
  /** The delivery service's WebSocket, when it runs. */
  readonly delivery: Upstreams['delivery'];
  rows(): StatusRow[];
  summary(): string;
  /** `stop` or `start` one component by name: gateway, delivery, or a node name such as mix-2-0. */
  control(action: 'stop' | 'start', name: string): Promise<void>;
  close(): Promise<void>;
}

const DELIVERY_MAIN = fileURLToPath(new URL('../delivery/main.ts', import.meta.url));
const DELIVERY_READY = 'delivery service listening';

/** The delivery service, in this process or as `node src/delivery/main.ts`. */
interface DeliveryComponent {
  readonly running: boolean;
  /**
   * Where it listens: 0 until its first start, which listens on a port the OS picks; every restart comes
   * back on that port, since the gateway was given its address.
   */
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function deliveryInProcess(options: NetworkOptions, dataDir: string, logger: Logger): DeliveryComponent {
  let running: { server: DeliveryServerHandle; close(): Promise<void> } | undefined;
  let port = 0;
  return {
    get running() {
      return running !== undefined;
    },
    get port() {
      return port;
    },
    async start() {
      if (running) return;
      // The delivery service's own option schema, so its defaults and checks apply here as in its process.
      const settings = loadConfig(DELIVERY_OPTIONS, [
        `--data-dir=${dataDir}`,
        `--port=${port}`,
        ...(options.postgres === undefined ? [] : [`--postgres=${options.postgres}`]),
      ]);
      const store = await openStore(storeLocation(settings));
      const server = await startDeliveryServer({
        store,
        identifierKey: loadIdentifierKey(settings).key,
        port,
        logger,
      }).catch(async (error: unknown) => {
        await store.close();
        throw error;
      });
      port = server.port;
      running = {
        server,
        close: async () => {
          await server.close();
          await store.close();
        },
      };
    },
    async stop() {
      const current = running;
      running = undefined;
      await current?.close();
    },
  };
}

function deliveryChild(options: NetworkOptions, dataDir: string, log: WriteStream): DeliveryComponent {
  let child: ChildNode | undefined;
  let port = 0;
  return {
    get running() {
      return child !== undefined;
    },
    get port() {
      return port;
    },
    async start() {
      if (child) return;
      // With --postgres the database is PostgreSQL; the data directory still keeps the identifier key.
      const args = [
        `--data-dir=${dataDir}`,
        `--port=${port}`,
        `--log-level=${options.logLevel === 'debug' ? 'debug' : 'info'}`,
        ...(options.postgres === undefined ? [] : [`--postgres=${options.postgres}`]),
      ];
      const started = new ChildNode(DELIVERY_MAIN, args, DELIVERY_READY, (line) => log.write(`${line}\n`));
      child = started;
      void started.exited.then(() => {
        if (child === started) child = undefined;
      });
      port = numberField(await started.ready, 'port');
    },
    async stop() {
      const current = child;
      child = undefined;
      await current?.signal('SIGTERM');
    },
  };
}

async function keepChildLogs(devnet: Devnet, logDir: string): Promise<void> {
  for (const node of devnet.nodes) {
    if (node.logs.length === 0) continue;
    await appendFile(join(logDir, `${node.name}.log`), `${node.logs.join('\n')}\n`, { mode: 0o600 }).catch(
      () => {},
    );
  }
}

function hostPort(url: string): { host: string; port: number; path: string } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port), path: parsed.pathname };
}

export async function startNetwork(options: NetworkOptions): Promise<RunningNetwork> {
  const { step, logger } = options;
  if (options.parameters.layers < 1) throw new ArgumentError('layers', 'expected at least one layer');
  const networkDir = join(options.dataDir, 'network');
  const deliveryDir = join(options.dataDir, 'delivery');
  const logDir = join(options.dataDir, 'logs');
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const log = createWriteStream(join(logDir, 'delivery.log'), { flags: 'a', mode: 0o600 });
  const networkLog = createWriteStream(join(logDir, 'network.log'), { flags: 'a', mode: 0o600 });

  // The delivery service first: the gateway offers it from its first moment.
  const hadIdentifierKey = existsSync(defaultIdentifierKeyPath(deliveryDir));
  const delivery = options.singleProcess
    ? deliveryInProcess(options, deliveryDir, logger.child({ component: 'delivery' }))
    : deliveryChild(options, deliveryDir, log);
  await delivery.start();
  const deliveryPort = delivery.port;
  const database =
    options.postgres === undefined ? `SQLite ${join(deliveryDir, SQLITE_FILE)}` : 'PostgreSQL (--postgres)';
  step(
    `delivery service: ${database}, schema migrated; identifier key ${hadIdentifierKey ? 'reused' : 'generated'}`,
  );

  const hadAuthority = existsSync(join(networkDir, 'directory', AUTHORITY_PUBLIC_FILE));
  let devnet: Devnet;
  try {
    devnet = await startDevnet({
      dataDir: networkDir,
      ...options.parameters,
      nodesPerLayer: options.nodesPerLayer,
      gateways: 1,
      ...(options.linkDelay === undefined ? {} : { linkDelay: options.linkDelay }),
      services: ['echo', `delivery=http://127.0.0.1:${deliveryPort}${REQUEST_PATH}`],
      mode: options.singleProcess ? 'single-process' : 'child-processes',
      logLevel: options.logLevel,
      logSink: (line) => networkLog.write(`${line}\n`),
    });
  } catch (error) {
    await delivery.stop();
    log.end();
    networkLog.end();
    throw error;
  }
  step(
    `directory authority keys ${hadAuthority ? 'reused' : 'generated'} (Ed25519 + ML-DSA-65); node keys in ${networkDir}`,
  );
  const first = await devnet.document();
  let epoch = first.epoch;
  step(`first network document signed: epoch ${epoch}, ${first.nodes.length} nodes`);

  const gateway = devnet.gateways[0] as DevnetNode;
  const geometry: WebConfig['geometry'] = {
    scheme: devnet.geometry.scheme,
    payloadLength: devnet.geometry.userForwardPayloadLength,
    withSurb: devnet.geometry.withSurb,
    hops: devnet.geometry.nrHops,
  };
  const deliveryUpstream = { host: '127.0.0.1', port: deliveryPort, path: WEBSOCKET_PATH };

  const component = (name: string): DevnetNode | DeliveryComponent => {
    if (name === 'delivery') return delivery;
    const node = name === 'gateway' ? gateway : devnet.nodes.find((candidate) => candidate.name === name);
    if (node === undefined) {
      const names = ['gateway', 'delivery', ...devnet.mixes.flat().map((mix) => mix.name)];
      throw new ArgumentError('component', `unknown component; one of ${names.join(', ')}`);
    }
    return node;
  };

  return {
    authorityPublicKeys: devnet.authorityKeysText,
    geometry,
    delivery: deliveryUpstream,
    upstreams: () => ({
      directory: devnet.directoryUrl,
      gateway: hostPort(gateway.clientUrl ?? 'ws://127.0.0.1:0/'),
      delivery: deliveryUpstream,
    }),
    rows: () => {
      const state = (running: boolean) => (running ? '' : '(stopped)');
      return [
        { role: 'directory', address: devnet.directoryUrl, detail: 'signs the network document' },
        {
          role: 'gateway',
          address: gateway.clientUrl ?? '',
          detail: state(gateway.running) || 'clients connect here',
        },
        ...devnet.mixes.flat().map((mix) => ({
          role: `mix layer ${mix.layer}`,
          address: `${mix.linkAddress.host}:${mix.linkAddress.port}`,
          detail: state(mix.running) || mix.name,
        })),
        {
          role: 'delivery',
          address: `http://127.0.0.1:${deliveryPort}`,
          detail: state(delivery.running) || database,
        },
      ];
    },
    summary: () => {
      const p = devnet.parameters;
      // The epoch shown is the last one fetched; this refreshes it for the next `status`.
      void devnet.document().then(
        (document) => {
          epoch = document.epoch;
        },
        () => {},
      );
      return `epoch ${epoch} · ${p.layers} layers × ${options.nodesPerLayer} · round ${p.roundPeriodMs} ms · batch ${p.batchSize} · λ ${p.clientSendRate} packets/s per client · ${devnet.mode}`;
    },
    control: async (action, name) => {
      const target = component(name);
      if (action === 'stop') await target.stop();
      else if ('restart' in target) await target.restart();
      else await target.start();
    },
    close: async () => {
      // Child nodes keep their last log lines in memory only: they are written out before they stop.
      await keepChildLogs(devnet, logDir);
      await devnet.stop();
      await delivery.stop();
      await new Promise((resolve) => log.end(resolve));
      await new Promise((resolve) => networkLog.end(resolve));
    },
  };
}
