/**
 * The part of `startMix` and `startGateway` that comes after the node listens (docs/gateway.md, "The mix
 * process"): its directory session (registration for the current and next epoch, then following the
 * documents) and its /metrics and /health endpoint, started together and stopped in order.
 */
import { type HealthStatus, type OpsServer, startOpsServer } from '../ops/http.ts';
import type { MetricsRegistry } from '../ops/metrics.ts';
import { DirectorySession, type DirectorySessionOptions } from './directory-session.ts';

/** A started node, as the directory session registers it. */
export interface ListeningNode {
  readonly tlsFingerprint: Uint8Array;
  publicKeyFor(epoch: number): Promise<Uint8Array>;
  stop(): Promise<void>;
}

export interface NodeServices {
  readonly session: DirectorySession;
  readonly ops: OpsServer | undefined;
  /** Graceful: stops following the directory, then the node, then /metrics. */
  stop(): Promise<void>;
}

/**
 * Registers `node` with the directory and serves /metrics and /health when `ops` is given. If either fails
 * to start, the session and the node are stopped before the error is thrown on.
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
  try {
    await session.start();
    const health = (): { status: HealthStatus; epoch: number } => ({
      status: session.health(),
      epoch: view.epochAt(view.now()),
    });
    if (opsAddress) ops = await startOpsServer({ role, metrics, health, ...opsAddress, logger });
  } catch (error) {
    await session.stop();
    await node.stop();
    throw error;
  }
  return {
    session,
    ops,
    async stop() {
      await session.stop();
      await node.stop();
      await ops?.close();
    },
  };
}
