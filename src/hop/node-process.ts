/**
 * The part of `startMix` and `startGateway` that comes after the node listens (docs/gateway.md, "The mix
 * process"): its directory session (registration for the current and next epoch, then following the
 * documents) and its /metrics, /health and /ready endpoint, started together and stopped in order. A node is
 * ready when the current network document lists it as it is, it holds Sphinx keys for this epoch and the
 * next, every link it has opened to a next hop is connected, and its store (replay filter, inboxes) answers.
 */
import { type OpsServer, probeCheck, type Readiness, startOpsServer } from '../ops/http.ts';
import type { MetricsRegistry } from '../ops/metrics.ts';
import { DirectorySession, type DirectorySessionOptions } from './directory-session.ts';
import type { LinkStatus } from './egress.ts';

/** A started node, as the directory session registers it and /ready inspects it. */
export interface ListeningNode {
  readonly tlsFingerprint: Uint8Array;
  publicKeyFor(epoch: number): Promise<Uint8Array>;
  publicKeys(): readonly { readonly epoch: number }[];
  readonly links: LinkStatus;
  checkStore(): void;
  stop(): Promise<void>;
}

export interface NodeServices {
  readonly session: DirectorySession;
  readonly ops: OpsServer | undefined;
  /** What /ready reports. */
  ready(): Readiness;
  /** Graceful: stops following the directory, then the node, then /metrics. */
  stop(): Promise<void>;
}

/**
 * Registers `node` with the directory and serves /metrics, /health and /ready when `ops` is given. If either
 * fails to start, the session and the node are stopped before the error is thrown on.
 */
export async function startNodeServices(
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
