/**
 * The embedded delivery store as the rest of the service sees it: the same `DeliveryStore`, with the SQLite
 * file and all of `SqlStore`'s work on a worker thread of its own (`sqlite-worker.ts`). `node:sqlite` is
 * synchronous and each group commit waits for an fsync (`synchronous = FULL`); on the worker, that wait no
 * longer stops the event loop that reads and answers the sockets, so the next group fills while the last
 * one reaches the disk. Calls cross in batches, one message per turn of the event loop (all the requests
 * read from the sockets that were ready), and answers come back one message per group commit: a message
 * per call each way cost more CPU than the SQL it carried. Arguments and results are structured clones;
 * errors from the closed catalog cross as themselves. Change events cross too, and reach the subscribers of
 * every store instance on the same file in this process, as the driver's own do (sqlite.ts).
 */
import { once } from 'node:events';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ArgumentError, DeliveryError, type DeliveryErrorReason } from '../../errors.ts';
import type {
  KeyPackageCount,
  LogPage,
  LogPost,
  LogPostResult,
  MailboxItem,
  MailboxPost,
  MailboxPostResult,
  RegisterOutcome,
} from '../../protocol/records.ts';
import { dispatch } from './driver.ts';
import type {
  ClaimResult,
  Clock,
  DeliveryLimits,
  DeliveryStore,
  IdentityRecord,
  IssuerKeyRecord,
  KeyPackagePublication,
  PublishResult,
  PurgeCounts,
  SpendKind,
  StoreEvent,
  StoreListener,
  TokenSpend,
  TokenSpent,
} from './types.ts';

/** What the worker is started with. */
export interface StoreThreadData {
  readonly path: string;
  readonly limits: DeliveryLimits;
  readonly now: number;
}

type StoreMethod = Exclude<keyof DeliveryStore, 'backend' | 'limits' | 'subscribe'>;

/** A call of `method` with `args`, made at `now` by the caller's clock. */
export interface CallMessage {
  readonly id: number;
  readonly method: StoreMethod;
  readonly args: readonly unknown[];
  readonly now: number;
}

/** An error as it crosses to the caller's thread. */
export type SerializedError =
  | { readonly kind: 'argument'; readonly argument: string; readonly message: string }
  | { readonly kind: 'delivery'; readonly reason: DeliveryErrorReason; readonly message: string }
  | { readonly kind: 'other'; readonly name: string; readonly message: string; readonly code?: unknown };

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly id: number; readonly value: unknown }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError }
  | { readonly type: 'event'; readonly event: StoreEvent };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof ArgumentError) {
    return { kind: 'argument', argument: error.argument, message: error.message };
  }
  if (error instanceof DeliveryError)
    return { kind: 'delivery', reason: error.reason, message: error.message };
  if (error instanceof Error) {
    const { code, errcode } = error as { code?: unknown; errcode?: unknown };
    return { kind: 'other', name: error.name, message: error.message, code: errcode ?? code };
  }
  return { kind: 'other', name: 'Error', message: String(error) };
}

/** The catalog's errors are built again from what they were built from (their messages are prefixed). */
function deserializeError(error: SerializedError): Error {
  switch (error.kind) {
    case 'argument':
      return new ArgumentError(error.argument, error.message.slice(error.argument.length + 2));
    case 'delivery':
      return new DeliveryError(error.reason, error.message.slice(error.reason.length + 2));
    case 'other':
      return Object.assign(new Error(error.message), { name: error.name, code: error.code });
  }
}

/** Subscribers per database file, shared by every store instance of this process on that file. */
const listenersByFile = new Map<string, Set<StoreListener>>();

interface PendingCall {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

class SqliteThreadStore implements DeliveryStore {
  readonly backend = 'sqlite';
  readonly limits: DeliveryLimits;
  readonly #worker: Worker;
  readonly #file: string;
  readonly #clock: Clock;
  readonly #pending = new Map<number, PendingCall>();
  readonly #ownListeners = new Set<StoreListener>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  #closing: Promise<void> | undefined;
  /** Calls for the worker, posted together once this turn's requests are read (see `#flush`). */
  #outbox: CallMessage[] = [];

