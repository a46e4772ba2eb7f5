/**
 * The directory authority as a process (node:http): `startDirectory(config)` loads or creates the
 * authority's keys in its data directory, restores the descriptors a previous run registered, and serves
 *
 *   POST /v1/register            a signed node descriptor (octet-stream, at most ~8 KiB) → { id, epoch }
 *   GET  /v1/document/current    the signed network document of the current epoch (octet-stream)
 *   GET  /v1/document/<epoch>    the previous, current or next epoch's document
 *   GET  /v1/authority           { publicKeys } in the text form, for development setups (pin it out of band)
 *
 * Refusals are JSON `{ error: <DirectoryError reason>, message }` with a matching status. A registration is
 * answered only after it is on disk, so a node told "registered" survives the authority's restart. Operator
 * endpoints (/metrics, /health, /ready) listen on a separate, private address when `ops` is set.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fromHex, toHex } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nodeBackend } from '../crypto/backends/node.ts';
import { CodecError, ConfigError, DirectoryError, type DirectoryErrorReason } from '../errors.ts';
import {
  closeServer,
  createHttpServer,
  hostForUrl,
  listen,
  type OpsServer,
  probeCheck,
  readBody,
  sendJson,
  startServiceOps,
} from '../ops/http.ts';
import { type Logger, silentLogger } from '../ops/logger.ts';
import { MetricsRegistry } from '../ops/metrics.ts';
import type { Geometry } from '../sphinx/index.ts';
import { DirectoryAuthority } from './authority.ts';
import { type AuthorityPublicKeys, formatAuthorityPublicKeys } from './authority-keys.ts';
import { IDENTITY_KEY_LENGTH, MAX_SIGNED_DESCRIPTOR_BYTES, type MixingParameters } from './document.ts';
import { DEFAULT_EPOCH_PERIOD_MS } from './epoch.ts';
import { DescriptorWriter, loadDescriptors, loadOrCreateAuthorityKeys } from './store.ts';

/** A signed descriptor: its body, the signature and their two length prefixes. */
const MAX_REGISTRATION_BYTES = MAX_SIGNED_DESCRIPTOR_BYTES + 128;

export interface DirectoryConfig {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port; the handle tells which). */
  readonly port?: number;
  /** Keys and registered descriptors are kept here. */
  readonly dataDir: string;
  /** Accept any identity key (development networks only). */
  readonly devMode: boolean;
  /** Ed25519 identity public keys (hex) allowed to register outside development mode. */
  readonly allow?: readonly string[];
  /** Default `DEFAULT_EPOCH_PERIOD_MS` (20 minutes). */
  readonly epochPeriodMs?: number;
  /** Start of epoch 0 in Unix milliseconds; default 0. */
  readonly genesisMs?: number;
  readonly geometry: Geometry;
  readonly parameters: Omit<MixingParameters, 'epochPeriodMs'>;
  /** Where /metrics, /health and /ready listen; absent, they are not served. */
  readonly ops?: { readonly host?: string; readonly port: number };
  readonly backend?: CryptoBackend;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
  /** Unix milliseconds; default Date.now. */
  readonly now?: () => number;
}

export interface DirectoryHandle {
  /** http://host:port of the API. */
  readonly url: string;
  readonly port: number;
  readonly publicKeys: AuthorityPublicKeys;
  readonly authority: DirectoryAuthority;
  readonly ops: OpsServer | undefined;
  /** Stops serving and waits for pending writes. */
  close(): Promise<void>;
}

const STATUS: Readonly<Record<DirectoryErrorReason, number>> = {
  unsigned: 400,
  bad_signature: 400,
  unsupported_version: 400,
  invalid_descriptor: 400,
  wrong_geometry: 400,
  expired: 400,
  not_yet_valid: 400,
  not_allowed: 403,
  not_found: 404,
  wrong_epoch: 409,
  conflict: 409,
  too_large: 413,
  unavailable: 503,
};

function parseAllowList(entries: readonly string[]): Uint8Array[] {
  return entries.map((entry) => {
    if (!/^[0-9a-fA-F]+$/.test(entry) || entry.length !== 2 * IDENTITY_KEY_LENGTH) {
      throw new ConfigError('invalid_value', `allow: "${entry}" is not a hex Ed25519 public key (64 digits)`);
    }
    return fromHex(entry);
  });
}

function urlOf(host: string, port: number): string {
  return `http://${hostForUrl(host)}:${port}`;
}

