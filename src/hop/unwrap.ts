/**
 * The crypto work of a hop, as plain functions over plain data so that it runs the same on the main thread
 * and in worker threads (whose messages are structured clones): unwrapping a packet with the hop's live
 * epoch keys, newest first — during an epoch's grace period a packet built with the previous epoch's key
 * still opens — and building dummy packets. Every kind of hop comes back (a mix node drops final and reply
 * hops; a gateway is one).
 */
import { SphinxError } from '../errors.ts';
import type { PathHop, Sphinx } from '../sphinx/index.ts';
import type { EpochKey } from './epoch-keys.ts';

/** What unwrapping a packet gave. `epoch` is the epoch whose key opened it: its replay tag belongs there. */
export type UnwrapOutcome =
  | {
      readonly kind: 'forward';
      readonly epoch: number;
      readonly packet: Uint8Array;
      readonly nextHop: Uint8Array;
      /** Milliseconds the sender asked this hop to hold the packet (0 when it asked for none). */
      readonly delay: number;
      readonly replayTag: Uint8Array;
    }
  /** The packet ends here (Sphinx `FinalResult`); no recipient means a dummy or drop cover. */
  | {
      readonly kind: 'final';
      readonly epoch: number;
      readonly recipient: Uint8Array | undefined;
      readonly payload: Uint8Array;
      readonly replayTag: Uint8Array;
    }
  /** A reply sent with a SURB ends here (Sphinx `ReplyResult`), its payload still enciphered for its recipient. */
  | {
      readonly kind: 'reply';
      readonly epoch: number;
      readonly recipient: Uint8Array | undefined;
      readonly surbId: Uint8Array;
      readonly payload: Uint8Array;
      readonly replayTag: Uint8Array;
    }
  | { readonly kind: 'mac_failure' }
  | { readonly kind: 'malformed' }
  /** Not the packet's fault: an exception other than SphinxError (a bug), reported with its message. */
  | { readonly kind: 'failed'; readonly message: string };

const NO_PAYLOAD = new Uint8Array(0);

export function unwrapWithKeys(sphinx: Sphinx, keys: readonly EpochKey[], packet: Uint8Array): UnwrapOutcome {
  for (const { epoch, secretKey } of keys) {
    try {
      const result = sphinx.unwrap(secretKey, packet);
      const { replayTag } = result;
      switch (result.kind) {
        case 'forward': {
          const { packet: next, nextHop, delay } = result;
          return { kind: 'forward', epoch, packet: next, nextHop, delay: delay ?? 0, replayTag };
        }
        case 'final':
          return { kind: 'final', epoch, recipient: result.recipient, payload: result.payload, replayTag };
        case 'reply': {
          const { recipient, surbId, payload } = result;
          return { kind: 'reply', epoch, recipient, surbId, payload, replayTag };
        }
      }
    } catch (error) {
      if (!(error instanceof SphinxError)) {
        return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
      }
      // Only a MAC failure can mean "another key": every other reason is the packet's own.
      if (error.reason !== 'mac_mismatch') return { kind: 'malformed' };
    }
  }
  return { kind: 'mac_failure' };
}

/** A dummy along `route` (its first hop is the next hop): no recipient at the end, so the exit drops it. */
export function buildDummy(sphinx: Sphinx, route: readonly PathHop[]): Uint8Array {
  return sphinx.newPacket(route, NO_PAYLOAD);
}
