/**
 * Node-to-node links of the mixnet: TLS 1.3 with the hybrid post-quantum group X25519MLKEM768 only, mutual
 * authentication by pinned certificate fingerprints (self-signed Ed25519 certificates, one per node), and a
 * stream of fixed-size frames after a geometry-hash preamble. See docs/mixnode.md.
 */
export { certificateFingerprint, createSelfSignedCertificate } from './certificate.ts';
export { FrameReader } from './frames.ts';
export { TlsIdentity } from './identity.ts';
export type { LinkDelay, LinkOptions, PeerEndpoint } from './link.ts';
export { Link } from './link.ts';
export type { LinkServerOptions } from './server.ts';
export { LinkServer } from './server.ts';
export { LINK_GROUP, LINK_PROTOCOL, negotiatedGroup, peerFingerprint } from './tls.ts';
export type { LinkEvent, LinkObserver, LinkRefusal } from './types.ts';
