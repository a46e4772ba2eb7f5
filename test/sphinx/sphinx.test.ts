// Sphinx packets end to end for the three schemes (X25519, ML-KEM-768, X-Wing): forward packets and SURB
// replies through every path length, on each backend and across backends (created with one, unwrapped with the
// other), with the packet length checked at every hop; the typed errors packet creation promises; and the
// forward-payload layout that carries a SURB to a service.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import type { CryptoBackend } from '../../src/crypto/backend.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { CodecError, SphinxError } from '../../src/errors.ts';
import {
  decodeForwardPayload,
  encodeForwardPayload,
  Geometry,
  type PathHop,
  Sphinx,
  type SphinxSchemeName,
  type UnwrapResult,
} from '../../src/sphinx/index.ts';
import { backends, nodeBackend, portableBackend } from '../support/backends.ts';
import { generateKeyPair, makeNodes, makePath, type TestNode } from './support.ts';

const SCHEMES: readonly SphinxSchemeName[] = ['x25519', 'MLKEM768', 'XWING'];

/** Unwraps through every node, checking len(out) === len(in) on each forward, and returns the last result. */
function route(sphinx: Sphinx, nodes: readonly TestNode[], packet: Uint8Array): UnwrapResult {
  let current = packet;
  for (const [hop, node] of nodes.entries()) {
    const result = sphinx.unwrap(node.keys.secretKey, current);
    if (hop === nodes.length - 1) return result;
    assert.equal(result.kind, 'forward', `hop ${hop}`);
    if (result.kind !== 'forward') break;
    assert.equal(result.packet.length, current.length, `hop ${hop} keeps the packet length`);
    assert.deepEqual(result.nextHop, nodes[hop + 1]?.id);
    assert.equal(result.delay, 1000 + hop);
    current = result.packet;
  }
  assert.fail('the path ended early');
}

function roundTrip(
  creator: CryptoBackend,
  unwrapper: CryptoBackend,
  scheme: SphinxSchemeName,
  hops: number[],
) {
  const geometry = Geometry.create({ scheme, userForwardPayloadLength: 500, withSurb: true, nrHops: 5 });
  const sender = new Sphinx(geometry, creator);
  const mix = new Sphinx(geometry, unwrapper);
  for (const count of hops) {
    const nodes = makeNodes(creator, geometry, count);
    const recipient = randomBytes(32);

    const message = randomBytes(geometry.forwardPayloadLength - 7);
    const packet = sender.newPacket(makePath(nodes, { recipient }), message);
    assert.equal(packet.length, geometry.packetLength);
    const final = route(mix, nodes, packet);
    assert.equal(final.kind, 'final', `${count} hops`);
    if (final.kind !== 'final') return;
    assert.equal(
      final.payload.length,
      geometry.forwardPayloadLength,
      'the payload comes back at full length',
    );
    assert.deepEqual(final.payload.subarray(0, message.length), message);
    assert.ok(
      final.payload.subarray(message.length).every((byte) => byte === 0),
      'zero padded',
    );
    assert.deepEqual(final.recipient, recipient);

    const surbId = randomBytes(16);
    const { surb, keys } = sender.newSurb(makePath(nodes, { recipient, surbId }));
    assert.equal(surb.length, geometry.surbLength);
    const answer = randomBytes(geometry.forwardPayloadLength);
    // The replier may run the other backend too.
    const { packet: replyPacket, firstHop } = mix.newPacketFromSurb(surb, answer);
    assert.deepEqual(firstHop, nodes[0]?.id);
    assert.equal(replyPacket.length, geometry.packetLength);
    const reply = route(mix, nodes, replyPacket);
    assert.equal(reply.kind, 'reply', `${count} hops`);
    if (reply.kind !== 'reply') return;
    assert.deepEqual(reply.surbId, surbId);
    assert.deepEqual(reply.recipient, recipient);
    assert.equal(reply.payload.length, geometry.payloadTagLength + geometry.forwardPayloadLength);
    assert.deepEqual(sender.decryptSurbPayload(reply.payload, keys), answer);
  }
}

