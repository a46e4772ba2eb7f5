// Shared by the SDK tests: clients with their vault in a temp directory (fast test KDF), each over its own
// DirectCarrier to a real delivery server (test/delivery/support.ts starts it on SQLite or PostgreSQL), and
// waiting helpers driven by the SDK's events.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectCarrier, type DirectCarrierOptions } from '../../src/client/carrier/direct.ts';
import { Client, type ClientOptions } from '../../src/client/client.ts';
import type { Conversation, Message } from '../../src/client/conversation.ts';
import { directoryStorage } from '../../src/client/directory-storage.ts';
import { UNSAFE_TEST_KDF_PARAMETERS } from '../../src/crypto/vault.ts';
import type { DeliveryServerHandle } from '../../src/delivery/server.ts';
import type { Carrier } from '../../src/protocol/carrier.ts';
import { waitUp } from '../delivery/support.ts';

export const PASSPHRASE = 'correct horse battery staple';
/** A delivery server in this process, or an `umbra delivery` child process (startDeliveryProcess). */
type DeliveryServer = Pick<DeliveryServerHandle, 'webSocketUrl'>;
const roots: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'umbra-client-test-'));
  roots.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of roots.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface TestUser {
  readonly name: string;
  readonly dataDir: string;
  client: Client;
  carrier: DirectCarrier;
  /** Closes the client and its carrier, then opens both again from the same vault. */
  restart(options?: Partial<ClientOptions>): Promise<Client>;
  close(): Promise<void>;
}

/** Client options, plus the direct carrier's (say its request size limit, to match the server's). */
export type OpenOptions = Partial<ClientOptions> & { readonly carrier?: Partial<DirectCarrierOptions> };

/** Options of a test client: its vault in `dataDir` (fast test KDF), the direct policy, fast polling. */
export function clientOptions(
  dataDir: string,
  carriers: readonly Carrier[],
  options: Partial<ClientOptions> = {},
): ClientOptions {
  return {
    storage: directoryStorage(dataDir, { unsafeKdfForTests: UNSAFE_TEST_KDF_PARAMETERS }),
    passphrase: PASSPHRASE,
    carriers,
    privacy: 'direct',
    pollIntervalMs: 100,
    keyPackages: 3,
    ...options,
  };
}

/** A real DirectCarrier to `server`, resolved once connected. */
export async function directCarrier(
  server: DeliveryServer,
  options: Partial<DirectCarrierOptions> = {},
): Promise<DirectCarrier> {
  const carrier = new DirectCarrier({
    url: server.webSocketUrl,
    minReconnectDelayMs: 20,
    maxReconnectDelayMs: 200,
    ...options,
  });
  await waitUp(carrier);
  return carrier;
}

/** A client over its own direct carrier with its vault in `dataDir`. */
export async function openClient(
  server: DeliveryServer,
  dataDir: string,
  options: OpenOptions = {},
): Promise<{ client: Client; carrier: DirectCarrier }> {
  const { carrier: carrierOptions, ...rest } = options;
  const carrier = await directCarrier(server, carrierOptions);
  const client = await Client.open(clientOptions(dataDir, [carrier], rest));
  if (process.env.UMBRA_TEST_DEBUG) client.on('error', (error) => console.error('client error', error));
  return { client, carrier };
}

/** A registered user over the direct carrier. */
export async function user(
  server: DeliveryServer,
  name: string,
  options: OpenOptions = {},
): Promise<TestUser> {
  const dataDir = tempDir();
  const opened = await openClient(server, dataDir, options);
  await opened.client.register(name);
  const result: TestUser = {
    name,
    dataDir,
    client: opened.client,
    carrier: opened.carrier,
    async restart(more = {}) {
      await result.close();
      const again = await openClient(server, dataDir, { ...options, ...more });
      result.client = again.client;
      result.carrier = again.carrier;
      return again.client;
    },
    async close() {
      await result.client.close();
      await result.carrier.close();
    },
  };
  return result;
}

/** Resolves with the first value `probe` returns other than undefined, re-checked on every event tick. */
export async function eventually<T>(
  probe: () => T | undefined,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until every conversation is in the same epoch, and returns it. */
export function sameEpoch(...conversations: Conversation[]): Promise<bigint> {
  return eventually(() => {
    const epochs = new Set(conversations.map((c) => c.epoch));
    const [epoch] = epochs;
    return epochs.size === 1 && epoch !== undefined ? epoch : undefined;
  }, 'the members to reach the same epoch');
}

/** The conversation `id` once `client` has joined it. */
export function joined(client: Client, id: string, timeoutMs?: number): Promise<Conversation> {
  return eventually(() => client.conversation(id), `${client.handle} to join`, timeoutMs);
}

/** Collects every 'message' event of a conversation. */
export function inbox(conversation: Conversation): Message[] {
  const received: Message[] = [];
  conversation.on('message', (message) => received.push(message));
  return received;
}

/** Waits until `messages` holds `count` entries and returns their texts. */
export async function texts(
  messages: readonly Message[],
  count: number,
  timeoutMs?: number,
): Promise<string[]> {
  await eventually(() => (messages.length >= count ? true : undefined), `${count} messages`, timeoutMs);
  return messages.map((m) => m.content.text ?? '');
}
