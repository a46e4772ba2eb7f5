// Node-to-node links over real sockets on 127.0.0.1: the hybrid post-quantum group is what TLS negotiates
// (and nothing weaker is accepted), certificates are pinned in both directions, frames arrive intact and in
// order, and a link reconnects by itself after its peer comes back, on its backoff (run in virtual time).
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { toHex } from '../../src/bytes.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import {
  certificateFingerprint,
  createSelfSignedCertificate,
  FrameReader,
  LINK_GROUP,
  LINK_PROTOCOL,
  Link,
  type LinkEvent,
  LinkServer,
  negotiatedGroup,
  TlsIdentity,
} from '../../src/links/index.ts';
import { VirtualClock } from '../support/virtual-clock.ts';

const FRAME = 512;
const PREAMBLE = randomBytes(32);

interface Received {
  readonly frames: Uint8Array[];
  readonly events: LinkEvent[];
  readonly server: LinkServer;
}

async function startServer(
  identity: TlsIdentity,
  allowed: readonly Uint8Array[],
  port = 0,
  preamble = PREAMBLE,
): Promise<Received> {
  const frames: Uint8Array[] = [];
  const events: LinkEvent[] = [];
  const server = await LinkServer.listen({
    identity,
    host: '127.0.0.1',
    port,
    frameLength: FRAME,
    preamble,
    authorize: (fingerprint) => allowed.some((pin) => toHex(pin) === toHex(fingerprint)),
    onFrame: (frame) => frames.push(frame),
    observer: (event) => events.push(event),
  });
  return { frames, events, server };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function frames(count: number): Uint8Array[] {
  return Array.from({ length: count }, () => randomBytes(FRAME));
}

/** A raw TLS client with its own key-exchange groups, to see what the server agrees to. */
async function handshake(
  port: number,
  identity: TlsIdentity,
  ecdhCurve?: string,
): Promise<{ socket: TLSSocket } | { error: Error }> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    ...identity.tlsCredentials(),
    rejectUnauthorized: false,
    ALPNProtocols: [LINK_PROTOCOL],
    ...(ecdhCurve ? { ecdhCurve } : {}),
  });
  try {
    await once(socket, 'secureConnect');
    return { socket };
  } catch (error) {
    return { error: error as Error };
  }
}

