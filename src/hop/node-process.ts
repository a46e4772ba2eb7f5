/**
 * How `startMix` and `startGateway` start a node, written once (docs/gateway.md, "The mix process"): the
 * node's identity from its data directory, the first verified network document (waited for up to the
 * startup timeout), its `NetworkView`, the hop options its role starts the node with, then its directory
 * session (registration for the current and next epoch, then following the documents) and its /metrics,
 * /health and /ready endpoint, started together and stopped in order. A node is ready when the current
 * network document lists it as it is, it holds Sphinx keys for this epoch and the next, every link it has
 * opened to a next hop is connected, and its store (replay filter, inboxes) answers. Time (the startup
 * deadline, the view's epochs, the hop's rounds and ticks, the session's polls) comes from one `clock`.
 */
import { toHex } from '../bytes.ts';
import { type MixingParameters, type NetworkDocument, type NodeRole, nodeId } from '../directory/document.ts';
import type { LinkDelay } from '../links/index.ts';
import { type Clock, systemClock } from '../ops/clock.ts';
import { type OpsServer, probeCheck, type Readiness, startOpsServer } from '../ops/http.ts';
import type { LogFields, Logger } from '../ops/logger.ts';
import { MetricsRegistry } from '../ops/metrics.ts';
import {
  type DirectoryLink,
  DirectorySession,
  type DirectorySessionOptions,
  fetchFirstDocument,
  loadOrCreateNodeIdentity,
} from './directory-session.ts';
import type { LinkStatus } from './egress.ts';
import type { HopOptions } from './hop.ts';
import { NetworkView, type SenderPolicy } from './network-view.ts';
import { DEFAULT_STARTUP_TIMEOUT_MS, formatAddress } from './options.ts';

/** A started node, as the directory session registers it and /ready inspects it. */
export interface ListeningNode {
  readonly tlsFingerprint: Uint8Array;
  publicKeyFor(epoch: number): Promise<Uint8Array>;
  publicKeys(): readonly { readonly epoch: number }[];
  readonly links: LinkStatus;
  checkStore(): void;
  stop(): Promise<void>;
}

/** What `startMix` and `startGateway` are both configured with. */
export interface NodeConfig {
  /** Holds the identity, TLS and Sphinx keys, the replay filter and what the role keeps beside them. */
  readonly dataDir: string;
  readonly directory: DirectoryLink;
  /** The host registered for the link listener; default the host it binds. */
  readonly advertiseHost?: string;
  /** Crypto worker threads; 0 unwraps on the main thread. Default one per core. */
  readonly workers?: number;
  /** Simulated latency on every outgoing link (tests and drills). */
  readonly linkDelay?: LinkDelay;
  readonly pollMs?: number;
  /** How long to wait for the directory's first document. Default `DEFAULT_STARTUP_TIMEOUT_MS`. */
  readonly startupTimeoutMs?: number;
  /** Where /metrics, /health and /ready listen; absent, they are not served. */
  readonly ops?: { readonly host: string; readonly port: number };
  readonly logger: Logger;
  readonly metrics?: MetricsRegistry;
  /** What the node's time is read from (see the header). Default `systemClock`; tests pass a virtual one. */
  readonly clock?: Clock;
}

/** What a role adds to the shared start: its place in the network and how it starts its node. */
export interface RoleStart<N extends ListeningNode> {
  readonly role: Exclude<NodeRole, 'service'>;
  /** 1..layers for a mix, 0 for a gateway. */
  readonly layer: number;
  /** The host its link listener binds (registered unless `advertiseHost` is given). */
  readonly listenHost: string;
  /** Who may open an ingress link to it, under the first document's parameters. */
  senders(parameters: MixingParameters): SenderPolicy;
  /** Starts the node on the hop options derived from the configuration and the first document. */
  start(hop: HopOptions, parameters: MixingParameters, metrics: MetricsRegistry): Promise<N>;
  /** The port its link listener got. */
  linkPort(node: N): number;
  /** Logged with 'ready' and the node id and epoch. */
  readonly readyMessage: string;
  readyFields(node: N): LogFields;
}

/** A started node with its services. */
export interface StartedNode<N> {
  /** The node's Sphinx id, BLAKE2b-256 of its identity key. */
  readonly id: Uint8Array;
  readonly node: N;
  readonly view: NetworkView;
  readonly session: DirectorySession;
  readonly ops: OpsServer | undefined;
  /** What /ready reports. */
  ready(): Readiness;
  /** Graceful: stops following the directory, then the node, then /metrics. */
  stop(): Promise<void>;
}

