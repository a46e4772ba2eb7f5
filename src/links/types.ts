/**
 * What links report to their owner (for logs and metrics). Peers are named by their certificate fingerprint
 * in hex, which the network document publishes; nothing here carries frame contents.
 */

export type LinkRefusal =
  /** Outbound: the server's certificate is not the pinned one. */
  | 'pin_mismatch'
  /** Inbound: the client presented no certificate, or one that is not an allowed sender's. */
  | 'unknown_peer'
  /** The handshake ended on another key-exchange group than X25519MLKEM768. */
  | 'wrong_group'
  /** The peer's preamble names another geometry. */
  | 'wrong_preamble';

export type LinkEvent =
  | { readonly type: 'connected'; readonly peer: string }
  | { readonly type: 'disconnected'; readonly peer: string }
  | { readonly type: 'refused'; readonly peer: string | undefined; readonly reason: LinkRefusal }
  | { readonly type: 'error'; readonly peer: string | undefined; readonly message: string }
  | { readonly type: 'dropped'; readonly peer: string; readonly frames: number };

export type LinkObserver = (event: LinkEvent) => void;