describe('certificates', () => {
  test('a self-signed Ed25519 certificate that node:crypto and its pin agree on', () => {
    const { der, privateKey, certificatePem } = createSelfSignedCertificate('mix-1');
    const certificate = new X509Certificate(der);
    assert.equal(certificate.subject, 'CN=mix-1');
    assert.equal(certificate.ca, false);
    assert.ok(certificate.verify(createPublicKey(privateKey)), 'self-signature verifies');
    assert.ok(certificate.checkPrivateKey(privateKey));
    assert.equal(certificate.toString(), certificatePem);
    assert.equal(
      toHex(certificateFingerprint(der)),
      certificate.fingerprint256.replaceAll(':', '').toLowerCase(),
    );
    assert.equal(certificate.validTo, 'Dec 31 23:59:59 9999 GMT');
  });

  test('every certificate has its own key and serial', () => {
    const a = new X509Certificate(createSelfSignedCertificate().der);
    const b = new X509Certificate(createSelfSignedCertificate().der);
    assert.notEqual(a.serialNumber, b.serialNumber);
    assert.notEqual(a.publicKey.export({ format: 'jwk' }).x, b.publicKey.export({ format: 'jwk' }).x);
  });

  test('the identity persists in the data directory, private to its owner, and never prints its key', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'umbra-links-'));
    try {
      const first = await TlsIdentity.loadOrCreate(directory);
      const again = await TlsIdentity.loadOrCreate(directory);
      assert.deepEqual(again.fingerprint, first.fingerprint);
      assert.equal(again.certificatePem, first.certificatePem);
      assert.equal((await stat(join(directory, 'identity.pem'))).mode & 0o777, 0o600);
      for (const shown of [inspect(first), JSON.stringify(first), String(first)]) {
        assert.doesNotMatch(shown, /PRIVATE KEY/);
      }
      assert.match(inspect(first), new RegExp(toHex(first.fingerprint)));
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('TLS profile', () => {
  test(`${LINK_GROUP} is the group a link negotiates, over TLS 1.3`, async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    const { server } = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    try {
      // A client on Node's defaults (which offer several groups) still ends up on the hybrid one.
      for (const curve of [undefined, LINK_GROUP]) {
        const result = await handshake(server.address.port, clientIdentity, curve);
        assert.ok('socket' in result, `handshake with ${curve ?? 'default groups'}`);
        assert.equal(negotiatedGroup(result.socket), LINK_GROUP);
        assert.equal(result.socket.getProtocol(), 'TLSv1.3');
        assert.equal(result.socket.alpnProtocol, LINK_PROTOCOL);
        result.socket.destroy();
      }
    } finally {
      await server.close();
    }
  });

  test('a client that offers only classical groups is refused during the handshake', async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    const { server } = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    try {
      for (const curve of ['X25519', 'P-256:P-384']) {
        const result = await handshake(server.address.port, clientIdentity, curve);
        assert.ok('error' in result, `${curve} refused`);
        assert.match(result.error.message, /handshake failure|alert/i);
      }
    } finally {
      await server.close();
    }
  });

  test('a link refuses a server that will not use the hybrid group', async () => {
    const { createServer } = await import('node:tls');
    const identity = TlsIdentity.generate();
    const classical = createServer({
      ...identity.tlsCredentials(),
      ecdhCurve: 'X25519',
      ALPNProtocols: [LINK_PROTOCOL],
    });
    classical.listen(0, '127.0.0.1');
    await once(classical, 'listening');
    const port = (classical.address() as { port: number }).port;
    const events: LinkEvent[] = [];
    const link = new Link({
      identity: TlsIdentity.generate(),
      peer: { host: '127.0.0.1', port, fingerprint: identity.fingerprint },
      frameLength: FRAME,
      preamble: PREAMBLE,
      observer: (event) => events.push(event),
    });
    try {
      await until(() => events.some((event) => event.type === 'error'), 'a handshake error');
      assert.equal(link.connected, false);
      assert.ok(!events.some((event) => event.type === 'connected'));
    } finally {
      await link.close();
      classical.close();
    }
  });
});