/**
 * Starts a node of `role` that follows the directory. Throws what the role's `start` throws (a
 * `ConfigError` for a network that has no place for it) and `DirectoryError` when no document came in time.
 */
export async function startNode<N extends ListeningNode>(
  config: NodeConfig,
  role: RoleStart<N>,
): Promise<StartedNode<N>> {
  const { logger, directory } = config;
  const clock = config.clock ?? systemClock;
  const metrics = config.metrics ?? new MetricsRegistry();
  const identity = await loadOrCreateNodeIdentity(config.dataDir);
  const id = nodeId(identity.publicKey);
  const deadline = clock.now() + (config.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS);
  const first: NetworkDocument = await fetchFirstDocument(directory, deadline, logger, clock);
  const { parameters } = first;
  const view = new NetworkView({
    layer: role.layer,
    allowSender: role.senders(parameters),
    now: () => clock.now(),
  });
  view.update(first);
  const hop: HopOptions = {
    id,
    geometry: directory.geometry,
    dataDir: config.dataDir,
    topology: view,
    epochs: view,
    graceMs: parameters.keyGracePeriodMs,
    logger,
    clock,
    ...(config.workers === undefined ? {} : { workers: config.workers }),
    ...(config.linkDelay === undefined ? {} : { linkDelay: config.linkDelay }),
  };
  const node = await role.start(hop, parameters, metrics);
  const services = await startNodeServices(node, {
    directory,
    identity,
    role: role.role,
    layer: role.layer,
    address: formatAddress(config.advertiseHost ?? role.listenHost, role.linkPort(node)),
    view,
    logger,
    metrics,
    clock,
    ...(config.pollMs === undefined ? {} : { pollMs: config.pollMs }),
    ops: config.ops,
  });
  logger.info(role.readyMessage, {
    ...role.readyFields(node),
    nodeId: toHex(id),
    epoch: view.epochAt(view.now()),
  });
  return { id, node, view, ...services };
}

interface NodeServices {
  readonly session: DirectorySession;
  readonly ops: OpsServer | undefined;
  ready(): Readiness;
  stop(): Promise<void>;
}

/**
 * Registers `node` with the directory and serves /metrics, /health and /ready when `ops` is given. If either
 * fails to start, the session and the node are stopped before the error is thrown on.
 */
async function startNodeServices(
  node: ListeningNode,
  options: Omit<DirectorySessionOptions, 'tlsFingerprint' | 'publicKeyFor' | 'metrics'> & {
    readonly metrics: MetricsRegistry;
    readonly ops?: { readonly host: string; readonly port: number };
  },
): Promise<NodeServices> {
  const { ops: opsAddress, ...sessionOptions } = options;
  const { role, view, metrics, logger } = options;
  const session = new DirectorySession({
    ...sessionOptions,
    tlsFingerprint: node.tlsFingerprint,
    publicKeyFor: (epoch) => node.publicKeyFor(epoch),
  });
  let ops: OpsServer | undefined;
  const epoch = () => view.epochAt(view.now());
  try {
    await session.start();
    if (opsAddress) {
      ops = await startOpsServer({
        role,
        metrics,
        epoch,
        ready: () => readiness(node, session, epoch()),
        ...opsAddress,
        logger,
      });
    }
  } catch (error) {
    await session.stop();
    await node.stop();
    throw error;
  }
  return {
    session,
    ops,
    ready: () => readiness(node, session, epoch()),
    async stop() {
      await session.stop();
      await node.stop();
      await ops?.close();
    },
  };
}

function readiness(node: ListeningNode, session: DirectorySession, epoch: number): Readiness {
  const held = new Set(node.publicKeys().map((key) => key.epoch));
  const missing = [epoch, epoch + 1].filter((wanted) => !held.has(wanted));
  const { open, connected } = node.links;
  return {
    document: session.readiness(),
    keys:
      missing.length === 0
        ? { ok: true }
        : { ok: false, detail: `no Sphinx key for epoch ${missing.join(' nor ')}` },
    links:
      connected === open
        ? { ok: true, detail: `${connected} connected` }
        : { ok: false, detail: `${open - connected} of ${open} links to next hops not connected` },
    store: probeCheck(() => node.checkStore()),
  };
}
