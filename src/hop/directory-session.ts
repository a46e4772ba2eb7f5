/**
 * A node's dealings with the directory authority (docs/network.md, "Epochs and registration"), shared by
 * `umbra mix` and `umbra gateway`: its long-term Ed25519 identity key kept in its data directory, the
 * verified network documents it follows, and its signed descriptor, registered for the current and the next
 * epoch so that the next document lists it before that epoch starts. Every `pollMs` it fetches the current
 * and next documents (verified against the pinned authority keys and its geometry) into its `NetworkView`,
 * and registers again for any of the two epochs whose document does not list it as it is (address and
 * certificate) — registration is idempotent, so an authority that lost its state, or a node that came back
 * on another port, heals itself.
 */
import { join } from 'node:path';
import { constantTimeEqual, wipe } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nodeBackend } from '../crypto/backends/node.ts';
import { randomBytes } from '../crypto/random.ts';
import type { KeyPair } from '../crypto/secret.ts';
import { DirectoryStore } from '../crypto/vault/directory-store.ts';
import type { AuthorityPublicKeys } from '../directory/authority-keys.ts';
import { fetchNetworkDocument, fetchSignedNetworkDocument, registerDescriptor } from '../directory/client.ts';
import {
  type NetworkDocument,
  nodeId,
  signDescriptor,
  verifyNetworkDocument,
} from '../directory/document.ts';
import { ConfigError, DirectoryError } from '../errors.ts';
import { type Clock, sleep, systemClock } from '../ops/clock.ts';
import type { ReadinessCheck } from '../ops/http.ts';
import type { Logger } from '../ops/logger.ts';
import type { MetricsRegistry } from '../ops/metrics.ts';
import type { Geometry } from '../sphinx/index.ts';
import type { NetworkView } from './network-view.ts';

const IDENTITY_FILE = 'identity.key';
const SEED_LENGTH = 32;
export const DEFAULT_POLL_MS = 2_000;

/** The node's Ed25519 identity key pair, from `<dataDir>/identity.key` (a 32-byte seed, mode 0600), created on first use. */
export async function loadOrCreateNodeIdentity(
  dataDir: string,
  backend: CryptoBackend = nodeBackend,
): Promise<KeyPair> {
  const store = new DirectoryStore(join(dataDir, 'identity'));
  const stored = await store.read(IDENTITY_FILE);
  if (stored && stored.length === SEED_LENGTH) return backend.ed25519.generateKeyPair(stored);
  if (stored) throw new ConfigError('malformed_file', `${IDENTITY_FILE} is not a ${SEED_LENGTH}-byte seed`);
  const seed = randomBytes(SEED_LENGTH);
  try {
    // Exclusive: if another process created it meanwhile, use that one.
    if (!(await store.writeNew(IDENTITY_FILE, seed))) return loadOrCreateNodeIdentity(dataDir, backend);
    return backend.ed25519.generateKeyPair(seed);
  } finally {
    wipe(seed);
  }
}

export interface DirectoryLink {
  /** http(s) URL of the directory API. */
  readonly url: string;
  readonly authorityKeys: AuthorityPublicKeys;
  readonly geometry: Geometry;
  readonly timeoutMs?: number;
}

/**
 * Fetches and verifies the current document, retrying while the directory is unreachable, until `deadlineMs`
 * (Unix milliseconds on `clock`).
 */
export async function fetchFirstDocument(
  directory: DirectoryLink,
  deadlineMs: number,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<NetworkDocument> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { document } = await fetchNetworkDocument(directory.url, {
        authorityKeys: directory.authorityKeys,
        expectedGeometryHash: directory.geometry.hash(),
        ...(directory.timeoutMs === undefined ? {} : { timeoutMs: directory.timeoutMs }),
      });
      return document;
    } catch (error) {
      // Only an unreachable directory is worth waiting for; a refused document is a configuration fault.
      if (!(error instanceof DirectoryError) || error.reason !== 'unavailable' || clock.now() >= deadlineMs)
        throw error;
      if (attempt === 0) logger.warn('directory unreachable, retrying', { reason: error.reason });
      await sleep(clock, Math.min(100 * 2 ** attempt, 2_000));
    }
  }
}

export interface DirectorySessionOptions {
  readonly directory: DirectoryLink;
  readonly identity: KeyPair;
  readonly role: 'mix' | 'gateway';
  /** 1..layers for a mix, 0 for a gateway. */
  readonly layer: number;
  /** host:port other nodes reach its link listener at. */
  readonly address: string;
  readonly tlsFingerprint: Uint8Array;
  /** The node's Sphinx public key for an epoch (created if needed). */
  readonly publicKeyFor: (epoch: number) => Promise<Uint8Array>;
  readonly view: NetworkView;
  readonly logger: Logger;
  /** Default `DEFAULT_POLL_MS`. */
  readonly pollMs?: number;
  readonly backend?: CryptoBackend;
  /** Where to publish `network_document_nodes` and `network_document_issued_at_seconds` of the current document. */
  readonly metrics?: MetricsRegistry;
  /** What the polls are timed on. Default `systemClock`. */
  readonly clock?: Clock;
}

export class DirectorySession {
  readonly id: Uint8Array;
  readonly #options: DirectorySessionOptions;
  readonly #clock: Clock;
  #timer: unknown;
  #running: Promise<void> | undefined;
  #stopped = false;
  #everListed = false;
  #lastError: string | undefined;
  readonly #verified = new Map<number | 'current', { bytes: Uint8Array; document: NetworkDocument }>();

