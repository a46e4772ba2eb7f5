// `npm run bench -- sphinx`: Sphinx unwraps per second per core (one thread) and packets created per second,
// for X25519 Sphinx in the default network geometry (5 hops, 2,000-byte user payload with a SURB) and for KEM
// Sphinx (ML-KEM-768, X-Wing) in the same geometry, beside the cost of the two X25519 operations no X25519
// unwrap can avoid (shared secret and blinding), measured in the same run as the ceiling, and the other
// primitives an unwrap calls, so the table shows where the time goes.

import { aezDecrypt } from '../src/crypto/aez/index.ts';
import type { CryptoBackend } from '../src/crypto/backend.ts';
import { nodeBackend } from '../src/crypto/backends/node.ts';
import { portableBackend } from '../src/crypto/backends/portable.ts';
import { randomBytes } from '../src/crypto/random.ts';
import { createXWing } from '../src/crypto/xwing.ts';
import { Geometry, type PathHop, Sphinx, type SphinxSchemeName } from '../src/sphinx/index.ts';
import { formatRate, type Measurement, machine, measure, table, writeResult } from './lib.ts';

const HOPS = 5;

/**
 * The best of several short windows: on a shared machine other processes only ever slow a window down, so the
 * fastest one is the closest to what the code costs. Every row, the ceiling included, is measured this way.
 */
function best(operation: () => unknown, windows = 5, milliseconds = 400): Measurement {
  let fastest = measure(operation, milliseconds);
  for (let i = 1; i < windows; i++) {
    const next = measure(operation, milliseconds);
    if (next.opsPerSecond > fastest.opsPerSecond) fastest = next;
  }
  return fastest;
}
const USER_PAYLOAD = 2000;

function keyPair(backend: CryptoBackend, scheme: SphinxSchemeName) {
  if (scheme === 'x25519') return backend.x25519.generateKeyPair();
  return scheme === 'MLKEM768' ? backend.mlkem768.generateKeyPair() : createXWing(backend).generateKeyPair();
}

function setUp(backend: CryptoBackend, scheme: SphinxSchemeName) {
  const geometry = Geometry.create({
    scheme,
    userForwardPayloadLength: USER_PAYLOAD,
    withSurb: true,
    nrHops: HOPS,
  });
  const sphinx = new Sphinx(geometry, backend);
  const nodes = Array.from({ length: HOPS }, () => ({ id: randomBytes(32), keys: keyPair(backend, scheme) }));
  const path: PathHop[] = nodes.map(({ id, keys }, index) => ({
    id,
    publicKey: keys.publicKey,
    commands:
      index === HOPS - 1
        ? [{ type: 'recipient', id: randomBytes(32) }]
        : [{ type: 'node_delay', delay: 100 }],
  }));
  const payload = randomBytes(geometry.forwardPayloadLength);
  const [first] = nodes;
  if (!first) throw new Error('no nodes');
  return { geometry, sphinx, firstKey: first.keys.secretKey, path, payload };
}

const rows: string[][] = [];
let x25519Unwrap = 0;
for (const scheme of ['x25519', 'MLKEM768', 'XWING'] as const) {
  const node = setUp(nodeBackend, scheme);
  const portable = setUp(portableBackend, scheme);
  const packet = node.sphinx.newPacket(node.path, node.payload);
  const unwrap = best(() => node.sphinx.unwrap(node.firstKey, packet));
  const createNode = best(() => node.sphinx.newPacket(node.path, node.payload));
  const createPortable = best(() => portable.sphinx.newPacket(portable.path, portable.payload));
  if (scheme === 'x25519') x25519Unwrap = unwrap.microsecondsPerOp;
  rows.push([
    scheme,
    node.geometry.packetLength.toLocaleString('en-US'),
    formatRate(unwrap.opsPerSecond),
    unwrap.microsecondsPerOp.toFixed(0),
    formatRate(createNode.opsPerSecond),
    formatRate(createPortable.opsPerSecond),
  ]);
}

// Where an X25519 unwrap's time goes, primitive by primitive, on the node backend.
const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: USER_PAYLOAD,
  withSurb: true,
  nrHops: HOPS,
});
const a = nodeBackend.x25519.generateKeyPair();
const b = nodeBackend.x25519.generateKeyPair();
const twoX25519 = best(() => {
  nodeBackend.x25519.sharedSecret(a.secretKey, b.publicKey);
  nodeBackend.x25519.sharedSecret(b.secretKey, a.publicKey);
});
const payloadBytes = new Uint8Array(geometry.packetLength - geometry.headerLength);
const payloadKey = randomBytes(48);
const nonce = randomBytes(16);
const sprp = best(() => aezDecrypt(payloadKey, nonce, [], 0, payloadBytes));
const routingBytes = new Uint8Array(geometry.routingInfoLength + geometry.perHopRoutingInfoLength);
const streamKey = randomBytes(32);
const stream = best(() => nodeBackend.aesCtr(streamKey, nonce, routingBytes));
const shortInput = randomBytes(96);
const hash = best(() => nodeBackend.sha256(shortInput));
const breakdown = [
  ['two X25519 (shared secret, blinding): the ceiling', twoX25519.microsecondsPerOp, twoX25519.opsPerSecond],
  [`AEZ decipher of the ${payloadBytes.length}-byte payload`, sprp.microsecondsPerOp, sprp.opsPerSecond],
  [
    `AES-256-CTR header stream, ${routingBytes.length} bytes (backend.aesCtr)`,
    stream.microsecondsPerOp,
    stream.opsPerSecond,
  ],
  [
    'SHA-256 of 96 bytes (an unwrap makes 13 such calls: HKDF, MAC, tag)',
    hash.microsecondsPerOp,
    hash.opsPerSecond,
  ],
] as const;

const markdown = `# Sphinx

${machine()}

Geometry: ${HOPS} hops, ${USER_PAYLOAD.toLocaleString('en-US')}-byte user payload with a SURB (the default
network geometry). Unwraps are measured at the first hop (a forward), on one thread, with the node backend
(the mix node's); packets are created with both backends (clients in browsers use the portable one). Each
figure is the best of five 400 ms windows.

${table(
  [
    'scheme',
    'packet bytes',
    'unwraps/s (node)',
    'µs/unwrap',
    'packets/s created (node)',
    'packets/s created (portable)',
  ],
  rows,
)}

What an X25519 unwrap (${x25519Unwrap.toFixed(0)} µs) is made of, each part measured alone in the same run:

${table(
  ['part', 'µs', 'alone, per second'],
  breakdown.map(([part, microseconds, rate]) => [
    part,
    microseconds.toFixed(1),
    rate ? formatRate(rate) : '',
  ]),
)}

Anchors: Nym's Rust Sphinx ≈ 6,400 unwraps/s per core; Katzenpost's Go ≈ 900; target ≥ 8,000 X25519 unwraps/s.
`;

writeResult('sphinx', markdown);
