/**
 * The worker thread that holds an embedded (SQLite) delivery store for `sqlite-thread.ts`: it opens the
 * file, runs each call it is sent on its `SqlStore` and answers it, and forwards the store's change events.
 * `node:sqlite` is synchronous, so a commit's fsync blocks this thread, not the one serving the sockets.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqlStore } from './sql-store.ts';
import { openSqliteDriver } from './sqlite.ts';
import {
  type CallMessage,
  type StoreThreadData,
  serializeError,
  type WorkerMessage,
} from './sqlite-thread.ts';

const port = parentPort;
if (port === null) throw new Error('sqlite-worker.ts runs as a worker thread');
const { path, limits, now } = workerData as StoreThreadData;
/**
 * The clock of the call being started: each call carries the caller's time, which the store reads as it
 * starts the call (before its first await).
 */
let callNow = now;
/** Messages for the caller's thread, posted together (see `send`). */
let outbox: WorkerMessage[] = [];

function flush(): void {
  const messages = outbox;
  outbox = [];
  if (messages.length > 0) port?.postMessage(messages);
}

/**
 * Queues `message`; the queue is posted once the promise jobs of this turn have run, so a group commit's
 * answers and events cross as one message (a message per answer cost this thread more than its SQL did).
 * A tick queued from a promise job runs after all of them, and before the next group's immediate.
 */
function send(message: WorkerMessage): void {
  if (outbox.push(message) === 1) process.nextTick(flush);
}

try {
  const store = new SqlStore(await openSqliteDriver(path, now), () => callNow, limits);
  await store.subscribe((event) => send({ type: 'event', event }));
  port.on('message', (messages: readonly CallMessage[]) => {
    for (const message of messages) {
      callNow = message.now;
      const method = store[message.method] as (...args: readonly unknown[]) => Promise<unknown>;
      method.apply(store, [...message.args]).then(
        (value) => {
          send({ type: 'result', id: message.id, value });
          if (message.method === 'close') {
            flush();
            port.close();
          }
        },
        (error: unknown) => send({ type: 'error', id: message.id, error: serializeError(error) }),
      );
    }
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'failed', error: serializeError(error) });
  flush();
  port.close();
}