  constructor(options: DirectorySessionOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.id = nodeId(options.identity.publicKey);
    if (options.metrics) {
      const listed = options.metrics.gauge({
        name: 'network_document_nodes',
        help: 'Nodes the current network document this node follows lists.',
      });
      const issued = options.metrics.gauge({
        name: 'network_document_issued_at_seconds',
        help: 'When the authority issued the current network document this node follows (Unix time).',
      });
      options.metrics.onCollect(() => {
        listed.set(options.view.current?.nodes.length ?? 0);
        issued.set((options.view.current?.issuedAt ?? 0) / 1000);
      });
    }
  }

  /** Registers and fetches once (throwing what the directory refuses), then keeps doing so every `pollMs`. */
  async start(): Promise<void> {
    await this.sync();
    this.#schedule();
  }

  /** Whether this epoch's network document is here and lists this node (for /ready). */
  readiness(): ReadinessCheck {
    const { view } = this.#options;
    const epoch = view.epochAt(view.now());
    if (view.current === undefined) return { ok: false, detail: `no network document for epoch ${epoch}` };
    if (view.lists(this.id)) return { ok: true, detail: `epoch ${epoch}` };
    return {
      ok: false,
      detail: `${this.#everListed ? 'no longer' : 'not yet'} listed in the document of epoch ${epoch}`,
    };
  }

  /** One round of fetching documents and registering where the node is missing. */
  async sync(): Promise<void> {
    const { view } = this.#options;
    await this.#fetch();
    const epoch = view.epochAt(view.now());
    let registered = false;
    for (const target of [epoch, epoch + 1]) {
      if (this.#listedAsIs(target)) continue;
      await this.#register(target);
      registered = true;
    }
    if (registered) await this.#fetch();
    if (view.lists(this.id)) this.#everListed = true;
  }

  /** Whether `epoch`'s document lists this node at its address and with its certificate (a restart may change both). */
  #listedAsIs(epoch: number): boolean {
    const { view, address, tlsFingerprint } = this.#options;
    const entry = view.document(epoch)?.nodes.find((node) => constantTimeEqual(node.id, this.id));
    return (
      entry !== undefined &&
      entry.address === address &&
      constantTimeEqual(entry.tlsFingerprint, tlsFingerprint)
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#running = this.sync()
        .then(
          () => {
            if (this.#lastError !== undefined) this.#options.logger.info('directory reachable again');
            this.#lastError = undefined;
          },
          (error: unknown) => {
            const message = error instanceof Error ? error.message : String(error);
            if (message !== this.#lastError) this.#options.logger.warn('directory sync failed', { message });
            this.#lastError = message;
          },
        )
        .finally(() => this.#schedule());
    }, this.#options.pollMs ?? DEFAULT_POLL_MS);
  }

  async #fetch(): Promise<void> {
    const { view } = this.#options;
    const document = await this.#fetchOne('current', undefined);
    const next = document.epoch + 1;
    try {
      // The next epoch's document is checked as of its own start: it is not valid yet, by design.
      await this.#fetchOne(next, view.startOf(next));
    } catch (error) {
      if (!(error instanceof DirectoryError) || error.reason !== 'not_found') throw error;
    }
  }

  /**
   * Fetches one document and, unless its bytes are those verified last time for the same request,
   * verifies it (two signatures, ML-DSA-65's being costly) and gives it to the view.
   */
  async #fetchOne(epoch: number | 'current', now: number | undefined): Promise<NetworkDocument> {
    const { directory, view } = this.#options;
    const timeout = directory.timeoutMs === undefined ? {} : { timeoutMs: directory.timeoutMs };
    const bytes = await fetchSignedNetworkDocument(directory.url, epoch, timeout);
    const cached = this.#verified.get(epoch);
    if (cached && cached.bytes.length === bytes.length && constantTimeEqual(cached.bytes, bytes))
      return cached.document;
    const document = verifyNetworkDocument(bytes, {
      authorityKeys: directory.authorityKeys,
      expectedGeometryHash: directory.geometry.hash(),
      now: now ?? view.now(),
    });
    if (epoch !== 'current' && document.epoch !== epoch) {
      throw new DirectoryError('not_found', `asked for epoch ${epoch}, got ${document.epoch}`);
    }
    // Keep the current request's and the two latest epochs' only.
    for (const key of this.#verified.keys()) {
      if (key !== 'current' && typeof epoch === 'number' && key < epoch - 1) this.#verified.delete(key);
    }
    this.#verified.set(epoch, { bytes, document });
    view.update(document);
    return document;
  }

  async #register(epoch: number): Promise<void> {
    const { directory, identity, role, layer, address, tlsFingerprint, publicKeyFor, logger } = this.#options;
    const descriptor = {
      epoch,
      identityKey: identity.publicKey,
      role,
      layer,
      address,
      tlsFingerprint,
      sphinxKeys: { current: await publicKeyFor(epoch), next: await publicKeyFor(epoch + 1) },
    };
    const signed = signDescriptor(descriptor, identity, this.#options.backend ?? nodeBackend);
    await registerDescriptor(
      directory.url,
      signed,
      directory.timeoutMs === undefined ? {} : { timeoutMs: directory.timeoutMs },
    );
    logger.info('registered with the directory', { epoch, role, layer });
  }
}
