/**
 * The TLS profile of node-to-node links: TLS 1.3 only (RFC 8446), one key-exchange group, the hybrid
 * post-quantum X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem; OpenSSL 3.5, which Node 24 bundles), so a
 * recorded link cannot be decrypted later by a quantum computer and no peer can negotiate anything weaker:
 * a client that offers another group is refused during the handshake. Both sides present certificates and
 * both check the other's against a pinned SHA-256 fingerprint (from the network document) instead of a
 * chain: OpenSSL still verifies the handshake signature (CertificateVerify) with the certificate's key, and
 * we check that the certificate is the pinned one before a single frame is read or written.
 */
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls';
import { constantTimeEqual } from '../bytes.ts';
import { certificateFingerprint } from './certificate.ts';
import type { TlsIdentity } from './identity.ts';

export const LINK_GROUP = 'X25519MLKEM768';
/** Named in ALPN so that a peer speaking anything else fails the handshake instead of misreading frames. */
export const LINK_PROTOCOL = 'umbra-link/1';
const HANDSHAKE_TIMEOUT_MS = 10_000;

const COMMON = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ecdhCurve: LINK_GROUP,
  ALPNProtocols: [LINK_PROTOCOL],
  // Chains are not validated: peers are authenticated by the pinned fingerprint (`pinnedPeer`).
  rejectUnauthorized: false,
} as const;

export function serverTlsOptions(identity: TlsIdentity): TlsOptions {
  return {
    ...COMMON,
    ...identity.tlsCredentials(),
    requestCert: true,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  };
}

export function clientTlsOptions(identity: TlsIdentity, host: string, port: number): ConnectionOptions {
  return {
    ...COMMON,
    ...identity.tlsCredentials(),
    host,
    port,
    // No SNI: the pin, not a name, identifies the peer, and SNI would only add cleartext.
    servername: '',
  };
}

/** SHA-256 of the certificate the peer presented, or undefined when it presented none. */
export function peerFingerprint(socket: TLSSocket): Uint8Array | undefined {
  const certificate = socket.getPeerX509Certificate();
  return certificate ? certificateFingerprint(new Uint8Array(certificate.raw)) : undefined;
}

/**
 * The key-exchange group of an established connection, as OpenSSL names it. Node reports it on the client
 * side only (`getEphemeralKeyInfo` is empty on servers); servers rely on offering no other group.
 */
export function negotiatedGroup(socket: TLSSocket): string | undefined {
  const info = socket.getEphemeralKeyInfo();
  return info && 'name' in info && typeof info.name === 'string' ? info.name : undefined;
}

export function fingerprintMatches(socket: TLSSocket, expected: Uint8Array): boolean {
  const actual = peerFingerprint(socket);
  return actual !== undefined && constantTimeEqual(actual, expected);
}