export async function startDirectory(config: DirectoryConfig): Promise<DirectoryHandle> {
  const logger = config.logger ?? silentLogger;
  const backend = config.backend ?? nodeBackend;
  const metrics = config.metrics ?? new MetricsRegistry();
  const host = config.host ?? '127.0.0.1';
  const allowedIdentityKeys = parseAllowList(config.allow ?? []);

  const { keys, created } = await loadOrCreateAuthorityKeys(config.dataDir, backend);
  logger.info(created ? 'authority keys created' : 'authority keys loaded', {
    ed25519: toHex(keys.ed25519.publicKey),
  });
  const authority = new DirectoryAuthority({
    keys,
    backend,
    geometry: config.geometry,
    schedule: { periodMs: config.epochPeriodMs ?? DEFAULT_EPOCH_PERIOD_MS, genesisMs: config.genesisMs ?? 0 },
    parameters: config.parameters,
    policy: { devMode: config.devMode, allowedIdentityKeys },
    ...(config.now ? { now: config.now } : {}),
  });
  if (config.devMode) logger.warn('development mode: any identity key may register');
  else if (allowedIdentityKeys.length === 0) logger.warn('the allow-list is empty: no node can register');

  const writer = new DescriptorWriter(config.dataDir);
  let unsaved = false;
  const { restored, dropped } = authority.restore(await loadDescriptors(config.dataDir));
  if (restored + dropped > 0) logger.info('descriptors restored', { restored, dropped });
  if (dropped > 0) await writer.save(() => authority.descriptors());

  const registrations = metrics.counter({
    name: 'umbra_directory_registrations_total',
    help: 'Registrations received, by outcome (accepted, unchanged, or the refusal reason).',
    labelNames: ['outcome'],
  });
  const documentsServed = metrics.counter({
    name: 'umbra_directory_documents_served_total',
    help: 'Network documents served.',
  });
  const nodes = metrics.gauge({
    name: 'umbra_directory_nodes',
    help: 'Nodes registered for the current epoch, by role.',
    labelNames: ['role'],
  });
  const epochGauge = metrics.gauge({ name: 'umbra_directory_epoch', help: 'The current epoch.' });
  metrics.onCollect(() => {
    const epoch = authority.currentEpoch();
    epochGauge.set(epoch);
    for (const [role, count] of Object.entries(authority.nodeCounts(epoch))) nodes.set(count, { role });
  });

  function refuse(response: ServerResponse, error: unknown, close = false): void {
    if (error instanceof DirectoryError) {
      sendJson(response, STATUS[error.reason], { error: error.reason, message: error.message }, close);
    } else if (error instanceof CodecError) {
      sendJson(response, 400, { error: 'invalid_descriptor', message: error.message }, close);
    } else {
      logger.error('request failed', { error });
      sendJson(response, 500, { error: 'unavailable', message: 'internal error' }, true);
    }
  }

  async function register(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, MAX_REGISTRATION_BYTES);
    if (body === undefined) {
      registrations.inc(1, { outcome: 'too_large' });
      refuse(
        response,
        new DirectoryError('too_large', `a registration is at most ${MAX_REGISTRATION_BYTES} bytes`),
        true,
      );
      return;
    }
    let registration: ReturnType<DirectoryAuthority['register']>;
    try {
      registration = authority.register(body);
    } catch (error) {
      const outcome =
        error instanceof DirectoryError ? error.reason : error instanceof CodecError ? 'malformed' : 'error';
      registrations.inc(1, { outcome });
      logger.info('registration refused', { outcome });
      refuse(response, error);
      return;
    }
    const { id, epoch, role, layer, changed } = registration;
    // A failed save is retried on the next registration, even one that changes nothing: the node retries.
    if (changed || unsaved) {
      try {
        await writer.save(() => authority.descriptors());
        unsaved = false;
      } catch (error) {
        unsaved = true;
        throw error;
      }
    }
    if (changed) logger.info('node registered', { node: toHex(id), role, layer, epoch });
    registrations.inc(1, { outcome: changed ? 'accepted' : 'unchanged' });
    sendJson(response, 200, { id: toHex(id), epoch });
  }

  function serveDocument(response: ServerResponse, which: string): void {
    const epoch =
      which === 'current' ? authority.currentEpoch() : /^\d{1,15}$/.test(which) ? Number(which) : -1;
    const bytes = authority.document(epoch);
    documentsServed.inc();
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': bytes.length,
      'cache-control': 'no-cache',
      'x-umbra-epoch': String(epoch),
    });
    response.end(bytes);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const method = request.method ?? 'GET';
    const route =
      path === '/v1/register'
        ? 'register'
        : path.startsWith('/v1/document/')
          ? 'document'
          : path === '/v1/authority'
            ? 'authority'
            : undefined;
    if (route === undefined) {
      request.resume();
      sendJson(response, 404, { error: 'not_found', message: 'no such endpoint' });
      return;
    }
    const allowed = route === 'register' ? 'POST' : 'GET';
    if (method !== allowed) {
      request.resume();
      response.writeHead(405, { allow: allowed, connection: 'close' }).end();
      return;
    }
    try {
      if (route === 'register') await register(request, response);
      else if (route === 'document') serveDocument(response, path.slice('/v1/document/'.length));
      else sendJson(response, 200, { publicKeys: formatAuthorityPublicKeys(authority.publicKeys) });
    } catch (error) {
      if (!response.headersSent) refuse(response, error);
      else response.destroy();
    }
  }

  const server = createHttpServer((request, response) => {
    void handle(request, response);
  });
  const port = await listen(server, host, config.port ?? 0);
  const ops = await startServiceOps(
    config.ops,
    {
      role: 'directory',
      metrics,
      logger,
      epoch: () => authority.currentEpoch(),
      ready: () => ({
        document: probeCheck(() => authority.document()),
        store: unsaved ? { ok: false, detail: 'the last save of the descriptors failed' } : { ok: true },
      }),
    },
    () => closeServer(server),
  );
  logger.info('directory listening', {
    port,
    epoch: authority.currentEpoch(),
    epochPeriodMs: authority.schedule.periodMs,
  });

  return {
    url: urlOf(host, port),
    port,
    publicKeys: authority.publicKeys,
    authority,
    ops,
    async close() {
      await Promise.all([closeServer(server), ops?.close()]);
      await writer.flush();
    },
  };
}