describe('links', () => {
  test('frames arrive intact and in order, in both directions of trust', async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    const received = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    const link = new Link({
      identity: clientIdentity,
      peer: { ...received.server.address, fingerprint: serverIdentity.fingerprint },
      frameLength: FRAME,
      preamble: PREAMBLE,
    });
    try {
      const sent = frames(300);
      link.send(sent.slice(0, 100));
      link.send(sent.slice(100));
      await until(() => received.frames.length === 300, '300 frames');
      assert.deepEqual(received.frames, sent);
      assert.deepEqual(
        received.events.filter((event) => event.type === 'connected'),
        [{ type: 'connected', peer: toHex(clientIdentity.fingerprint) }],
      );
    } finally {
      await link.close();
      await received.server.close();
    }
  });

  test('a link whose pin does not match the server certificate sends nothing', async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    const received = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    const events: LinkEvent[] = [];
    const link = new Link({
      identity: clientIdentity,
      peer: { ...received.server.address, fingerprint: TlsIdentity.generate().fingerprint },
      frameLength: FRAME,
      preamble: PREAMBLE,
      observer: (event) => events.push(event),
      backoff: { initialMs: 20, maxMs: 50 },
    });
    try {
      link.send(frames(3));
      await until(() => events.filter((event) => event.type === 'refused').length >= 2, 'two refusals');
      assert.ok(events.every((event) => event.type !== 'refused' || event.reason === 'pin_mismatch'));
      assert.equal(link.connected, false);
      assert.equal(received.frames.length, 0);
    } finally {
      await link.close();
      await received.server.close();
    }
  });

  test('a server refuses clients whose certificate it does not know, or that present none', async () => {
    const serverIdentity = TlsIdentity.generate();
    const received = await startServer(serverIdentity, [TlsIdentity.generate().fingerprint]);
    const stranger = TlsIdentity.generate();
    const link = new Link({
      identity: stranger,
      peer: { ...received.server.address, fingerprint: serverIdentity.fingerprint },
      frameLength: FRAME,
      preamble: PREAMBLE,
    });
    try {
      link.send(frames(3));
      const anonymous = connect({
        ...received.server.address,
        rejectUnauthorized: false,
        ecdhCurve: LINK_GROUP,
        ALPNProtocols: [LINK_PROTOCOL],
      });
      anonymous.on('error', () => {});
      await once(anonymous, 'close');
      await until(() => received.events.filter((event) => event.type === 'refused').length >= 2, 'refusals');
      const refusals = received.events.filter((event) => event.type === 'refused');
      assert.ok(refusals.some((event) => event.peer === toHex(stranger.fingerprint)));
      assert.ok(
        refusals.some((event) => event.peer === undefined),
        'no certificate',
      );
      assert.ok(refusals.every((event) => event.type === 'refused' && event.reason === 'unknown_peer'));
      assert.equal(received.frames.length, 0);
      assert.equal(received.server.connectionCount, 0);
    } finally {
      await link.close();
      await received.server.close();
    }
  });

  test('a client with another geometry is refused at its preamble', async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    const received = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    const link = new Link({
      identity: clientIdentity,
      peer: { ...received.server.address, fingerprint: serverIdentity.fingerprint },
      frameLength: FRAME,
      preamble: randomBytes(32),
    });
    try {
      link.send(frames(5));
      await until(() => received.events.some((event) => event.type === 'refused'), 'a refusal');
      assert.deepEqual(
        received.events.find((event) => event.type === 'refused'),
        {
          type: 'refused',
          peer: toHex(clientIdentity.fingerprint),
          reason: 'wrong_preamble',
        },
      );
      assert.equal(received.frames.length, 0);
    } finally {
      await link.close();
      await received.server.close();
    }
  });

  test('a link reconnects after its peer restarts and delivers what was queued meanwhile', async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    let received = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    const { port } = received.server.address;
    const link = new Link({
      identity: clientIdentity,
      peer: { host: '127.0.0.1', port, fingerprint: serverIdentity.fingerprint },
      frameLength: FRAME,
      preamble: PREAMBLE,
      backoff: { initialMs: 20, maxMs: 100 },
    });
    try {
      const before = frames(5);
      link.send(before);
      await until(() => received.frames.length === 5, 'the first frames');
      await received.server.close();
      await until(() => !link.connected, 'the link to notice');
      const during = frames(7);
      link.send(during);
      received = await startServer(serverIdentity, [clientIdentity.fingerprint], port);
      await until(() => received.frames.length === 7, 'the queued frames');
      assert.deepEqual(received.frames, during);
      assert.ok(link.connected);
    } finally {
      await link.close();
      await received.server.close();
    }
  });

  test('in virtual time, a reconnection waits its backoff, which grows over connections that did not last and starts again after one that did', async () => {
    const clock = new VirtualClock();
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    // First a peer that drops this link right after the handshake, as one that does not list it does.
    let received = await startServer(serverIdentity, []);
    const { port } = received.server.address;
    const link = new Link({
      identity: clientIdentity,
      peer: { host: '127.0.0.1', port, fingerprint: serverIdentity.fingerprint },
      frameLength: FRAME,
      preamble: PREAMBLE,
      backoff: { initialMs: 1_000, maxMs: 60_000 },
      clock,
    });
    try {
      // The n-th retry in a row waits between half its ceiling (1 s × 2^n) and the ceiling: the only timer.
      for (const ceiling of [1_000, 2_000, 4_000]) {
        await until(() => clock.pending === 1, `the retry after ${ceiling / 2} ms or more`);
        clock.advance(ceiling / 2 - 1);
        assert.equal(clock.pending, 1, `the retry waits at least ${ceiling / 2} ms`);
        if (ceiling === 4_000) {
          await received.server.close();
          received = await startServer(serverIdentity, [clientIdentity.fingerprint], port);
        }
        clock.advance(ceiling / 2);
        assert.equal(clock.pending, 0, `the retry came before ${ceiling} ms`);
      }
      await until(() => link.connected, 'the link to the peer that admits it');
      // A connection that lasted (5 s) resets the backoff: the next retry is again within the first ceiling.
      clock.advance(5_000);
      await received.server.close();
      await until(() => !link.connected && clock.pending === 1, 'the retry after a lasting connection');
      clock.advance(999);
      assert.equal(clock.pending, 0, 'the backoff started again');
    } finally {
      await link.close();
      await received.server.close();
    }
  });

  test('while the peer is away, the queue keeps the newest frames up to its bound', async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    const events: LinkEvent[] = [];
    const probe = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    const { port } = probe.server.address;
    await probe.server.close();
    const link = new Link({
      identity: clientIdentity,
      peer: { host: '127.0.0.1', port, fingerprint: serverIdentity.fingerprint },
      frameLength: FRAME,
      preamble: PREAMBLE,
      maxQueuedFrames: 4,
      backoff: { initialMs: 20, maxMs: 50 },
      observer: (event) => events.push(event),
    });
    let received: Received | undefined;
    try {
      const sent = frames(10);
      link.send(sent.slice(0, 6));
      link.send(sent.slice(6));
      assert.deepEqual(
        events
          .filter((event) => event.type === 'dropped')
          .map((event) => event.type === 'dropped' && event.frames),
        [2, 4],
      );
      received = await startServer(serverIdentity, [clientIdentity.fingerprint], port);
      const { frames: arrived } = received;
      await until(() => arrived.length === 4, 'the kept frames');
      assert.deepEqual(arrived, sent.slice(6));
    } finally {
      await link.close();
      await received?.server.close();
    }
  });

  test('simulated weather: jittered bursts still arrive whole and in order; a closed link drops what it held', async () => {
    const serverIdentity = TlsIdentity.generate();
    const clientIdentity = TlsIdentity.generate();
    const received = await startServer(serverIdentity, [clientIdentity.fingerprint]);
    const peer = { ...received.server.address, fingerprint: serverIdentity.fingerprint };
    const options = { identity: clientIdentity, peer, frameLength: FRAME, preamble: PREAMBLE };
    // Jitter four times the delay: without the ordering rule, later bursts would often overtake earlier ones.
    const link = new Link({ ...options, delay: { ms: 5, jitterMs: 20 } });
    try {
      const sent = frames(120);
      for (let i = 0; i < sent.length; i += 3) link.send(sent.slice(i, i + 3));
      await until(() => received.frames.length === sent.length, `${sent.length} frames`);
      assert.deepEqual(received.frames, sent);
    } finally {
      await link.close();
    }
    const slow = new Link({ ...options, delay: { ms: 60_000, jitterMs: 0 } });
    try {
      await until(() => slow.connected, 'the slow link to connect');
      slow.send(frames(2));
    } finally {
      await slow.close();
      await received.server.close();
    }
    assert.equal(received.frames.length, 120, 'the burst still on the simulated wire was dropped at close');
    assert.throws(
      () => new Link({ ...options, delay: { ms: -1, jitterMs: 0 } }),
      /delay\.ms: expected a non-negative integer/,
    );
  });

  test('frames of the wrong length are refused before anything is sent', async () => {
    const link = new Link({
      identity: TlsIdentity.generate(),
      peer: { host: '127.0.0.1', port: 9, fingerprint: randomBytes(32) },
      frameLength: FRAME,
      preamble: PREAMBLE,
    });
    try {
      assert.throws(() => link.send([new Uint8Array(FRAME - 1)]), /frame: expected 512 bytes/);
    } finally {
      await link.close();
    }
  });
});

describe('framing', () => {
  test('frames come out whole and in order however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.array(fc.uint8Array({ minLength: 7, maxLength: 7 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 10 }),
        (preamble, frames, cuts) => {
          const stream = new Uint8Array([...preamble, ...frames.flatMap((frame) => [...frame])]);
          const reader = new FrameReader(7, 4);
          const out: Uint8Array[] = [];
          const preambles: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < stream.length; i++) {
            const end = Math.min(stream.length, offset + (cuts[i % cuts.length] as number));
            reader.push(
              stream.subarray(offset, end),
              (frame) => out.push(frame),
              (p) => preambles.push(p) > 0,
            );
            offset = end;
          }
          assert.deepEqual(preambles, [preamble]);
          assert.deepEqual(out, frames);
        },
      ),
    );
  });

  test('nothing after a refused preamble is delivered', () => {
    const reader = new FrameReader(3, 2);
    const out: Uint8Array[] = [];
    reader.push(
      Uint8Array.of(9, 9, 1, 2, 3, 4, 5, 6),
      (frame) => out.push(frame),
      () => false,
    );
    assert.deepEqual(out, []);
  });
});
