// A worker thread of the compliance suite's races: it keeps its own store instance (its own SQLite
// connection or its own PostgreSQL pool) and runs one operation per command. Before running it reports
// "armed" and blocks on a shared gate, so that every racer starts the moment the suite opens the gate.
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../../../src/delivery/store/index.ts';
import type { DeliveryLimits, DeliveryStore, StoreLocation } from '../../../src/delivery/store/types.ts';
import type { LogPost, MailboxPost } from '../../../src/protocol/records.ts';

export type RaceOperation =
  | { readonly type: 'register'; readonly handleHash: Uint8Array; readonly identityKey: Uint8Array }
  | { readonly type: 'claim'; readonly handleHash: Uint8Array }
  | {
      readonly type: 'claimPaid';
      readonly handleHash: Uint8Array;
      readonly id: Uint8Array;
      readonly binding: Uint8Array;
    }
  | { readonly type: 'postLog'; readonly routingId: Uint8Array; readonly posts: readonly LogPost[] }
  | { readonly type: 'postMailbox'; readonly mailboxId: Uint8Array; readonly posts: readonly MailboxPost[] }
  | { readonly type: 'spend'; readonly id: Uint8Array; readonly binding?: Uint8Array }
  | {
      readonly type: 'postPaid';
      readonly mailboxId: Uint8Array;
      readonly post: MailboxPost;
      readonly id: Uint8Array;
      readonly binding: Uint8Array;
    }
  | {
      readonly type: 'budget';
      readonly handleHash: Uint8Array;
      readonly wanted: number;
      readonly perDay: number;
    }
  | { readonly type: 'issuerKey'; readonly slot: number; readonly tokenKey: Uint8Array };

export interface RaceCommand {
  readonly location: StoreLocation;
  readonly limits: Partial<DeliveryLimits>;
  readonly gate: Int32Array;
  readonly operation: RaceOperation;
}

export type RacerMessage =
  | { readonly type: 'armed' }
  | { readonly type: 'done'; readonly result: unknown }
  | { readonly type: 'failed'; readonly message: string };

const port = parentPort;
if (port === null || workerData !== 'racer')
  throw new Error('racer.ts runs only as a worker of the compliance suite');

let current: { key: string; store: DeliveryStore } | undefined;

async function storeFor(location: StoreLocation, limits: Partial<DeliveryLimits>): Promise<DeliveryStore> {
  const key = JSON.stringify({ location, limits });
  if (current?.key === key) return current.store;
  await current?.store.close();
  current = undefined;
  const store = await openStore({ ...location, limits });
  current = { key, store };
  return store;
}

async function run(store: DeliveryStore, operation: RaceOperation): Promise<unknown> {
  switch (operation.type) {
    case 'register':
      return store.registerIdentity(operation.handleHash, operation.identityKey, operation.identityKey);
    case 'claim':
      return store.claimKeyPackages(operation.handleHash);
    case 'claimPaid':
      return store.claimKeyPackages(operation.handleHash, {
        id: operation.id,
        binding: operation.binding,
        expiresAt: Date.now() + 60_000,
      });
    case 'postLog': {
      const results = [];
      for (const post of operation.posts) results.push(await store.postToLog(operation.routingId, post));
      return results;
    }
    case 'postMailbox': {
      const results = [];
      for (const post of operation.posts) results.push(await store.postToMailbox(operation.mailboxId, post));
      return results;
    }
    case 'postPaid':
      return store.postToMailbox(operation.mailboxId, operation.post, {
        id: operation.id,
        binding: operation.binding,
        expiresAt: Date.now() + 60_000,
      });
    case 'spend':
      return store.spendOnce('token', operation.id, Date.now() + 60_000, operation.binding);
    case 'budget':
      return store.takeTokenBudget(operation.handleHash, 20_000, operation.wanted, operation.perDay);
    case 'issuerKey':
      return store.addIssuerKey({
        slot: operation.slot,
        tokenKey: operation.tokenKey,
        sealedPrivateKey: operation.tokenKey,
        notBefore: 0,
        acceptUntil: Date.now() + 60_000,
      });
  }
}

port.on('message', async (command: RaceCommand | 'close') => {
  if (command === 'close') {
    await current?.store.close();
    port.close();
    return;
  }
  try {
    const store = await storeFor(command.location, command.limits);
    port.postMessage({ type: 'armed' } satisfies RacerMessage);
    Atomics.wait(command.gate, 0, 0);
    const result = await run(store, command.operation);
    port.postMessage({ type: 'done', result } satisfies RacerMessage);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    port.postMessage({ type: 'failed', message } satisfies RacerMessage);
  }
});