  constructor(worker: Worker, file: string, clock: Clock, limits: DeliveryLimits) {
    this.#worker = worker;
    this.#file = file;
    this.#clock = clock;
    this.limits = limits;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (messages: readonly WorkerMessage[]) => {
      for (const message of messages) this.#receive(message);
    });
    worker.on('error', (error) => this.#failAll(error));
    worker.on('exit', () => this.#failAll(new DeliveryError('closed', 'the delivery store is closed')));
    // The thread keeps the process alive only while a call waits for it, as a file handle would not.
    worker.unref();
  }

  registerIdentity(
    handleHash: Uint8Array,
    identityKey: Uint8Array,
    registration: Uint8Array,
  ): Promise<RegisterOutcome> {
    return this.#call('registerIdentity', [handleHash, identityKey, registration]);
  }

  getIdentity(handleHash: Uint8Array): Promise<IdentityRecord | undefined> {
    return this.#call('getIdentity', [handleHash]);
  }

  publishKeyPackages(publication: KeyPackagePublication): Promise<PublishResult> {
    return this.#call('publishKeyPackages', [publication]);
  }

  claimKeyPackages(handleHash: Uint8Array): Promise<ClaimResult>;
  claimKeyPackages(handleHash: Uint8Array, spend: TokenSpend): Promise<ClaimResult | TokenSpent>;
  claimKeyPackages(handleHash: Uint8Array, spend?: TokenSpend): Promise<ClaimResult | TokenSpent> {
    return this.#call('claimKeyPackages', spend === undefined ? [handleHash] : [handleHash, spend]);
  }

  countKeyPackages(handleHash: Uint8Array, deviceId: Uint8Array): Promise<KeyPackageCount> {
    return this.#call('countKeyPackages', [handleHash, deviceId]);
  }

  postToLog(routingId: Uint8Array, post: LogPost): Promise<LogPostResult> {
    return this.#call('postToLog', [routingId, post]);
  }

  fetchLog(routingId: Uint8Array, afterSeq: number, limit: number): Promise<LogPage> {
    return this.#call('fetchLog', [routingId, afterSeq, limit]);
  }

  postToMailbox(mailboxId: Uint8Array, post: MailboxPost): Promise<MailboxPostResult>;
  postToMailbox(
    mailboxId: Uint8Array,
    post: MailboxPost,
    spend: TokenSpend,
  ): Promise<MailboxPostResult | TokenSpent>;
  postToMailbox(
    mailboxId: Uint8Array,
    post: MailboxPost,
    spend?: TokenSpend,
  ): Promise<MailboxPostResult | TokenSpent> {
    return this.#call('postToMailbox', spend === undefined ? [mailboxId, post] : [mailboxId, post, spend]);
  }

  fetchMailbox(mailboxId: Uint8Array, afterSeq: number, limit: number): Promise<readonly MailboxItem[]> {
    return this.#call('fetchMailbox', [mailboxId, afterSeq, limit]);
  }

  deleteFromMailbox(mailboxId: Uint8Array, messageIds: readonly Uint8Array[]): Promise<number> {
    return this.#call('deleteFromMailbox', [mailboxId, messageIds]);
  }

  purgeExpired(now?: number): Promise<PurgeCounts> {
    return this.#call('purgeExpired', now === undefined ? [] : [now]);
  }

  async subscribe(listener: StoreListener): Promise<() => Promise<void>> {
    if (typeof listener !== 'function') throw new ArgumentError('listener', 'expected a function');
    this.#open();
    // A wrapper per subscription, so that the same function subscribed twice is two subscriptions.
    const subscription: StoreListener = (event) => listener(event);
    let listeners = listenersByFile.get(this.#file);
    if (listeners === undefined) {
      listeners = new Set();
      listenersByFile.set(this.#file, listeners);
    }
    listeners.add(subscription);
    this.#ownListeners.add(subscription);
    return async () => this.#unlisten(subscription);
  }

  spendOnce(kind: SpendKind, id: Uint8Array, expiresAt: number, binding?: Uint8Array): Promise<boolean> {
    return this.#call(
      'spendOnce',
      binding === undefined ? [kind, id, expiresAt] : [kind, id, expiresAt, binding],
    );
  }

  addIssuerKey(key: IssuerKeyRecord): Promise<IssuerKeyRecord> {
    return this.#call('addIssuerKey', [key]);
  }

  issuerKeys(now: number): Promise<readonly IssuerKeyRecord[]> {
    return this.#call('issuerKeys', [now]);
  }

  takeTokenBudget(handleHash: Uint8Array, day: number, wanted: number, perDay: number): Promise<number> {
    return this.#call('takeTokenBudget', [handleHash, day, wanted, perDay]);
  }

  ping(): Promise<void> {
    return this.#call('ping', []);
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      for (const subscription of this.#ownListeners) this.#unlisten(subscription);
      // Calls made before this one are answered first: the worker runs them in order.
      const closed = this.#send<void>('close', []);
      this.#closing = closed.then(() => this.#exited);
    }
    return this.#closing;
  }

  #open(): void {
    if (this.#closing !== undefined) throw new DeliveryError('closed', 'the delivery store is closed');
  }

  #call<T>(method: StoreMethod, args: readonly unknown[]): Promise<T> {
    try {
      this.#open();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#send(method, args);
  }

  #send<T>(method: StoreMethod, args: readonly unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      const message: CallMessage = { id, method, args, now: this.#clock() };
      if (this.#outbox.push(message) === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const messages = this.#outbox;
    this.#outbox = [];
    this.#worker.postMessage(messages);
  }

  #receive(message: WorkerMessage): void {
    if (message.type === 'event') {
      dispatch(listenersByFile.get(this.#file) ?? [], message.event);
      return;
    }
    if (message.type !== 'result' && message.type !== 'error') return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (message.type === 'result') pending.resolve(message.value);
    else pending.reject(deserializeError(message.error));
  }

  #failAll(error: unknown): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  #unlisten(subscription: StoreListener): void {
    this.#ownListeners.delete(subscription);
    const listeners = listenersByFile.get(this.#file);
    listeners?.delete(subscription);
    if (listeners?.size === 0) listenersByFile.delete(this.#file);
  }
}

/** Opens (creating it if needed) and migrates the SQLite file at `path` on a worker thread of its own. */
export async function openSqliteThreadStore(
  path: string,
  clock: Clock,
  limits: DeliveryLimits,
): Promise<DeliveryStore> {
  const absolute = resolve(path);
  const data: StoreThreadData = { path: absolute, limits, now: clock() };
  const worker = new Worker(new URL('./sqlite-worker.ts', import.meta.url), { workerData: data });
  const [[message]] = (await once(worker, 'message')) as [readonly [WorkerMessage, ...WorkerMessage[]]];
  if (message.type !== 'ready') {
    await once(worker, 'exit');
    throw message.type === 'failed' ? deserializeError(message.error) : new Error('the store thread failed');
  }
  return new SqliteThreadStore(worker, realpathSync(absolute), clock, limits);
}
