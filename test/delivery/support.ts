// Shared by the delivery-service tests: both databases (PostgreSQL only when DATABASE_URL is set, else a
// visible skip), a fresh database per server, real servers on ephemeral ports (in this process, or as
// `umbra delivery` child processes), and clients over real WebSockets.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { toHex } from '../../src/bytes.ts';
import { DirectCarrier, type DirectCarrierOptions } from '../../src/client/carrier/direct.ts';
import type { ClientVault } from '../../src/client/storage.ts';
import { type TokenIssuerApi, TokenWallet } from '../../src/client/tokens.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import {
  type DeliveryServerConfig,
  type DeliveryServerHandle,
  startDeliveryServer,
} from '../../src/delivery/server.ts';
import {
  type DeliveryStore,
  type OpenStoreOptions,
  openStore,
  type StoreLocation,
} from '../../src/delivery/store/index.ts';
import type { IdentitySigner, TokenSource } from '../../src/protocol/api.ts';
import { DeliveryClient } from '../../src/protocol/client.ts';
import { RoleProcess } from '../support/role-process.ts';

export interface Backend {
  readonly name: 'SQLite' | 'PostgreSQL';
  /** A database nobody else uses; the store creates it. */
  fresh(): StoreLocation;
}

const databaseUrl = process.env.DATABASE_URL ?? '';
const run = `umbra_dtest_${toHex(randomBytes(4))}`;
let count = 0;
let root: string | undefined;
let usedPostgres = false;

const sqlite: Backend = {
  name: 'SQLite',
  fresh() {
    root ??= mkdtempSync(join(tmpdir(), 'umbra-delivery-test-'));
    count += 1;
    return { sqlitePath: join(root, `db-${count}`, 'delivery.sqlite') };
  },
};

const postgres: Backend = {
  name: 'PostgreSQL',
  fresh() {
    usedPostgres = true;
    count += 1;
    return { postgresUrl: databaseUrl, schema: `${run}_${count}`, poolSize: 4 };
  },
};

/** Drops the schemas a test run created (named `${run}_<n>`). */
export async function dropRunSchemas(databaseUrl: string, run: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [
      `${run}\\_%`,
    ]);
    for (const { nspname } of rows) await client.query(`DROP SCHEMA "${String(nspname)}" CASCADE`);
  } finally {
    await client.end();
  }
}

after(async () => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  if (usedPostgres) await dropRunSchemas(databaseUrl, run);
});

export const hasPostgres = databaseUrl !== '';

/**
 * The database as a thief would copy it: the raw SQLite files (WAL included, if present), or the text of
 * every row of every table of the PostgreSQL schema.
 */
