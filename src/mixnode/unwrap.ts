/**
 * The crypto work of a mix node, as plain functions over plain data so that it runs the same on the main
 * thread and in worker threads (whose messages are structured clones): unwrapping a packet with the node's
 * live epoch keys, newest first — during an epoch's grace period a packet built with the previous epoch's
 * key still opens — and building dummy packets.
 */
import { SphinxError } from '../errors.ts';
import type { PathHop, Sphinx } from '../sphinx/index.ts';
import type { EpochKey } from './epoch-keys.ts';

export type UnwrapOutcome =
  | {
      readonly kind: 'forward';
      /** The epoch whose key opened the packet: its replay tag belongs to that epoch's filter. */
      readonly epoch: number;
      readonly packet: Uint8Array;
      readonly nextHop: Uint8Array;
      /** Milliseconds the sender asked this node to hold the packet (0 when it asked for none). */
      readonly delay: number;
      readonly replayTag: Uint8Array;
    }
  /** A final or reply hop: a mix node is never one. */
  | { readonly kind: 'not_forward' }
  | { readonly kind: 'mac_failure' }
  | { readonly kind: 'malformed' }
  /** Not the packet's fault: an exception other than SphinxError (a bug), reported with its message. */
  | { readonly kind: 'failed'; readonly message: string };

const NO_PAYLOAD = new Uint8Array(0);

export function unwrapWithKeys(sphinx: Sphinx, keys: readonly EpochKey[], packet: Uint8Array): UnwrapOutcome {
  for (const { epoch, secretKey } of keys) {
    try {
      const result = sphinx.unwrap(secretKey, packet);
      if (result.kind !== 'forward') return { kind: 'not_forward' };
      return {
        kind: 'forward',
        epoch,
        packet: result.packet,
        nextHop: result.nextHop,
        delay: result.delay ?? 0,
        replayTag: result.replayTag,
      };
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
