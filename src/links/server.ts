/**
 * The inbound side of links: a TLS server (the profile of tls.ts) that admits a connection only when the
 * client's certificate fingerprint is one the owner allows (the previous layer's nodes, the gateways) and
 * its preamble is the expected geometry hash, then delivers every fixed-size frame it reads. The owner can
 * pause reading from every connection when its pipeline is full: TCP backpressure then slows the senders
 * instead of this process buffering without bound.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { constantTimeEqual, toHex } from '../bytes.ts';
import { FrameReader } from './frames.ts';
import type { TlsIdentity } from './identity.ts';
import { peerFingerprint, serverTlsOptions } from './tls.ts';
import type { LinkObserver } from './types.ts';

export interface LinkServerOptions {
  readonly identity: TlsIdentity;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly frameLength: number;
  /** What every client must send first (the geometry hash). */
  readonly preamble: Uint8Array;
  /** Whether a client presenting a certificate with this SHA-256 fingerprint may send frames. */
  readonly authorize: (fingerprint: Uint8Array) => boolean;
  /** One complete frame from the peer with `fingerprint`. */
  readonly onFrame: (frame: Uint8Array, fingerprint: Uint8Array) => void;
  readonly observer?: LinkObserver;
}

export class LinkServer {
  readonly #server: Server;
  /** Where it listens; kept after `close` so that the owner can still name it. */
  readonly address: { host: string; port: number };
  readonly #connections = new Set<TLSSocket>();
  #paused = false;

  private constructor(server: Server) {
    this.#server = server;
    const { address, port } = server.address() as AddressInfo;
    this.address = { host: address, port };
  }

  static async listen(options: LinkServerOptions): Promise<LinkServer> {
    const server = createServer(serverTlsOptions(options.identity));
    server.listen(options.port, options.host);
    await once(server, 'listening');
    const links = new LinkServer(server);
    server.on('secureConnection', (socket) => links.#admit(socket, options));
    server.on('tlsClientError', (error) => {
      options.observer?.({ type: 'error', peer: undefined, message: error.message });
    });
    return links;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Stops reading from every connection (and from connections admitted later) until `resume`. */
  pause(): void {
    this.#paused = true;
    for (const socket of this.#connections) socket.pause();
  }

  resume(): void {
    this.#paused = false;
    for (const socket of this.#connections) socket.resume();
  }

  /** Stops accepting, closes every connection, and resolves once the listening socket is closed. */
  async close(): Promise<void> {
    const closed = once(this.#server, 'close');
    this.#server.close();
    for (const socket of this.#connections) socket.destroy();
    await closed;
  }

  #admit(socket: TLSSocket, options: LinkServerOptions): void {
    const { authorize, onFrame, observer, preamble, frameLength } = options;
    const fingerprint = peerFingerprint(socket);
    if (!fingerprint || !authorize(fingerprint)) {
      observer?.({ type: 'refused', peer: fingerprint && toHex(fingerprint), reason: 'unknown_peer' });
      socket.destroy();
      return;
    }
    const peer = toHex(fingerprint);
    this.#connections.add(socket);
    observer?.({ type: 'connected', peer });
    const reader = new FrameReader(frameLength, preamble.length);
    const checkPreamble = (received: Uint8Array) => {
      if (constantTimeEqual(received, preamble)) return true;
      observer?.({ type: 'refused', peer, reason: 'wrong_preamble' });
      socket.destroy();
      return false;
    };
    socket.on('data', (chunk: Buffer) => {
      if (!socket.destroyed) reader.push(chunk, (frame) => onFrame(frame, fingerprint), checkPreamble);
    });
    socket.on('error', (error) => observer?.({ type: 'error', peer, message: error.message }));
    socket.once('close', () => {
      this.#connections.delete(socket);
      observer?.({ type: 'disconnected', peer });
    });
    if (this.#paused) socket.pause();
  }
}
