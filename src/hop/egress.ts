/**
 * The egress of a hop (a mix node or a gateway): one persistent link per next hop, opened on first use from
 * the network document's address and pinned fingerprint, and replaced when the document changes either. A
 * batch (a mix round, a gateway's batch of unwrapped packets) is split by next hop and handed to every link
 * in the same tick, so it leaves as one burst per link.
 *
 * A link that drops retries at most a second apart (`LINK_BACKOFF`): a restarted neighbour is reached again
 * within about a second of its return, where the links' default backoff (up to 10 s) kept every path
 * through it dead for that long after it was back. An attempt at a dead peer costs one refused connection.
 */
import { toHex } from '../bytes.ts';
import type { LinkDelay, LinkObserver, TlsIdentity } from '../links/index.ts';
import { Link } from '../links/index.ts';
import type { Clock } from '../ops/clock.ts';
import type { PeerDescriptor } from './types.ts';

export interface Outgoing {
  readonly packet: Uint8Array;
  readonly nextHop: Uint8Array;
  readonly peer: PeerDescriptor;
}

export interface LinkStatus {
  readonly open: number;
  readonly connected: number;
}

/** Reconnection delays of the egress links: from 100 ms, doubling, at most 1 s (each jittered down to half). */
const LINK_BACKOFF = { initialMs: 100, maxMs: 1_000 } as const;

export interface EgressOptions {
  readonly identity: TlsIdentity;
  readonly frameLength: number;
  readonly preamble: Uint8Array;
  readonly observer: LinkObserver;
  readonly maxQueuedFrames?: number;
  /** Simulated latency on every link (tests and drills). */
  readonly delay?: LinkDelay;
  /** The hop's clock, which the links' timers read. */
  readonly clock: Clock;
}

export class Egress {
  readonly #options: EgressOptions;
  readonly #links = new Map<string, Link>();

  constructor(options: EgressOptions) {
    this.#options = options;
  }

  /** Sends each packet to its next hop, one burst per link. */
  send(batch: readonly Outgoing[]): void {
    const byHop = new Map<string, { peer: PeerDescriptor; frames: Uint8Array[] }>();
    for (const { packet, nextHop, peer } of batch) {
      const key = toHex(nextHop);
      const entry = byHop.get(key) ?? { peer, frames: [] };
      entry.frames.push(packet);
      byHop.set(key, entry);
    }
    for (const [key, { peer, frames }] of byHop) this.#link(key, peer).send(frames);
  }

  /** How many links are open (one per next hop sent to so far) and how many of them are connected. */
  get status(): LinkStatus {
    const links = [...this.#links.values()];
    return { open: links.length, connected: links.filter((link) => link.connected).length };
  }

  async close(): Promise<void> {
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map((link) => link.close()));
  }

  #link(key: string, peer: PeerDescriptor): Link {
    const existing = this.#links.get(key);
    const { host, port } = peer.address;
    if (
      existing &&
      existing.peer.host === host &&
      existing.peer.port === port &&
      toHex(existing.peer.fingerprint) === toHex(peer.tlsFingerprint)
    ) {
      return existing;
    }
    void existing?.close();
    const { identity, frameLength, preamble, observer, maxQueuedFrames, delay, clock } = this.#options;
    const link = new Link({
      identity,
      peer: { host, port, fingerprint: peer.tlsFingerprint },
      frameLength,
      preamble,
      observer,
      backoff: LINK_BACKOFF,
      clock,
      ...(maxQueuedFrames === undefined ? {} : { maxQueuedFrames }),
      ...(delay === undefined ? {} : { delay }),
    });
    this.#links.set(key, link);
    return link;
  }
}