for (const scheme of SCHEMES) {
  for (const backend of backends) {
    test(`${scheme} on the ${backend.name} backend: forward packets and SURB replies of 1 to 5 hops`, () => {
      roundTrip(backend, backend, scheme, scheme === 'x25519' ? [1, 2, 3, 4, 5] : [1, 5]);
    });
  }
  test(`${scheme} across backends: created with portable, unwrapped with node, and the reverse`, () => {
    roundTrip(portableBackend, nodeBackend, scheme, [5]);
    roundTrip(nodeBackend, portableBackend, scheme, [3]);
  });
}

describe('creation errors are typed', () => {
  const geometry = Geometry.create({
    scheme: 'x25519',
    userForwardPayloadLength: 100,
    withSurb: false,
    nrHops: 3,
  });
  const sphinx = new Sphinx(geometry, nodeBackend);
  const nodes = makeNodes(nodeBackend, geometry, 4);
  const recipient = randomBytes(32);

  function reason(operation: () => unknown): string {
    try {
      operation();
    } catch (error) {
      assert.ok(error instanceof SphinxError, `expected a SphinxError, got ${String(error)}`);
      return error.reason;
    }
    return 'no error';
  }

  test('a path longer than the geometry: path_too_long', () => {
    assert.equal(
      reason(() => sphinx.newPacket(makePath(nodes, { recipient }), new Uint8Array(1))),
      'path_too_long',
    );
    assert.equal(
      reason(() => sphinx.newSurb(makePath(nodes, { recipient }))),
      'path_too_long',
    );
  });

  test('a payload longer than the geometry: payload_too_long', () => {
    const path = makePath(nodes.slice(0, 3), { recipient });
    assert.equal(
      reason(() => sphinx.newPacket(path, new Uint8Array(geometry.forwardPayloadLength + 1))),
      'payload_too_long',
    );
    const { surb } = sphinx.newSurb(path);
    const oversized = new Uint8Array(geometry.forwardPayloadLength + 1);
    assert.equal(
      reason(() => sphinx.newPacketFromSurb(surb, oversized)),
      'payload_too_long',
    );
  });

  test('a key of the wrong scheme: wrong_scheme, at creation and at unwrap', () => {
    const path = makePath(nodes.slice(0, 2), { recipient });
    const mlkem = generateKeyPair(nodeBackend, 'MLKEM768');
    const withKemKey: PathHop[] = [
      path[0] as PathHop,
      { ...(path[1] as PathHop), publicKey: mlkem.publicKey },
    ];
    assert.equal(
      reason(() => sphinx.newPacket(withKemKey, new Uint8Array(1))),
      'wrong_scheme',
    );
    const kemGeometry = Geometry.create({
      scheme: 'MLKEM768',
      userForwardPayloadLength: 100,
      withSurb: false,
      nrHops: 3,
    });
    const kemSphinx = new Sphinx(kemGeometry, nodeBackend);
    assert.equal(
      reason(() => kemSphinx.newPacket(path, new Uint8Array(1))),
      'wrong_scheme',
    );
    const packet = sphinx.newPacket(path, new Uint8Array(1));
    assert.equal(
      reason(() => sphinx.unwrap(mlkem.secretKey, packet)),
      'wrong_scheme',
    );
  });

  test('a low-order X25519 public key: invalid_key', () => {
    const path = makePath(nodes.slice(0, 2), { recipient });
    const lowOrder: PathHop[] = [
      { ...(path[0] as PathHop), publicKey: new Uint8Array(32) },
      path[1] as PathHop,
    ];
    assert.equal(
      reason(() => sphinx.newPacket(lowOrder, new Uint8Array(1))),
      'invalid_key',
    );
  });

  test('commands that do not fit a hop, or a next_node_hop given by the caller: invalid_command', () => {
    const [first, second] = makePath(nodes.slice(0, 2), { recipient }) as [PathHop, PathHop];
    const crowded: PathHop[] = [
      {
        ...first,
        commands: [
          { type: 'recipient', id: recipient },
          { type: 'recipient', id: recipient },
        ],
      },
      second,
    ];
    assert.equal(
      reason(() => sphinx.newPacket(crowded, new Uint8Array(1))),
      'invalid_command',
    );
    const nextHop = { type: 'next_node_hop', id: second.id, mac: new Uint8Array(32) } as unknown as {
      type: 'node_delay';
      delay: number;
    };
    assert.equal(
      reason(() => sphinx.newPacket([{ ...first, commands: [nextHop] }, second], new Uint8Array(1))),
      'invalid_command',
    );
    const badDelay = [{ ...first, commands: [{ type: 'node_delay', delay: 2 ** 32 } as const] }, second];
    assert.equal(
      reason(() => sphinx.newPacket(badDelay, new Uint8Array(1))),
      'invalid_command',
    );
  });

  test('a SURB or a reply of the wrong length: bad_length', () => {
    const path = makePath(nodes.slice(0, 2), { recipient, surbId: randomBytes(16) });
    const { surb, keys } = sphinx.newSurb(path);
    assert.equal(
      reason(() => sphinx.newPacketFromSurb(surb.subarray(1), new Uint8Array(1))),
      'bad_length',
    );
    assert.equal(
      reason(() => sphinx.decryptSurbPayload(new Uint8Array(10), keys)),
      'bad_length',
    );
  });
});

