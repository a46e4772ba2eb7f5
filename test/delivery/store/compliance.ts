// The delivery store's compliance suite: every behaviour the delivery service relies on, run against each
// implementation through `describeDeliveryStore(target)`. Single-instance tests use an injected clock; the
// races run in 20 worker threads, each with its own store instance (its own SQLite connection or its own
// PostgreSQL pool) on the same database, released together through a shared gate.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, type TestContext, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { toHex } from '../../../src/bytes.ts';
import { randomBytes } from '../../../src/crypto/random.ts';
import type { Migration, SqlDriver } from '../../../src/delivery/store/driver.ts';
import { openStore } from '../../../src/delivery/store/index.ts';
import {
  CLAIM_RECEIPT_RETENTION_MS,
  type ClaimResult,
  type DeliveryLimits,
  type DeliveryStore,
  type IssuerKeyRecord,
  type StoreEvent,
  type StoreLocation,
} from '../../../src/delivery/store/types.ts';
import { ArgumentError, DeliveryError } from '../../../src/errors.ts';
import type {
  LogEntry,
  LogPost,
  LogPostResult,
  MailboxItem,
  MailboxPostResult,
  RegisterOutcome,
} from '../../../src/protocol/records.ts';
import type { RaceCommand, RaceOperation, RacerMessage } from './racer.ts';

export interface ComplianceTarget {
  readonly name: string;
  /** A database location that no other test uses; the store creates it on open. */
  freshLocation(): StoreLocation;
  /** This backend's migrations and its raw driver, to build a database as an older version left it. */
  readonly migrations: readonly Migration[];
  openDriver(location: StoreLocation, now: number, migrations: readonly Migration[]): Promise<SqlDriver>;
}

const T0 = 1_760_000_000_000;
const HOUR = 60 * 60 * 1000;
const RACERS = 20;
const EVENT_TIMEOUT_MS = 5_000;

/** A clock the test moves by hand. */
class ManualClock {
  now = T0;
  readonly read = (): number => this.now;
}

const key = (): Uint8Array => randomBytes(32);
const tag = (): Uint8Array => randomBytes(16);

function application(size = 40): LogPost {
  return { kind: 'application', messageId: tag(), blob: randomBytes(size), bucket: 1 };
}

function commit(size = 40): LogPost {
  return { kind: 'commit', messageId: tag(), blob: randomBytes(size), bucket: 2 };
}

function welcome(commitMessageId: Uint8Array, size = 40): LogPost {
  return { kind: 'welcome', messageId: tag(), blob: randomBytes(size), bucket: 3, commitMessageId };
}

/** Collects a store's events in order; `next` fails the test instead of waiting forever. */
export async function recordEvents(store: DeliveryStore) {
  const queue: StoreEvent[] = [];
  const waiting: ((event: StoreEvent) => void)[] = [];
  const unsubscribe = await store.subscribe((event) => {
    const resolve = waiting.shift();
    if (resolve === undefined) queue.push(event);
    else resolve(event);
  });
  const next = (): Promise<StoreEvent> => {
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no store event arrived')), EVENT_TIMEOUT_MS);
      waiting.push((event) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
  };
  return { next, unsubscribe };
}

/** Twenty worker threads, each holding its own store instance, that run one operation each per race. */
class Racers {
  readonly #workers: Worker[] = [];

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      this.#workers.push(new Worker(new URL('./racer.ts', import.meta.url), { workerData: 'racer' }));
    }
  }

  /** Runs `operations[i]` on worker i, all released at the same instant; returns their results in order. */
  async race(
    location: StoreLocation,
    limits: Partial<DeliveryLimits>,
    operations: readonly RaceOperation[],
  ): Promise<unknown[]> {
    assert.ok(operations.length <= this.#workers.length);
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const workers = this.#workers.slice(0, operations.length);
    const arming = workers.map((worker, i) => {
      const reply = this.#reply(worker);
      worker.postMessage({ location, limits, gate, operation: operations[i] } as RaceCommand);
      return reply;
    });
    const armed = await Promise.all(arming);
    const finishing = workers.map((worker, i) =>
      armed[i]?.type === 'armed' ? this.#reply(worker) : arming[i],
    );
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    const replies = await Promise.all(finishing);
    return replies.map((reply) => {
      if (reply?.type !== 'done') throw new Error(`a racer failed: ${JSON.stringify(reply)}`);
      return reply.result;
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.once('exit', () => resolve());
            worker.postMessage('close');
          }),
      ),
    );
  }

  #reply(worker: Worker): Promise<RacerMessage> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      worker.once('error', onError);
      worker.once('message', (message: RacerMessage) => {
        worker.off('error', onError);
        resolve(message);
      });
    });
  }
}

