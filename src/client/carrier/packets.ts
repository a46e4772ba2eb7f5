/**
 * What the mixnet carrier asks for when it needs a Sphinx packet (docs/mixnet-carrier.md, "Where packets are
 * built"): a path, the user's bytes for the forward payload (Katzenpost's forward payload, src/sphinx), and,
 * for a request fragment, a second path for the SURB the reply comes back in. `buildPackets` builds them with
 * one `Sphinx`; the carrier calls it on its own thread, and on browser pages the packet worker
 * (packet-worker.ts) calls it off the page's thread.
 */
import { encodeForwardPayload, type PathHop, type Sphinx, type SurbKeys } from '../../sphinx/index.ts';

export interface PacketOrder {
  readonly path: readonly PathHop[];
  readonly userPayload: Uint8Array;
  /** When set, a SURB over this path rides in the payload, and its keys come back with the packet. */
  readonly surbPath?: readonly PathHop[];
}

export interface BuiltPacket {
  readonly packet: Uint8Array;
  /** The keys that open the reply sent with the packet's SURB (orders with a `surbPath` only). */
  readonly surbKeys?: SurbKeys;
}

/** Builds `orders` in order: each SURB first, then the packet carrying it. */
export function buildPackets(sphinx: Sphinx, orders: readonly PacketOrder[]): BuiltPacket[] {
  return orders.map(({ path, userPayload, surbPath }) => {
    if (surbPath === undefined) {
      return { packet: sphinx.newPacket(path, encodeForwardPayload(sphinx.geometry, userPayload)) };
    }
    const { surb, keys } = sphinx.newSurb(surbPath);
    return {
      packet: sphinx.newPacket(path, encodeForwardPayload(sphinx.geometry, userPayload, surb)),
      surbKeys: keys,
    };
  });
}