test('SURB keys never print their bytes', () => {
  const geometry = Geometry.create({
    scheme: 'x25519',
    userForwardPayloadLength: 100,
    withSurb: false,
    nrHops: 3,
  });
  const sphinx = new Sphinx(geometry, nodeBackend);
  const nodes = makeNodes(nodeBackend, geometry, 2);
  const { keys } = sphinx.newSurb(makePath(nodes, { recipient: randomBytes(32), surbId: randomBytes(16) }));
  assert.equal(keys.bytes.length, 3 * 64);
  assert.equal(JSON.stringify(keys), '{"type":"SurbKeys","hops":2,"secret":"[redacted]"}');
  assert.equal(inspect(keys), 'SurbKeys { hops: 2, secret: [redacted] }');
});

describe('forward payloads with a SURB slot (the withSurb geometries)', () => {
  const geometry = Geometry.create({
    scheme: 'x25519',
    userForwardPayloadLength: 300,
    withSurb: true,
    nrHops: 3,
  });
  const sphinx = new Sphinx(geometry, nodeBackend);
  const nodes = makeNodes(nodeBackend, geometry, 3);

  test('a request carries its own SURB; the service answers with it and only the sender opens the answer', () => {
    const surbId = randomBytes(16);
    const client = randomBytes(32);
    const service = randomBytes(32);
    const { surb, keys } = sphinx.newSurb(makePath(nodes, { recipient: client, surbId }));
    const request = randomBytes(200);
    const packet = sphinx.newPacket(
      makePath(nodes, { recipient: service }),
      encodeForwardPayload(geometry, request, surb),
    );
    const delivered = route(sphinx, nodes, packet);
    assert.equal(delivered.kind, 'final');
    if (delivered.kind !== 'final') return;
    const { userPayload, surb: attached } = decodeForwardPayload(geometry, delivered.payload);
    assert.deepEqual(userPayload.subarray(0, request.length), request);
    assert.equal(userPayload.length, geometry.userForwardPayloadLength);
    const answer = randomBytes(50);
    const reply = route(sphinx, nodes, sphinx.newPacketFromSurb(attached ?? assert.fail(), answer).packet);
    assert.equal(reply.kind, 'reply');
    if (reply.kind !== 'reply') return;
    assert.deepEqual(reply.surbId, surbId);
    assert.deepEqual(sphinx.decryptSurbPayload(reply.payload, keys).subarray(0, answer.length), answer);
  });

  test('without a SURB the slot is zero and decodes as absent; malformed layouts are refused', () => {
    const encoded = encodeForwardPayload(geometry, randomBytes(10));
    assert.equal(decodeForwardPayload(geometry, encoded).surb, undefined);
    assert.throws(() => decodeForwardPayload(geometry, encoded.subarray(1)), CodecError);
    for (const [index, value] of [
      [0, 2],
      [1, 1],
    ] as const) {
      const bad = encoded.slice();
      bad[index] = value;
      assert.throws(() => decodeForwardPayload(geometry, bad), CodecError);
    }
    const oversized = randomBytes(geometry.userForwardPayloadLength + 1);
    assert.throws(
      () => encodeForwardPayload(geometry, oversized),
      (error) => error instanceof SphinxError && error.reason === 'payload_too_long',
    );
    const plain = Geometry.create({
      scheme: 'x25519',
      userForwardPayloadLength: 300,
      withSurb: false,
      nrHops: 3,
    });
    assert.throws(() => encodeForwardPayload(plain, new Uint8Array(1)), SphinxError);
  });
});