export function describeDeliveryStore(target: ComplianceTarget): void {
  async function open(
    t: TestContext,
    options: { clock?: ManualClock; limits?: Partial<DeliveryLimits>; location?: StoreLocation } = {},
  ): Promise<DeliveryStore> {
    const clock = options.clock ?? new ManualClock();
    const store = await openStore({
      ...(options.location ?? target.freshLocation()),
      clock: clock.read,
      limits: options.limits ?? {},
    });
    t.after(() => store.close());
    return store;
  }

  describe(`${target.name}: identities`, () => {
    test('binds a handle to the first identity key; the same key again is a no-op, another is refused', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock });
      const handle = key();
      const identityKey = randomBytes(64);
      const registration = randomBytes(100);

      assert.deepEqual(await store.registerIdentity(handle, identityKey, registration), {
        ok: true,
        created: true,
      });
      clock.now += 1000;
      assert.deepEqual(await store.registerIdentity(handle, identityKey, randomBytes(100)), {
        ok: true,
        created: false,
      });
      assert.deepEqual(await store.registerIdentity(handle, randomBytes(64), registration), {
        ok: false,
        error: 'handle_taken',
      });
      assert.deepEqual(await store.getIdentity(handle), { identityKey, registration, registeredAt: T0 });
      assert.equal(await store.getIdentity(key()), undefined);
    });

    test('refuses identifiers of the wrong length with ArgumentError', async (t) => {
      const store = await open(t);
      await assert.rejects(
        store.registerIdentity(randomBytes(31), randomBytes(32), randomBytes(8)),
        ArgumentError,
      );
      await assert.rejects(store.getIdentity(randomBytes(33)), ArgumentError);
      await assert.rejects(store.registerIdentity(key(), new Uint8Array(0), randomBytes(8)), ArgumentError);
    });
  });

  describe(`${target.name}: key packages`, () => {
    async function registered(t: TestContext, limits: Partial<DeliveryLimits> = {}) {
      const clock = new ManualClock();
      const store = await open(t, { clock, limits });
      const handle = key();
      await store.registerIdentity(handle, randomBytes(32), randomBytes(32));
      return { store, clock, handle };
    }

    const upload = (size = 200) => ({ id: tag(), data: randomBytes(size) });

    test('hands out each one-time KeyPackage once, oldest first, then the flagged last resort', async (t) => {
      const { store, handle } = await registered(t);
      const device = tag();
      const oneTime = [upload(), upload(), upload()];
      const lastResort = upload();
      assert.deepEqual(
        await store.publishKeyPackages({ handleHash: handle, deviceId: device, oneTime, lastResort }),
        {
          ok: true,
          added: 3,
        },
      );
      assert.deepEqual(await store.countKeyPackages(handle, device), { oneTime: 3, lastResort: true });

      for (const [index, expected] of oneTime.entries()) {
        assert.deepEqual(await store.claimKeyPackages(handle), {
          ok: true,
          packages: [{ deviceId: device, id: expected.id, data: expected.data, lastResort: false }],
        });
        assert.deepEqual(await store.countKeyPackages(handle, device), {
          oneTime: 2 - index,
          lastResort: true,
        });
      }
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(await store.claimKeyPackages(handle), {
          ok: true,
          packages: [{ deviceId: device, id: lastResort.id, data: lastResort.data, lastResort: true }],
        });
      }
    });

    test('a re-uploaded last resort replaces the old one; one-time ids already seen are not added again', async (t) => {
      const { store, handle } = await registered(t);
      const device = tag();
      const first = upload();
      const claimed = upload();
      await store.publishKeyPackages({
        handleHash: handle,
        deviceId: device,
        oneTime: [claimed],
        lastResort: first,
      });
      await store.claimKeyPackages(handle);

      const second = upload();
      const fresh = upload();
      assert.deepEqual(
        await store.publishKeyPackages({
          handleHash: handle,
          deviceId: device,
          oneTime: [claimed, fresh, fresh],
          lastResort: second,
        }),
        { ok: true, added: 1 },
      );
      const claims = [await store.claimKeyPackages(handle), await store.claimKeyPackages(handle)];
      assert.deepEqual(
        claims.map((claim) => claim.ok && claim.packages.map((p) => [p.id, p.lastResort])),
        [[[fresh.id, false]], [[second.id, true]]],
      );
    });

    test('claims one KeyPackage per device of the handle', async (t) => {
      const { store, handle } = await registered(t);
      const [phone, laptop] = [new Uint8Array([1]), new Uint8Array([2])];
      const phonePackage = upload();
      const laptopResort = upload();
      await store.publishKeyPackages({ handleHash: handle, deviceId: phone, oneTime: [phonePackage] });
      await store.publishKeyPackages({
        handleHash: handle,
        deviceId: laptop,
        oneTime: [],
        lastResort: laptopResort,
      });
      assert.deepEqual(await store.claimKeyPackages(handle), {
        ok: true,
        packages: [
          { deviceId: phone, id: phonePackage.id, data: phonePackage.data, lastResort: false },
          { deviceId: laptop, id: laptopResort.id, data: laptopResort.data, lastResort: true },
        ],
      });
      assert.deepEqual(await store.claimKeyPackages(handle), {
        ok: true,
        packages: [{ deviceId: laptop, id: laptopResort.id, data: laptopResort.data, lastResort: true }],
      });
    });

    test('refuses unknown handles, oversized packages and a full device, storing nothing', async (t) => {
      const { store, handle } = await registered(t, { maxKeyPackagesPerDevice: 3, maxKeyPackageBytes: 500 });
      const device = tag();
      assert.deepEqual(
        await store.publishKeyPackages({ handleHash: key(), deviceId: device, oneTime: [upload()] }),
        {
          ok: false,
          error: 'not_found',
        },
      );
      assert.deepEqual(await store.claimKeyPackages(handle), { ok: false, error: 'not_found' });
      assert.deepEqual(
        await store.publishKeyPackages({
          handleHash: handle,
          deviceId: device,
          oneTime: [upload(), upload(501)],
        }),
        { ok: false, error: 'too_large', maxBytes: 500 },
      );
      await store.publishKeyPackages({ handleHash: handle, deviceId: device, oneTime: [upload(), upload()] });
      assert.deepEqual(
        await store.publishKeyPackages({
          handleHash: handle,
          deviceId: device,
          oneTime: [upload(), upload()],
          lastResort: upload(),
        }),
        { ok: false, error: 'quota_exceeded', limit: 'key_packages' },
      );
      assert.deepEqual(await store.countKeyPackages(handle, device), { oneTime: 2, lastResort: false });
    });

    test('caps the KeyPackage bytes of one handle over all its devices; claims free them', async (t) => {
      const { store, handle } = await registered(t, { maxKeyPackageBytesPerIdentity: 1000 });
      const devices = [tag(), tag(), tag()];
      for (const deviceId of devices.slice(0, 2)) {
        assert.deepEqual(
          await store.publishKeyPackages({ handleHash: handle, deviceId, oneTime: [upload(300)] }),
          { ok: true, added: 1 },
        );
      }
      assert.deepEqual(
        await store.publishKeyPackages({
          handleHash: handle,
          deviceId: devices[2] ?? assert.fail(),
          oneTime: [],
          lastResort: upload(401),
        }),
        { ok: false, error: 'quota_exceeded', limit: 'key_packages' },
      );
      const resort = upload(400);
      assert.deepEqual(
        await store.publishKeyPackages({
          handleHash: handle,
          deviceId: devices[2] ?? assert.fail(),
          oneTime: [],
          lastResort: resort,
        }),
        { ok: true, added: 0 },
      );
      // Replacing a last resort counts the new one instead of the old.
      assert.deepEqual(
        await store.publishKeyPackages({
          handleHash: handle,
          deviceId: devices[2] ?? assert.fail(),
          oneTime: [],
          lastResort: upload(400),
        }),
        { ok: true, added: 0 },
      );
      await store.claimKeyPackages(handle);
      assert.deepEqual(
        await store.publishKeyPackages({
          handleHash: handle,
          deviceId: devices[0] ?? assert.fail(),
          oneTime: [upload(300), upload(300)],
        }),
        { ok: true, added: 2 },
      );
    });

    test('forgets claimed ids only after the TTL', async (t) => {
      const { store, clock, handle } = await registered(t, { ttlMs: HOUR });
      const device = tag();
      const once = upload();
      await store.publishKeyPackages({ handleHash: handle, deviceId: device, oneTime: [once] });
      await store.claimKeyPackages(handle);
      clock.now += HOUR - 1;
      assert.equal((await store.purgeExpired()).keyPackages, 0);
      clock.now += 1;
      assert.equal((await store.purgeExpired()).keyPackages, 1);
      assert.deepEqual(
        await store.publishKeyPackages({ handleHash: handle, deviceId: device, oneTime: [once] }),
        {
          ok: true,
          added: 1,
        },
      );
    });
  });

  describe(`${target.name}: group logs`, () => {
    test('numbers posts from 1 and returns them from a cursor, in order, with what was posted', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock, limits: { ttlMs: HOUR } });
      const routingId = key();
      const posts = [application(), application(10), application(300)];
      for (const [index, post] of posts.entries()) {
        clock.now += 1;
        assert.deepEqual(await store.postToLog(routingId, post), {
          ok: true,
          status: 'stored',
          seq: index + 1,
        });
      }
      const page = await store.fetchLog(routingId, 0, 10);
      assert.equal(page.winningSeq, null);
      assert.deepEqual(
        page.entries,
        posts.map((post, index) => ({
          seq: index + 1,
          kind: 'application',
          messageId: post.messageId,
          commitMessageId: null,
          blob: post.blob,
          bucket: post.bucket,
          postedAt: T0 + index + 1,
          expiresAt: T0 + index + 1 + HOUR,
        })),
      );
      assert.deepEqual(
        (await store.fetchLog(routingId, 1, 1)).entries.map((entry) => entry.seq),
        [2],
      );
      assert.deepEqual(await store.fetchLog(key(), 0, 10), { entries: [], winningSeq: null });
    });

    test('the first commit closes the routing ID: later posts of any kind are stale_epoch', async (t) => {
      const store = await open(t);
      const routingId = key();
      await store.postToLog(routingId, application());
      const winner = commit();
      assert.deepEqual(await store.postToLog(routingId, winner), { ok: true, status: 'stored', seq: 2 });
      const stale = { ok: false, error: 'stale_epoch', winningSeq: 2 };
      assert.deepEqual(await store.postToLog(routingId, commit()), stale);
      assert.deepEqual(await store.postToLog(routingId, application()), stale);
      assert.deepEqual(await store.postToLog(routingId, welcome(tag())), stale);
      const page = await store.fetchLog(routingId, 0, 10);
      assert.equal(page.winningSeq, 2);
      assert.deepEqual(
        page.entries.map((entry) => entry.kind),
        ['application', 'commit'],
      );
      assert.deepEqual(await store.postToLog(key(), application()), { ok: true, status: 'stored', seq: 1 });
    });

    test('a retried post is stored once and answers with its first sequence number, even after closing', async (t) => {
      const store = await open(t);
      const routingId = key();
      const first = application();
      const winner = commit();
      await store.postToLog(routingId, first);
      await store.postToLog(routingId, winner);
      assert.deepEqual(await store.postToLog(routingId, { ...first, blob: randomBytes(5) }), {
        ok: true,
        status: 'duplicate',
        seq: 1,
      });
      assert.deepEqual(await store.postToLog(routingId, winner), { ok: true, status: 'duplicate', seq: 2 });
      assert.equal((await store.fetchLog(routingId, 0, 10)).entries.length, 2);
    });

    test('a Welcome is held until its commit wins, then released right after it', async (t) => {
      const store = await open(t);
      const routingId = key();
      const winner = commit();
      const loser = commit();
      const early = welcome(winner.messageId);
      const doomed = welcome(loser.messageId);
      await store.postToLog(routingId, application());
      assert.deepEqual(await store.postToLog(routingId, early), { ok: true, status: 'held' });
      assert.deepEqual(await store.postToLog(routingId, early), { ok: true, status: 'held' });
      assert.deepEqual(await store.postToLog(routingId, doomed), { ok: true, status: 'held' });
      assert.deepEqual(
        (await store.fetchLog(routingId, 0, 10)).entries.map((entry) => entry.kind),
        ['application'],
      );

      assert.deepEqual(await store.postToLog(routingId, winner), { ok: true, status: 'stored', seq: 2 });
      assert.deepEqual(await store.postToLog(routingId, loser), {
        ok: false,
        error: 'stale_epoch',
        winningSeq: 2,
      });
      const late = welcome(winner.messageId);
      assert.deepEqual(await store.postToLog(routingId, late), { ok: true, status: 'stored', seq: 4 });
      assert.deepEqual(await store.postToLog(routingId, early), { ok: true, status: 'duplicate', seq: 3 });
      assert.deepEqual(await store.postToLog(routingId, doomed), {
        ok: false,
        error: 'stale_epoch',
        winningSeq: 2,
      });

      const entries = (await store.fetchLog(routingId, 1, 10)).entries;
      assert.deepEqual(
        entries.map((entry) => [entry.seq, entry.kind, entry.messageId, entry.commitMessageId]),
        [
          [2, 'commit', winner.messageId, null],
          [3, 'welcome', early.messageId, winner.messageId],
          [4, 'welcome', late.messageId, winner.messageId],
        ],
      );
    });

    test('refuses malformed posts with ArgumentError', async (t) => {
      const store = await open(t);
      await assert.rejects(store.postToLog(randomBytes(16), application()), ArgumentError);
      await assert.rejects(
        store.postToLog(key(), { ...application(), messageId: new Uint8Array(0) }),
        ArgumentError,
      );
      await assert.rejects(store.postToLog(key(), { ...application(), bucket: -1 }), ArgumentError);
      const kindless = {
        kind: 'welcome',
        messageId: tag(),
        blob: randomBytes(4),
        bucket: 0,
      } as unknown as LogPost;
      await assert.rejects(store.postToLog(key(), kindless), ArgumentError);
      await assert.rejects(store.fetchLog(key(), -1, 10), ArgumentError);
      await assert.rejects(store.fetchLog(key(), 0, 0), ArgumentError);
    });
  });

  describe(`${target.name}: mailboxes`, () => {
    test('posts, fetches from a cursor and deletes acknowledged items, freeing their quota', async (t) => {
      const store = await open(t, { limits: { maxItemsPerStream: 3 } });
      const mailbox = key();
      const items = [0, 1, 2].map(() => ({ messageId: tag(), blob: randomBytes(30), bucket: 0 }));
      for (const item of items) await store.postToMailbox(mailbox, item);
      assert.deepEqual(await store.postToMailbox(mailbox, items[1] ?? assert.fail()), {
        ok: true,
        status: 'duplicate',
        seq: 2,
      });
      assert.deepEqual(
        await store.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(1), bucket: 0 }),
        {
          ok: false,
          error: 'quota_exceeded',
          limit: 'messages',
        },
      );
      assert.deepEqual(
        (await store.fetchMailbox(mailbox, 1, 10)).map((item) => [item.seq, item.messageId, item.blob]),
        items.slice(1).map((item, index) => [index + 2, item.messageId, item.blob]),
      );

      const acknowledged = items.slice(0, 2).map((item) => item.messageId);
      assert.equal(await store.deleteFromMailbox(mailbox, [...acknowledged, tag()]), 2);
      assert.equal(await store.deleteFromMailbox(mailbox, acknowledged), 0);
      assert.deepEqual(
        await store.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(1), bucket: 0 }),
        {
          ok: true,
          status: 'stored',
          seq: 4,
        },
      );
      assert.deepEqual(
        (await store.fetchMailbox(mailbox, 0, 10)).map((item) => item.seq),
        [3, 4],
      );
    });
  });

  describe(`${target.name}: limits`, () => {
    test('items expire after the TTL: reads skip them, quotas ignore them, purgeExpired deletes them', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock, limits: { ttlMs: HOUR, maxItemsPerStream: 2 } });
      const [routingId, mailbox] = [key(), key()];
      const first = application();
      await store.postToLog(routingId, first);
      await store.postToLog(routingId, application());
      await store.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(8), bucket: 0 });

      clock.now = T0 + HOUR - 1;
      assert.equal((await store.fetchLog(routingId, 0, 10)).entries.length, 2);
      assert.equal((await store.fetchMailbox(mailbox, 0, 10)).length, 1);
      assert.deepEqual(await store.purgeExpired(), { items: 0, keyPackages: 0, streams: 0, tokens: 0 });

      clock.now = T0 + HOUR;
      assert.deepEqual(await store.fetchLog(routingId, 0, 10), { entries: [], winningSeq: null });
      assert.deepEqual(await store.fetchMailbox(mailbox, 0, 10), []);
      // An expired message ID is free again: this is a new post, not a retry.
      assert.deepEqual(await store.postToLog(routingId, first), { ok: true, status: 'stored', seq: 3 });
      assert.deepEqual(await store.purgeExpired(), { items: 2, keyPackages: 0, streams: 0, tokens: 0 });
      assert.deepEqual(
        (await store.fetchLog(routingId, 0, 10)).entries.map((entry) => entry.seq),
        [3],
      );
    });

    test('a closed routing ID stays closed after its items expire, until its state retention ends', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock, limits: { ttlMs: HOUR, stateRetentionMs: 10 * HOUR } });
      const routingId = key();
      await store.postToLog(routingId, commit());
      clock.now = T0 + 2 * HOUR;
      assert.deepEqual(await store.purgeExpired(), { items: 1, keyPackages: 0, streams: 0, tokens: 0 });
      assert.deepEqual(await store.postToLog(routingId, commit()), {
        ok: false,
        error: 'stale_epoch',
        winningSeq: 1,
      });
      assert.deepEqual(await store.fetchLog(routingId, 0, 10), { entries: [], winningSeq: 1 });

      // The refused post above counts as activity: retention runs from then.
      assert.deepEqual(await store.purgeExpired(T0 + 12 * HOUR - 1), {
        items: 0,
        keyPackages: 0,
        streams: 0,
        tokens: 0,
      });
      assert.deepEqual(await store.purgeExpired(T0 + 12 * HOUR), {
        items: 0,
        keyPackages: 0,
        streams: 1,
        tokens: 0,
      });
      assert.deepEqual(await store.fetchLog(routingId, 0, 10), { entries: [], winningSeq: null });
    });

    test('enforces the message and byte quotas per routing ID and per mailbox', async (t) => {
      const store = await open(t, { limits: { maxItemsPerStream: 3, maxBytesPerStream: 100 } });
      const routingId = key();
      await store.postToLog(routingId, application(60));
      assert.deepEqual(await store.postToLog(routingId, application(41)), {
        ok: false,
        error: 'quota_exceeded',
        limit: 'bytes',
      });
      assert.deepEqual(await store.postToLog(routingId, application(101)), {
        ok: false,
        error: 'too_large',
        maxBytes: 100,
      });
      await store.postToLog(routingId, application(20));
      assert.deepEqual(await store.postToLog(routingId, welcome(tag(), 10)), { ok: true, status: 'held' });
      assert.deepEqual(await store.postToLog(routingId, commit(1)), {
        ok: false,
        error: 'quota_exceeded',
        limit: 'messages',
      });

      const mailbox = key();
      assert.deepEqual(
        await store.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(101), bucket: 0 }),
        {
          ok: false,
          error: 'too_large',
          maxBytes: 100,
        },
      );
      await store.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(100), bucket: 0 });
      assert.deepEqual(
        await store.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(1), bucket: 0 }),
        {
          ok: false,
          error: 'quota_exceeded',
          limit: 'bytes',
        },
      );
    });
  });

  describe(`${target.name}: per-stream counters`, () => {
    const messagesFull = { ok: false, error: 'quota_exceeded', limit: 'messages' };
    const mailboxPost = () => ({ messageId: tag(), blob: randomBytes(8), bucket: 0 });

    test('items that expire, are deleted or are dropped Welcomes stop counting toward the quota', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock, limits: { ttlMs: HOUR, maxItemsPerStream: 2 } });
      const mailbox = key();
      const first = mailboxPost();
      await store.postToMailbox(mailbox, first);
      clock.now = T0 + HOUR / 2;
      await store.postToMailbox(mailbox, mailboxPost());
      assert.deepEqual(await store.postToMailbox(mailbox, mailboxPost()), messagesFull);
      clock.now = T0 + HOUR;
      assert.deepEqual(await store.postToMailbox(mailbox, mailboxPost()), {
        ok: true,
        status: 'stored',
        seq: 3,
      });
      assert.deepEqual(await store.postToMailbox(mailbox, mailboxPost()), messagesFull);
      // Deleting the expired first item (gone already) frees nothing; deleting a live one frees one place.
      assert.equal(await store.deleteFromMailbox(mailbox, [first.messageId]), 0);
      assert.deepEqual(await store.postToMailbox(mailbox, mailboxPost()), messagesFull);
      const [live] = await store.fetchMailbox(mailbox, 0, 1);
      assert.equal(await store.deleteFromMailbox(mailbox, [(live as MailboxItem).messageId]), 1);
      assert.deepEqual(await store.postToMailbox(mailbox, mailboxPost()), {
        ok: true,
        status: 'stored',
        seq: 4,
      });
      assert.deepEqual(await store.postToMailbox(mailbox, mailboxPost()), messagesFull);

      const routingId = key();
      assert.deepEqual(await store.postToLog(routingId, welcome(tag(), 10)), { ok: true, status: 'held' });
      assert.deepEqual(await store.postToLog(routingId, commit()), { ok: true, status: 'stored', seq: 1 });
      const winner = await store.fetchLog(routingId, 0, 1);
      const winnerId = (winner.entries[0] as LogEntry).messageId;
      const next = welcome(winnerId, 10);
      assert.deepEqual(await store.postToLog(routingId, next), { ok: true, status: 'stored', seq: 2 });
      assert.deepEqual(await store.postToLog(routingId, welcome(winnerId, 10)), messagesFull);
      assert.deepEqual(await store.postToLog(routingId, next), { ok: true, status: 'duplicate', seq: 2 });
    });

    test('a database from before the counters counts the items its streams already hold', async (t) => {
      const location = target.freshLocation();
      const limits = { maxItemsPerStream: 2, maxBytesPerStream: 100 };
      const before = await open(t, { location, limits });
      const [full, large] = [key(), key()];
      await before.postToMailbox(full, mailboxPost());
      await before.postToMailbox(full, mailboxPost());
      await before.postToLog(large, application(90));
      await before.close();
      // Start again from the same items, as if version 5 had been applied to them now.
      const driver = await target.openDriver(location, T0, target.migrations);
      await driver.write(async (tx) => {
        await tx.execute("DELETE FROM schema_migrations WHERE name = 'per-stream item and byte counters'");
        await tx.execute('ALTER TABLE streams DROP COLUMN item_count');
        await tx.execute('ALTER TABLE streams DROP COLUMN item_bytes');
      });
      await driver.close();
      const store = await open(t, { location, limits });
      assert.deepEqual(await store.postToMailbox(full, mailboxPost()), messagesFull);
      assert.deepEqual(await store.postToLog(large, application(11)), {
        ok: false,
        error: 'quota_exceeded',
        limit: 'bytes',
      });
      assert.deepEqual(await store.postToLog(large, application(10)), { ok: true, status: 'stored', seq: 2 });
    });
  });

  describe(`${target.name}: store-wide quota`, () => {
    const mailboxPost = (size: number) => ({ messageId: tag(), blob: randomBytes(size), bucket: 0 });
    const storageFull = { ok: false, error: 'quota_exceeded', limit: 'storage' };

    test('refuses a post to any stream once the store holds maxTotalBytes; deletes free them', async (t) => {
      const store = await open(t, { limits: { maxTotalBytes: 1000 } });
      const [routingId, mailbox, other] = [key(), key(), key()];
      assert.deepEqual(await store.postToLog(routingId, application(400)), {
        ok: true,
        status: 'stored',
        seq: 1,
      });
      const first = mailboxPost(400);
      assert.deepEqual(await store.postToMailbox(mailbox, first), { ok: true, status: 'stored', seq: 1 });
      assert.deepEqual(await store.postToMailbox(other, mailboxPost(201)), storageFull);
      assert.deepEqual(await store.postToLog(key(), application(201)), storageFull);
      assert.deepEqual(await store.postToLog(routingId, welcome(tag(), 201)), storageFull);
      // A refused post stored nothing: its stream stays empty, and exactly the rest still fits.
      assert.deepEqual(await store.fetchMailbox(other, 0, 10), []);
      assert.deepEqual(await store.postToMailbox(other, mailboxPost(200)), {
        ok: true,
        status: 'stored',
        seq: 1,
      });
      assert.deepEqual(await store.postToMailbox(other, mailboxPost(1)), storageFull);

      assert.equal(await store.deleteFromMailbox(mailbox, [first.messageId]), 1);
      assert.deepEqual(await store.postToMailbox(other, mailboxPost(400)), {
        ok: true,
        status: 'stored',
        seq: 2,
      });
      assert.deepEqual(await store.postToMailbox(other, mailboxPost(1)), storageFull);
    });

    test('expired items, replaced expired posts and dropped Welcomes free their bytes', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock, limits: { ttlMs: HOUR, maxTotalBytes: 1000 } });
      const routingId = key();
      const old = application(600);
      await store.postToLog(routingId, old);
      clock.now = T0 + HOUR;
      // The expired item still takes its bytes until it goes: its message ID coming back replaces it...
      assert.deepEqual(await store.postToLog(routingId, { ...old, blob: randomBytes(700) }), {
        ok: true,
        status: 'stored',
        seq: 2,
      });
      assert.deepEqual(await store.postToMailbox(key(), mailboxPost(301)), storageFull);
      // ...and the purge deletes it.
      clock.now = T0 + 2 * HOUR;
      assert.deepEqual(await store.purgeExpired(), { items: 1, keyPackages: 0, streams: 0, tokens: 0 });
      const other = key();
      const losing = welcome(tag(), 500);
      assert.deepEqual(await store.postToLog(other, losing), { ok: true, status: 'held' });
      assert.deepEqual(await store.postToMailbox(key(), mailboxPost(501)), storageFull);
      const filler = await store.postToMailbox(key(), mailboxPost(450));
      assert.deepEqual(filler, { ok: true, status: 'stored', seq: 1 });
      // The Welcome of a commit that lost is dropped when another commit wins, and frees its bytes: with
      // 950 held, the commit fits only because of what it drops.
      assert.deepEqual(await store.postToLog(other, commit(100)), { ok: true, status: 'stored', seq: 1 });
      assert.deepEqual(await store.postToMailbox(key(), mailboxPost(450)), {
        ok: true,
        status: 'stored',
        seq: 1,
      });
      assert.deepEqual(await store.postToMailbox(key(), mailboxPost(1)), storageFull);
    });

    test('a database from before the running total counts the blobs it already holds', async (t) => {
      const location = target.freshLocation();
      const before = await open(t, { location, limits: { maxTotalBytes: 1000 } });
      await before.postToMailbox(key(), mailboxPost(600));
      await before.close();
      // Start again from the same items, as if version 4 had been applied to them now.
      const driver = await target.openDriver(location, T0, target.migrations);
      await driver.write(async (tx) => {
        await tx.execute("DELETE FROM schema_migrations WHERE name = 'running total of stored blob bytes'");
        await tx.execute('DROP TABLE store_usage');
      });
      await driver.close();
      const store = await open(t, { location, limits: { maxTotalBytes: 1000 } });
      assert.deepEqual(await store.postToMailbox(key(), mailboxPost(401)), storageFull);
      assert.deepEqual(await store.postToMailbox(key(), mailboxPost(400)), {
        ok: true,
        status: 'stored',
        seq: 1,
      });
    });
  });

  describe(`${target.name}: anonymous tokens and replay`, () => {
    test('spendOnce: the first spend wins, later ones lose, a spend with the recorded binding wins again', async (t) => {
      const store = await open(t);
      const id = randomBytes(64);
      const binding = randomBytes(32);
      assert.equal(await store.spendOnce('token', id, T0 + HOUR, binding), true);
      assert.equal(await store.spendOnce('token', id, T0 + HOUR, binding), true, 'the same request again');
      assert.equal(await store.spendOnce('token', id, T0 + HOUR, randomBytes(32)), false, 'another request');
      assert.equal(await store.spendOnce('token', id, T0 + HOUR), false, 'unbound');
      // Kinds are separate namespaces; an unbound spend is never repeated.
      assert.equal(await store.spendOnce('nonce', id, T0 + HOUR), true);
      assert.equal(await store.spendOnce('nonce', id, T0 + HOUR), false);
      await assert.rejects(store.spendOnce('token', new Uint8Array(0), T0), ArgumentError);
      await assert.rejects(store.spendOnce('token', randomBytes(65), T0), ArgumentError);
    });

    test('a claim paid by a token: its retransmission gets the same KeyPackages, anything else is token_spent', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock });
      const handle = key();
      await store.registerIdentity(handle, randomBytes(32), randomBytes(32));
      const deviceId = tag();
      const oneTime = [
        { id: tag(), data: randomBytes(40) },
        { id: tag(), data: randomBytes(40) },
      ];
      await store.publishKeyPackages({ handleHash: handle, deviceId, oneTime });
      const spend = { id: randomBytes(64), expiresAt: T0 + 24 * HOUR, binding: randomBytes(32) };
      const first = await store.claimKeyPackages(handle, spend);
      assert.deepEqual(first, {
        ok: true,
        packages: [{ deviceId, id: oneTime[0]?.id, data: oneTime[0]?.data, lastResort: false }],
      });
      assert.deepEqual(await store.claimKeyPackages(handle, spend), first, 'a retransmission');
      assert.equal((await store.countKeyPackages(handle, deviceId)).oneTime, 1, 'one claimed, not two');
      assert.deepEqual(await store.claimKeyPackages(handle, { ...spend, binding: randomBytes(32) }), {
        ok: false,
        error: 'token_spent',
      });
      assert.equal(await store.spendOnce('token', spend.id, spend.expiresAt), false, 'one namespace');
      // The receipt is dropped after its retention; the spend itself is kept until it expires.
      clock.now = T0 + CLAIM_RECEIPT_RETENTION_MS;
      await store.purgeExpired();
      assert.deepEqual(await store.claimKeyPackages(handle, spend), { ok: false, error: 'token_spent' });
      assert.equal((await store.countKeyPackages(handle, deviceId)).oneTime, 1);
    });

    test('a mailbox post paid by a token: its retransmission is a duplicate, another post with it is refused', async (t) => {
      const store = await open(t);
      const mailbox = key();
      const post = { messageId: tag(), blob: randomBytes(8), bucket: 8 };
      const spend = { id: randomBytes(64), expiresAt: T0 + HOUR, binding: randomBytes(32) };
      assert.deepEqual(await store.postToMailbox(mailbox, post, spend), {
        ok: true,
        status: 'stored',
        seq: 1,
      });
      assert.deepEqual(await store.postToMailbox(mailbox, post, spend), {
        ok: true,
        status: 'duplicate',
        seq: 1,
      });
      const other = { messageId: tag(), blob: randomBytes(8), bucket: 8 };
      assert.deepEqual(await store.postToMailbox(mailbox, other, { ...spend, binding: randomBytes(32) }), {
        ok: false,
        error: 'token_spent',
      });
      assert.equal((await store.fetchMailbox(mailbox, 0, 10)).length, 1, 'the refused post was not stored');
    });

    test('spent records last until they expire, then purgeExpired deletes them', async (t) => {
      const clock = new ManualClock();
      const store = await open(t, { clock });
      const id = randomBytes(16);
      assert.equal(await store.spendOnce('nonce', id, T0 + HOUR), true);
      assert.equal((await store.purgeExpired(T0 + HOUR - 1)).tokens, 0);
      assert.equal(await store.spendOnce('nonce', id, T0 + HOUR), false);
      assert.equal((await store.purgeExpired(T0 + HOUR)).tokens, 1);
    });

    test('one issuer key per slot; keys are listed newest first while accepted, then purged', async (t) => {
      const store = await open(t);
      const record = (slot: number, acceptUntil: number): IssuerKeyRecord => ({
        slot,
        tokenKey: randomBytes(300),
        sealedPrivateKey: randomBytes(1200),
        notBefore: slot * HOUR,
        acceptUntil,
      });
      const first = record(1, T0 + HOUR);
      assert.deepEqual(await store.addIssuerKey(first), first);
      assert.deepEqual(await store.addIssuerKey(record(1, T0 + 2 * HOUR)), first, 'the slot keeps its key');
      const second = record(2, T0 + 2 * HOUR);
      await store.addIssuerKey(second);
      assert.deepEqual(await store.issuerKeys(T0), [second, first]);
      assert.deepEqual(await store.issuerKeys(T0 + HOUR), [second]);
      assert.equal((await store.purgeExpired(T0 + HOUR)).tokens, 1);
      assert.deepEqual(await store.issuerKeys(T0), [second]);
    });

    test('token budgets: granted up to the daily budget per handle and day, then purged after the day', async (t) => {
      const store = await open(t);
      const [alice, bob] = [key(), key()];
      const day = Math.floor(T0 / (24 * HOUR));
      assert.equal(await store.takeTokenBudget(alice, day, 7, 10), 7);
      assert.equal(await store.takeTokenBudget(alice, day, 7, 10), 3);
      assert.equal(await store.takeTokenBudget(alice, day, 1, 10), 0);
      assert.equal(await store.takeTokenBudget(bob, day, 10, 10), 10, 'budgets are per handle');
      assert.equal(await store.takeTokenBudget(alice, day + 1, 4, 10), 4, 'and per day');
      assert.equal((await store.purgeExpired((day + 1) * 24 * HOUR)).tokens, 2);
      assert.equal(await store.takeTokenBudget(alice, day + 1, 10, 10), 6);
    });
  });

  describe(`${target.name}: change events`, () => {
    test('reports each readable post once, in commit order, to subscribers of another instance', async (t) => {
      const location = target.freshLocation();
      const poster = await open(t, { location });
      const watcher = await open(t, { location });
      const events = await recordEvents(watcher);
      const [routingId, mailbox] = [key(), key()];
      const first = application();
      const winner = commit();

      await poster.postToLog(routingId, first);
      await poster.postToLog(routingId, first);
      await poster.postToLog(routingId, welcome(winner.messageId));
      await poster.postToLog(routingId, winner);
      await poster.postToLog(routingId, application());
      await poster.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(8), bucket: 0 });

      assert.deepEqual(await events.next(), { type: 'log', routingId, seq: 1, kind: 'application' });
      assert.deepEqual(await events.next(), { type: 'log', routingId, seq: 2, kind: 'commit' });
      assert.deepEqual(await events.next(), { type: 'log', routingId, seq: 3, kind: 'welcome' });
      assert.deepEqual(await events.next(), { type: 'mailbox', mailboxId: mailbox, seq: 1 });

      await events.unsubscribe();
      const again = await recordEvents(watcher);
      await poster.postToMailbox(mailbox, { messageId: tag(), blob: randomBytes(8), bucket: 0 });
      assert.deepEqual(await again.next(), { type: 'mailbox', mailboxId: mailbox, seq: 2 });
      await again.unsubscribe();
    });
  });

  describe(`${target.name}: schema and lifecycle`, () => {
    test('upgrades a database left at schema version 1, keeping its data', async (t) => {
      const location = target.freshLocation();
      const handle = key();
      const identityKey = randomBytes(32);
      const old = await target.openDriver(location, T0, target.migrations.slice(0, 1));
      await old.write((tx) =>
        tx.execute(
          'INSERT INTO identities (handle_hash, identity_key, registration, registered_at) VALUES ($1, $2, $3, $4)',
          [handle, identityKey, identityKey, T0],
        ),
      );
      await old.close();

      const store = await open(t, { location });
      assert.deepEqual(await store.getIdentity(handle), {
        identityKey,
        registration: identityKey,
        registeredAt: T0,
      });
      assert.deepEqual(await store.postToLog(key(), application()), { ok: true, status: 'stored', seq: 1 });
    });

    test('records each migration once: opening again changes nothing', async (t) => {
      const location = target.freshLocation();
      await (await open(t, { location })).close();
      const clock = new ManualClock();
      clock.now = T0 + HOUR;
      await (await open(t, { location, clock })).close();
      const driver = await target.openDriver(location, T0 + 2 * HOUR, target.migrations);
      t.after(() => driver.close());
      const rows = await driver.read((session) =>
        session.query('SELECT version, applied_at FROM schema_migrations ORDER BY version'),
      );
      assert.deepEqual(
        rows.map((row) => [row.version, row.applied_at]),
        target.migrations.map((migration) => [migration.version, T0]),
      );
    });

    test('refuses a database migrated by a newer build', async () => {
      const location = target.freshLocation();
      const driver = await target.openDriver(location, T0, target.migrations);
      await driver.write((tx) =>
        tx.execute('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          Math.max(...target.migrations.map((migration) => migration.version)) + 1,
          'from the future',
          T0,
        ]),
      );
      await driver.close();
      await assert.rejects(
        openStore(location),
        (error) => error instanceof DeliveryError && error.reason === 'unsupported_schema',
      );
    });

    test('a closed store refuses every call with DeliveryError(closed)', async (t) => {
      const store = await open(t);
      await store.close();
      await store.close();
      const closed = (error: unknown) => error instanceof DeliveryError && error.reason === 'closed';
      await assert.rejects(store.postToLog(key(), application()), closed);
      await assert.rejects(store.fetchMailbox(key(), 0, 1), closed);
      await assert.rejects(
        store.subscribe(() => undefined),
        closed,
      );
    });
  });

  describe(`${target.name}: posts that arrive together`, () => {
    test('each gets its own sequence number, duplicate answer or quota refusal', async (t) => {
      const store = await open(t, { limits: { maxItemsPerStream: 5 } });
      const [busy, quiet] = [key(), key()];
      const twice = application();
      const results = await Promise.all([
        ...Array.from({ length: 7 }, () => store.postToLog(busy, application())),
        store.postToLog(quiet, twice),
        store.postToLog(quiet, twice),
        store.postToLog(quiet, application()),
      ]);
      const onBusy = results.slice(0, 7);
      const stored = onBusy.filter((result) => result.ok && result.status === 'stored');
      assert.deepEqual(
        stored.map((result) => (result.ok && 'seq' in result ? result.seq : 0)).sort(),
        [1, 2, 3, 4, 5],
      );
      assert.deepEqual(
        onBusy.filter((result) => !result.ok),
        [1, 2].map(() => ({ ok: false, error: 'quota_exceeded', limit: 'messages' })),
      );
      // The same post twice at once: stored once, and both answers name its one sequence number.
      const [first, second, other] = results.slice(7) as [LogPostResult, LogPostResult, LogPostResult];
      assert.ok(first.ok && second.ok && other.ok && 'seq' in first && 'seq' in second && 'seq' in other);
      assert.equal(first.seq, second.seq);
      assert.deepEqual([first.status, second.status].sort(), ['duplicate', 'stored']);
      assert.deepEqual([first.seq, other.seq].sort(), [1, 2]);
      assert.equal((await store.fetchLog(quiet, 0, 10)).entries.length, 2);
    });

    test('a post the store-wide quota refuses leaves the posts beside it stored', async (t) => {
      const store = await open(t, { limits: { maxTotalBytes: 1000 } });
      const sizes = [600, 300, 300];
      const mailboxes = sizes.map(() => key());
      const results = await Promise.all(
        sizes.map((size, index) =>
          store.postToMailbox(mailboxes[index] as Uint8Array, {
            messageId: tag(),
            blob: randomBytes(size),
            bucket: 0,
          }),
        ),
      );
      // Whatever order they are taken in, two fit and the third does not.
      const refused = results.filter((result) => !result.ok);
      assert.deepEqual(refused, [{ ok: false, error: 'quota_exceeded', limit: 'storage' }]);
      const held = await Promise.all(mailboxes.map((mailbox) => store.fetchMailbox(mailbox, 0, 10)));
      assert.deepEqual(
        held.map((items) => items.length),
        results.map((result) => (result.ok ? 1 : 0)),
      );
    });

    test('a process killed in the middle of its posts loses none it had answered', async (t) => {
      const location = target.freshLocation();
      await (await open(t, { location })).close();
      const routingId = key();
      const child = spawn(
        process.execPath,
        [new URL('./crash-child.ts', import.meta.url).pathname, JSON.stringify(location), toHex(routingId)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = once(child, 'exit');
      const answered = new Map<string, number>();
      for await (const line of createInterface({ input: child.stdout })) {
        const { messageId, seq } = JSON.parse(line) as { messageId: string; seq: number };
        answered.set(messageId, seq);
        if (answered.size === 200) child.kill('SIGKILL');
      }
      await exited;
      assert.ok(answered.size >= 200);
      const store = await open(t, { location });
      const kept = new Map<string, number>();
      for (let after = 0; ; ) {
        const { entries } = await store.fetchLog(routingId, after, 500);
        if (entries.length === 0) break;
        for (const entry of entries) kept.set(toHex(entry.messageId), entry.seq);
        after = (entries.at(-1) as LogEntry).seq;
      }
      for (const [messageId, seq] of answered) assert.equal(kept.get(messageId), seq);
    });
  });

  describe(`${target.name}: races between ${RACERS} store instances`, () => {
    let racers: Racers;
    before(() => {
      racers = new Racers(RACERS);
    });
    after(() => racers.stop());

    test('exactly one of the racing commits wins; everything else is numbered before it or refused', async () => {
      const location = target.freshLocation();
      const routingId = key();
      const postsPerRacer = Array.from({ length: RACERS }, () => [
        application(),
        application(),
        commit(),
        application(),
      ]);
      const results = (await racers.race(
        location,
        {},
        postsPerRacer.map((posts) => ({ type: 'postLog', routingId, posts })),
      )) as LogPostResult[][];

      const stored: { seq: number; post: LogPost }[] = [];
      const refused: number[] = [];
      results.forEach((racerResults, racer) => {
        racerResults.forEach((result, index) => {
          const post = postsPerRacer[racer]?.[index] ?? assert.fail();
          if (result.ok && result.status === 'stored') stored.push({ seq: result.seq, post });
          else if (!result.ok && result.error === 'stale_epoch') refused.push(result.winningSeq);
          else assert.fail(`unexpected ${JSON.stringify(result)}`);
        });
      });
      const commits = stored.filter(({ post }) => post.kind === 'commit');
      assert.equal(commits.length, 1, 'exactly one commit is accepted');
      const winningSeq = commits[0]?.seq ?? assert.fail();
      assert.deepEqual(
        stored.map(({ seq }) => seq).sort((a, b) => a - b),
        Array.from({ length: stored.length }, (_, i) => i + 1),
        'sequence numbers are 1..n without gaps or repeats',
      );
      assert.equal(winningSeq, stored.length, 'nothing is stored after the winning commit');
      assert.equal(stored.length + refused.length, RACERS * 4);
      assert.ok(refused.length >= RACERS - 1);
      assert.ok(refused.every((seq) => seq === winningSeq));

      const check = await openStore(location);
      try {
        const page = await check.fetchLog(routingId, 0, 1000);
        assert.equal(page.winningSeq, winningSeq);
        assert.deepEqual(
          page.entries.map((entry) => [entry.seq, entry.messageId]),
          stored.sort((a, b) => a.seq - b.seq).map(({ seq, post }) => [seq, post.messageId]),
        );
      } finally {
        await check.close();
      }
    });

    test('the same post retried by every racer is stored once', async () => {
      const location = target.freshLocation();
      const routingId = key();
      const post = commit();
      const results = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({ type: 'postLog', routingId, posts: [post] })),
      )) as LogPostResult[][];
      const statuses = results.map(([result]) =>
        result?.ok && result.status !== 'held' ? result : assert.fail(),
      );
      assert.deepEqual(
        statuses.filter((result) => result.status === 'stored'),
        [{ ok: true, status: 'stored', seq: 1 }],
      );
      assert.ok(statuses.every((result) => result.seq === 1));
    });

    test('racing claims hand out each one-time KeyPackage exactly once', async () => {
      const location = target.freshLocation();
      const handle = key();
      const oneTime = Array.from({ length: RACERS / 2 }, () => ({ id: tag(), data: randomBytes(64) }));
      const lastResort = { id: tag(), data: randomBytes(64) };
      const setup = await openStore(location);
      try {
        await setup.registerIdentity(handle, randomBytes(32), randomBytes(32));
        await setup.publishKeyPackages({ handleHash: handle, deviceId: tag(), oneTime, lastResort });
      } finally {
        await setup.close();
      }
      const results = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({ type: 'claim', handleHash: handle })),
      )) as ClaimResult[];
      const claimed = results.map((result) => (result.ok && result.packages[0]) || assert.fail());
      const handedOut = claimed.filter((p) => !p.lastResort).map((p) => toHex(p.id));
      assert.deepEqual(handedOut.sort(), oneTime.map((p) => toHex(p.id)).sort());
      assert.ok(claimed.filter((p) => p.lastResort).every((p) => toHex(p.id) === toHex(lastResort.id)));
    });

    test('racing posts never exceed a quota', async () => {
      const location = target.freshLocation();
      const [mailbox, routingId] = [key(), key()];
      const limits = { maxItemsPerStream: RACERS / 2, maxBytesPerStream: 1000 };
      const mailboxResults = (await racers.race(
        location,
        limits,
        Array.from({ length: RACERS }, () => ({
          type: 'postMailbox',
          mailboxId: mailbox,
          posts: [{ messageId: tag(), blob: randomBytes(10), bucket: 0 }],
        })),
      )) as MailboxPostResult[][];
      const logResults = (await racers.race(
        location,
        limits,
        Array.from({ length: RACERS }, () => ({ type: 'postLog', routingId, posts: [application(300)] })),
      )) as LogPostResult[][];

      const outcome = (results: (LogPostResult | MailboxPostResult)[][]) =>
        results.map(([result]) =>
          result?.ok ? 'stored' : result?.error === 'quota_exceeded' && result.limit,
        );
      assert.deepEqual(outcome(mailboxResults).sort(), [
        ...Array(RACERS / 2).fill('messages'),
        ...Array(RACERS / 2).fill('stored'),
      ]);
      assert.deepEqual(outcome(logResults).sort(), [
        ...Array(RACERS - 3).fill('bytes'),
        ...Array(3).fill('stored'),
      ]);

      const check = await openStore(location);
      try {
        assert.equal((await check.fetchMailbox(mailbox, 0, 1000)).length, RACERS / 2);
        assert.equal((await check.fetchLog(routingId, 0, 1000)).entries.length, 3);
      } finally {
        await check.close();
      }
    });

    test('racing posts to different streams never pass the store-wide quota', async () => {
      const location = target.freshLocation();
      const limits = { maxTotalBytes: 1000 };
      const results = (await racers.race(
        location,
        limits,
        Array.from({ length: RACERS }, () => ({
          type: 'postMailbox',
          mailboxId: key(),
          posts: [{ messageId: tag(), blob: randomBytes(100), bucket: 0 }],
        })),
      )) as MailboxPostResult[][];
      const outcomes = results.map(([result]) =>
        result?.ok ? 'stored' : result?.error === 'quota_exceeded' && result.limit,
      );
      assert.deepEqual(outcomes.sort(), [
        ...Array(RACERS / 2).fill('storage'),
        ...Array(RACERS / 2).fill('stored'),
      ]);
      // The running total agrees: not one more byte fits.
      const check = await openStore({ ...location, limits });
      try {
        const blob = { bucket: 0, blob: randomBytes(1) };
        assert.equal((await check.postToMailbox(key(), { ...blob, messageId: tag() })).ok, false);
      } finally {
        await check.close();
      }
    });

    test('racing spends of one token: exactly one wins; racing retries of one bound spend all win', async () => {
      const location = target.freshLocation();
      const id = randomBytes(64);
      const results = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({ type: 'spend', id, binding: randomBytes(32) })),
      )) as boolean[];
      assert.equal(results.filter(Boolean).length, 1);
      const binding = randomBytes(32);
      const retries = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({ type: 'spend', id: randomBytes(64).fill(1), binding })),
      )) as boolean[];
      assert.ok(retries.every(Boolean));
    });

    test('racing mailbox posts paid by one token: exactly one is stored', async () => {
      const location = target.freshLocation();
      const [mailbox, id] = [key(), randomBytes(64)];
      const results = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({
          type: 'postPaid',
          mailboxId: mailbox,
          post: { messageId: tag(), blob: randomBytes(8), bucket: 0 },
          id,
          binding: randomBytes(32),
        })),
      )) as MailboxPostResult[];
      assert.equal(results.filter((result) => result.ok).length, 1);
      const check = await openStore(location);
      try {
        assert.equal((await check.fetchMailbox(mailbox, 0, 100)).length, 1);
      } finally {
        await check.close();
      }
    });

    test('racing retransmissions of one paid claim consume one KeyPackage and all get it', async () => {
      const location = target.freshLocation();
      const handle = key();
      const oneTime = Array.from({ length: 3 }, () => ({ id: tag(), data: randomBytes(64) }));
      const setup = await openStore(location);
      try {
        await setup.registerIdentity(handle, randomBytes(32), randomBytes(32));
        await setup.publishKeyPackages({ handleHash: handle, deviceId: tag(), oneTime });
      } finally {
        await setup.close();
      }
      const [id, binding] = [randomBytes(64), randomBytes(32)];
      const results = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({ type: 'claimPaid', handleHash: handle, id, binding })),
      )) as ClaimResult[];
      const ids = results.map((result) =>
        result.ok ? toHex(result.packages[0]?.id ?? new Uint8Array()) : 'x',
      );
      assert.deepEqual(new Set(ids), new Set([toHex(oneTime[0]?.id ?? assert.fail())]));
    });

    test('racing issuances never exceed a budget, and racing first keys of a slot leave one key', async () => {
      const location = target.freshLocation();
      const handleHash = key();
      const granted = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({ type: 'budget', handleHash, wanted: 3, perDay: 25 })),
      )) as number[];
      assert.equal(
        granted.reduce((a, b) => a + b, 0),
        25,
      );
      const keys = (await racers.race(
        location,
        {},
        Array.from({ length: RACERS }, () => ({ type: 'issuerKey', slot: 7, tokenKey: randomBytes(300) })),
      )) as IssuerKeyRecord[];
      assert.equal(new Set(keys.map((k) => toHex(k.tokenKey))).size, 1);
    });

    test('racing registrations of one handle bind exactly one identity key', async () => {
      const location = target.freshLocation();
      const handle = key();
      const keys = Array.from({ length: RACERS }, () => randomBytes(32));
      const results = (await racers.race(
        location,
        {},
        keys.map((identityKey) => ({ type: 'register', handleHash: handle, identityKey })),
      )) as RegisterOutcome[];
      const winners = results.flatMap((result, i) => (result.ok ? [i] : []));
      assert.equal(winners.length, 1);
      assert.ok(results.every((result) => result.ok || result.error === 'handle_taken'));
      const check = await openStore(location);
      try {
        assert.deepEqual((await check.getIdentity(handle))?.identityKey, keys[winners[0] ?? assert.fail()]);
      } finally {
        await check.close();
      }
    });
  });
}
