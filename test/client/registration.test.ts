// Idempotent sign-up (issue #11, item 3) against `umbra delivery` as a real process on SQLite: the keys are in
// the vault before the first request, so a registration the service never answered — it was killed, or
// stopped so long that the client gave up while the request still waited to be served — finishes on a retry
// or when the vault is opened again, and the handle stays usable. Another identity still gets handle_taken.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '../../src/client/client.ts';
import { decodeRequest } from '../../src/protocol/messages.ts';
import { startDeliveryProcess, waitUp } from '../delivery/support.ts';
import {
  eventually,
  inbox,
  joined,
  openClient,
  removeTempDirs,
  type TestUser,
  tempDir,
  texts,
  user,
} from './support.ts';

after(removeTempDirs);

/** Process starts, key generation and MLS on a busy machine: generous, never asserted. */
const STEP_MS = 60_000;

describe('sign-up while the delivery service stops', () => {
  const dataDir = tempDir();
  let delivery: Awaited<ReturnType<typeof startDeliveryProcess>>;
  let bob: TestUser;

  /** `umbra delivery` on the same SQLite store; `port` 0 the first time, then the same again. */
  async function startDelivery(port: number): Promise<void> {
    const args = ['--data-dir', dataDir, '--port', String(port), '--log-level', 'debug'];
    delivery = await startDeliveryProcess(args);
  }

  /** Register requests the running service stored (its debug log has one line per request). */
  function registrationsServed(): number {
    return delivery.process.lines.filter(
      (line) => line.msg === 'request' && line.fields?.kind === 'register' && line.fields.outcome === 'ok',
    ).length;
  }

  /** The account works: bob sees its real key and starts a conversation with it, both ways. */
  async function works(client: Client): Promise<void> {
    const handle = client.handle;
    assert.ok(handle !== undefined);
    assert.equal(client.registration, 'registered');
    // Bob's carrier reconnects to the restarted service on its own backoff: the account is tried once it has.
    await waitUp(bob.carrier);
    const [atBob, atThem] = await Promise.all([bob.client.safetyNumber(handle), client.safetyNumber('bob')]);
    assert.equal(atBob.digits, atThem.digits);
    const chat = await bob.client.createConversation([handle]);
    const theirs = await joined(client, chat.id, STEP_MS);
    const [toBob, toThem] = [inbox(chat), inbox(theirs)];
    await chat.send({ text: `hello ${handle}` });
    await theirs.send({ text: 'hello bob' });
    assert.deepEqual(await texts(toThem, 1, STEP_MS), [`hello ${handle}`]);
    assert.deepEqual(await texts(toBob, 1, STEP_MS), ['hello bob']);
  }

  before(async () => {
    await startDelivery(0);
    bob = await user(delivery.server, 'bob');
  });

  after(async () => {
    await bob?.close();
    await delivery?.process.stop();
  });

  test('killed with the registration in flight: a retry with the same keys registers the handle', async () => {
    const { client, carrier } = await openClient(delivery.server, tempDir());
    try {
      delivery.process.child.kill('SIGSTOP');
      // The registration (with the first KeyPackages) handed to the carrier: it is written to the socket
      // before the next turn of the event loop, and stays there unserved.
      const handed = new Promise<void>((resolve) => {
        const request = carrier.request.bind(carrier);
        carrier.request = (bytes, options) => {
          if (decodeRequest(bytes).kind === 'register') resolve();
          return request(bytes, options);
        };
      });
      const first = assert.rejects(client.register('alice'), {
        reason: 'unreachable',
        message: /keys are kept/,
      });
      await handed;
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(client.registration, 'pending', 'the keys were kept before the request left');
      const { port } = delivery.server;
      delivery.process.child.kill('SIGKILL');
      await delivery.process.exited;
      await first;
      assert.deepEqual([client.registration, client.handle], ['pending', 'alice']);
      await assert.rejects(client.createConversation(['bob']), { reason: 'not_registered' });
      await assert.rejects(client.register('alice2'), { reason: 'already_registered' });

      await startDelivery(port);
      await waitUp(carrier);
      await client.register('alice');
      await works(client);
    } finally {
      await client.close();
      await carrier.close();
    }
  });

  test('stored while the client had given up: handle_taken for others, reopening the vault finishes it', async () => {
    const vault = tempDir();
    const served = registrationsServed();
    // The first attempt gives up after 1 s: what a slow mixnet round trip looks like to the client.
    const first = await openClient(delivery.server, vault, { requestTimeoutMs: 1000 });
    try {
      delivery.process.child.kill('SIGSTOP');
      await assert.rejects(first.client.register('carol'), { reason: 'unreachable' });
      assert.equal(first.client.registration, 'pending');
      // Closed while the service is stopped: this client never learns the outcome. Its carrier stays
      // connected, so the requests waiting in the service's socket are served once it runs again.
      await first.client.close();
      delivery.process.child.kill('SIGCONT');
      await eventually(
        () => (registrationsServed() > served ? true : undefined),
        'the service to store the registration',
        STEP_MS,
      );
    } finally {
      await first.client.close();
      await first.carrier.close();
    }

    // The handle is bound to the first attempt's keys: a new identity cannot have it…
    const other = await openClient(delivery.server, tempDir());
    try {
      await assert.rejects(other.client.register('carol'), { reason: 'handle_taken' });
      assert.equal(other.client.registration, 'none');
    } finally {
      await other.client.close();
      await other.carrier.close();
    }

    // …and the vault that holds them finishes the registration by itself once opened.
    const again = await openClient(delivery.server, vault);
    const finished: string[] = [];
    again.client.on('registered', (handle) => finished.push(handle));
    try {
      assert.equal(again.client.handle, 'carol');
      await eventually(
        () => (again.client.registration === 'registered' ? true : undefined),
        'the pending registration to finish',
        STEP_MS,
      );
      assert.deepEqual(finished, ['carol']);
      await works(again.client);
    } finally {
      await again.client.close();
      await again.carrier.close();
    }
  });
});