export async function dumpDatabase(location: StoreLocation): Promise<string> {
  if ('sqlitePath' in location) {
    return ['', '-wal', '-shm']
      .map((suffix) => `${location.sqlitePath}${suffix}`)
      .filter((path) => existsSync(path))
      .map((path) => Buffer.from(readFileSync(path)).toString('latin1'))
      .join('\n');
  }
  const client = new pg.Client({ connectionString: location.postgresUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT tablename FROM pg_tables WHERE schemaname = $1', [
      location.schema,
    ]);
    const parts: string[] = [];
    for (const { tablename } of rows) {
      const table = await client.query(
        `SELECT t::text AS row FROM "${location.schema}"."${String(tablename)}" t`,
      );
      parts.push(...table.rows.map((row) => String(row.row)));
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}
export const postgresBackend = postgres;
export const sqliteBackend = sqlite;

/** Runs `body` once per database; PostgreSQL prints a skip line when DATABASE_URL is unset. */
export function describeOnBackends(title: string, body: (backend: Backend) => void): void {
  describe(`${title} (SQLite)`, () => body(sqlite));
  if (hasPostgres) describe(`${title} (PostgreSQL)`, () => body(postgres));
  else test(`${title} (PostgreSQL)`, (t) => t.skip('DATABASE_URL not set: PostgreSQL tests skipped'));
}

export const IDENTIFIER_KEY = new Uint8Array(32).fill(0x5a);
/** The per-address WebSocket cap of test servers: all their clients share one address. */
export const LOOPBACK_CONNECTIONS = 1024;

export interface TestServer {
  readonly server: DeliveryServerHandle;
  readonly store: DeliveryStore;
  close(): Promise<void>;
}

export async function startServer(
  location: StoreLocation,
  config: Partial<DeliveryServerConfig> & Pick<OpenStoreOptions, 'clock' | 'limits'> = {},
): Promise<TestServer> {
  const store = await openStore({
    ...location,
    ...(config.clock ? { clock: config.clock } : {}),
    limits: config.limits ?? {},
  });
  const server = await startDeliveryServer({
    identifierKey: IDENTIFIER_KEY,
    // Every test client connects from 127.0.0.1; the per-address cap is tested with a small one.
    maxConnectionsPerIp: LOOPBACK_CONNECTIONS,
    ...config,
    store,
  });
  return {
    server,
    store,
    async close() {
      await server.close();
      await store.close();
    },
  };
}

export const DELIVERY_MAIN = fileURLToPath(new URL('../../src/delivery/main.ts', import.meta.url));

/** `umbra delivery <args>` as a child process, once it listens; `server` stands in for its handle. */
export async function startDeliveryProcess(
  args: readonly string[],
): Promise<{ process: RoleProcess; server: Pick<DeliveryServerHandle, 'webSocketUrl' | 'port'> }> {
  const running = new RoleProcess(DELIVERY_MAIN, args);
  const port = (await running.logged('delivery service listening')).fields?.port;
  if (typeof port !== 'number') throw new Error('the delivery process did not log its port');
  return { process: running, server: { webSocketUrl: `ws://127.0.0.1:${port}/v1/ws`, port } };
}

export interface TestClient {
  readonly carrier: DirectCarrier;
  readonly client: DeliveryClient;
  close(): Promise<void>;
}

/** A vault in memory, for the SDK's token wallet in protocol-level tests. */
export function memoryVault(): ClientVault {
  const records = new Map<string, Uint8Array>();
  return {
    get: async (name) => records.get(name),
    put: async (name, value) => {
      records.set(name, value);
    },
    delete: async (name) => records.delete(name),
    list: async () => [...records.keys()],
    wipe: async () => records.clear(),
    close: async () => undefined,
  };
}

/** The SDK's token wallet (in memory) filled with `count` tokens on the budget of `handle`, through `client`. */
export async function tokenWallet(
  client: DeliveryClient,
  handle: string,
  count: number,
): Promise<TokenWallet> {
  const wallet = await TokenWallet.load(memoryVault(), {
    issuer: () => issuerThrough(client, handle),
    batch: count,
  });
  await wallet.fill();
  return wallet;
}

function issuerThrough(client: DeliveryClient, handle: string): TokenIssuerApi {
  return {
    issuerKeys: () => client.issuerKeys(),
    issueTokens: (requests) => client.issueTokens(handle, requests),
  };
}

/**
 * A client over its own WebSocket, resolved once the socket is up. Its claims and mailbox posts spend tokens
 * from `tokens`: a source, or a handle, for a wallet of its own filled on that handle's budget (which
 * `identity` must have registered before the first claim or post).
 */
export async function connect(
  server: Pick<DeliveryServerHandle, 'webSocketUrl'>,
  identity?: IdentitySigner,
  options: Partial<DirectCarrierOptions> = {},
  tokens?: string | TokenSource,
): Promise<TestClient> {
  const carrier = new DirectCarrier({ url: server.webSocketUrl, ...options });
  await waitUp(carrier);
  let issuer: TokenIssuerApi | undefined;
  const source =
    typeof tokens === 'string' ? await TokenWallet.load(memoryVault(), { issuer: () => issuer }) : tokens;
  const client = new DeliveryClient({
    carrier,
    ...(identity ? { identity } : {}),
    ...(source ? { tokens: source } : {}),
  });
  if (typeof tokens === 'string') issuer = issuerThrough(client, tokens);
  return {
    carrier,
    client,
    async close() {
      client.close();
      await carrier.close();
    },
  };
}

export function waitUp(carrier: DirectCarrier): Promise<void> {
  return waitFor(carrier, 'up');
}

/** Waits for the carrier's status to be `state`; a generous cap turns a hang into a failure that says so. */
export function waitFor(
  carrier: DirectCarrier,
  state: 'up' | 'down' | 'connecting',
  capMs = 120_000,
): Promise<void> {
  if (carrier.status().state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(
          `the carrier did not become ${state} within ${capMs} ms: ${JSON.stringify(carrier.status())}`,
        ),
      );
    }, capMs);
    const off = carrier.onStatus((status) => {
      if (status.state === state) {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  });
}

export const id32 = (): Uint8Array => randomBytes(32);
export const tag = (): Uint8Array => randomBytes(16);
