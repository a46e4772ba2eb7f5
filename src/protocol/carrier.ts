/**
 * The carrier contract (design brief §1): how one request of the delivery protocol reaches the delivery
 * service and how its response comes back. The carrier decides the privacy, not the protocol: the `direct`
 * carrier is a WebSocket to the delivery service (the server sees who connects), the `mixnet` carrier sends
 * the request in Sphinx packets through the mix layers and receives the response in single-use reply blocks
 * (the server never learns who asked). The client SDK runs the same code over either, and maps a carrier's
 * reachability onto the privacy indicator; it never chooses a carrier its privacy policy forbids.
 */

/** Which way requests travel: the privacy a carrier gives follows from this alone. */
export type CarrierKind = 'direct' | 'mixnet';

/**
 * The privacy policies, which say which carriers may carry a client's requests (src/client/privacy.ts
 * applies them): `mixnet` (the default: fail closed), `mixnet-or-direct` (fall back to direct), `direct`.
 * Defined here once because a deployment's `/config.json` (web-config.ts) names one too.
 */
export const PRIVACY_POLICIES = ['mixnet', 'mixnet-or-direct', 'direct'] as const;
export type PrivacyPolicy = (typeof PRIVACY_POLICIES)[number];

/**
 * Whether a carrier can deliver requests now. `reason` is for people (shown beside the privacy indicator)
 * and never contains user data: e.g. "gateway unreachable", "network document expired".
 */
export type CarrierStatus =
  | { readonly state: 'up' }
  | { readonly state: 'connecting'; readonly reason: string }
  | { readonly state: 'down'; readonly reason: string };

export interface CarrierRequestOptions {
  /** Abandons the request: it rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Rejects with `CarrierError('timeout')` after this long. Each carrier documents its default. */
  readonly timeoutMs?: number;
  /**
   * Called at most once, before the request settles, when the request is out of this client's hands: the
   * mixnet carrier calls it once its gateway has read every packet of one attempt, the direct carrier when
   * the response arrives (its WebSocket gives no earlier receipt). Never called for a request that failed
   * before that.
   */
  readonly onSent?: () => void;
  /**
   * About how many bytes the response will be, when the caller can tell (a hint, never a limit). The mixnet
   * carrier sends enough SURBs for it with the first attempt (at most `MAX_SURB_HINT`'s worth), so a large
   * answer does not cost a `too_large` round trip; the direct carrier ignores it.
   */
  readonly expectedResponseBytes?: number;
}

/**
 * One delivery-protocol exchange: `request` sends an encoded request and resolves with the encoded response.
 * A carrier never interprets the bytes. It rejects with `CarrierError` (`unreachable`, `timeout`, `closed`,
 * `too_large`) when the exchange cannot complete; the request may then have been applied or not, so every
 * request of the protocol is idempotent (message IDs).
 */
export interface Carrier {
  readonly kind: CarrierKind;
  request(request: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array>;
  /** The current reachability. */
  status(): CarrierStatus;
  /** Calls `listener` on every change of `status()`; returns the unsubscribe function. */
  onStatus(listener: (status: CarrierStatus) => void): () => void;
  /**
   * Server pushes (encoded protocol pushes), where the carrier can receive them: the direct carrier can,
   * the mixnet carrier cannot (its client polls). Absent when the carrier has no push.
   */
  onPush?(listener: (push: Uint8Array) => void): () => void;
  /** Rejects pending requests with `CarrierError('closed')` and releases sockets and timers. */
  close(): Promise<void>;
}

/**
 * What a service behind the mixnet's exit gateway, or behind a direct WebSocket, implements: an encoded
 * request in, an encoded response out. The delivery service is one; the gateway's built-in `echo` another.
 * It must not throw for hostile bytes: a malformed request gets an encoded error response.
 */
export type RequestHandler = (request: Uint8Array) => Promise<Uint8Array>;
