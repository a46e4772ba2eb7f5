// The directory's wire formats: network documents and node descriptors round-trip canonically (random
// documents with fast-check), every structural rule is refused on decode with CodecError and on encode with
// ArgumentError (node order, roles and layers, addresses, key shapes, validity windows, parameters), an
// unknown version is DirectoryError('unsupported_version'), and hostile bytes — random, truncated, mutated,
// re-signed garbage — only ever produce CodecError or DirectoryError from the decoders and the verifier.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import {
  AuthorityKeys,
  formatAuthorityPublicKeys,
  parseAuthorityPublicKeys,
} from '../../src/directory/authority-keys.ts';
import {
  decodeDescriptor,
  decodeNetworkDocument,
  decodeSignedNetworkDocument,
  encodeDescriptor,
  encodeNetworkDocument,
  encodeSignedNetworkDocument,
  type NetworkDocumentContents,
  type NodeEntry,
  nodeId,
  openSignedDescriptor,
  parseAddress,
  signDescriptor,
  signNetworkDocument,
  sortNodes,
  verifyNetworkDocument,
} from '../../src/directory/document.ts';
import { ArgumentError, CodecError, DirectoryError } from '../../src/errors.ts';
import {
  authorityKeys,
  documentContents,
  EPOCH_PERIOD_MS,
  geometry,
  makeNetwork,
  TestNode,
} from './support.ts';

function withoutEpoch({
  identityKey,
  role,
  layer,
  address,
  tlsFingerprint,
  sphinxKeys,
}: NodeEntry): NodeEntry {
  return { identityKey, role, layer, address, tlsFingerprint, sphinxKeys };
}

function assertOnlyTypedErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (error instanceof CodecError || error instanceof DirectoryError) return;
    throw error;
  }
}

const bytesOf = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });

const nodeArbitrary: fc.Arbitrary<NodeEntry> = fc
  .record({
    identityKey: bytesOf(32),
    kind: fc.constantFrom('mix', 'gateway', 'service'),
    layer: fc.integer({ min: 1, max: 3 }),
    host: fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.ipV6().map((v6) => `[${v6}]`),
    ),
    port: fc.integer({ min: 1, max: 65_535 }),
    tlsFingerprint: bytesOf(32),
    keyLength: fc.integer({ min: 1, max: 64 }),
    seed: fc.integer(),
  })
  .map(({ identityKey, kind, layer, host, port, tlsFingerprint, keyLength, seed }) => ({
    identityKey,
    role: kind as NodeEntry['role'],
    layer: kind === 'mix' ? layer : 0,
    address: `${host}:${port}`,
    tlsFingerprint,
    sphinxKeys: {
      current: new Uint8Array(keyLength).fill(seed & 0xff),
      next: new Uint8Array(keyLength).fill((seed >> 8) & 0xff),
    },
  }))
  .filter((node) => Buffer.byteLength(node.address) <= 255);

const documentArbitrary: fc.Arbitrary<NetworkDocumentContents> = fc
  .record({
    epoch: fc.integer({ min: 0, max: 2 ** 40 }),
    validFrom: fc.integer({ min: 0, max: 2 ** 50 }),
    length: fc.integer({ min: 1, max: 2 ** 30 }),
    issuedAt: fc.maxSafeNat(),
    geometryHash: bytesOf(32),
    layers: fc.integer({ min: 3, max: 16 }),
    roundPeriodMs: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
    batchSize: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
    sendRate: fc.integer({ min: 1, max: 1_000_000_000 }),
    loopShare: fc.integer({ min: 0, max: 1000 }),
    keyGracePeriodMs: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    nodes: fc.uniqueArray(nodeArbitrary, {
      maxLength: 8,
      selector: (node) => Buffer.from(node.identityKey).toString('hex'),
    }),
  })
  .map((r) => ({
    epoch: r.epoch,
    validFrom: r.validFrom,
    validUntil: r.validFrom + r.length,
    issuedAt: r.issuedAt,
    geometryHash: r.geometryHash,
    parameters: {
      epochPeriodMs: Math.min(r.length, 2 ** 32 - 1),
      layers: r.layers,
      roundPeriodMs: r.roundPeriodMs,
      batchSize: r.batchSize,
      clientSendRate: r.sendRate / 1000,
      loopCoverShare: r.loopShare / 1000,
      keyGracePeriodMs: r.keyGracePeriodMs,
    },
    nodes: sortNodes(r.nodes),
  }));

describe('network document codec', () => {
  test('random documents round-trip, canonically, with node ids derived', () => {
    fc.assert(
      fc.property(documentArbitrary, (contents) => {
        const bytes = encodeNetworkDocument(contents);
        const decoded = decodeNetworkDocument(bytes);
        assert.deepEqual(decoded, {
          ...contents,
          nodes: contents.nodes.map((n) => ({ ...n, id: nodeId(n.identityKey) })),
        });
        assert.deepEqual(encodeNetworkDocument(decoded), bytes);
      }),
      { numRuns: 200 },
    );
  });

  test('a real network round-trips through the signed form', () => {
    const contents = documentContents(makeNetwork());
    const signed = signNetworkDocument(contents, authorityKeys(), nodeBackend);
    const { body, signatures } = decodeSignedNetworkDocument(signed);
    assert.deepEqual(
      signatures.map((s) => [s.scheme, s.signature.length]),
      [
        ['ed25519', 64],
        ['mldsa65', 3309],
      ],
    );
    const decoded = decodeNetworkDocument(body);
    assert.deepEqual(decoded.nodes.map(withoutEpoch), contents.nodes.map(withoutEpoch));
    assert.equal(decoded.parameters.clientSendRate, 2.5);
    assert.deepEqual(encodeSignedNetworkDocument(decodeSignedNetworkDocument(signed)), signed);
  });

  test('node ids are BLAKE2b-256 of the identity key', () => {
    const key = new Uint8Array(32);
    // BLAKE2b-256 of 32 zero bytes, computed independently with Python's hashlib.blake2b(digest_size=32).
    assert.equal(
      Buffer.from(nodeId(key)).toString('hex'),
      '89eb0d6a8a691dae2cd15ed0369931ce0a949ecafa5c3f93f8121833646e15c3',
    );
  });

  test('structural rules are refused on encode (ArgumentError) and decode (CodecError)', () => {
    const network = makeNetwork();
    const valid = documentContents(network);
    const [first, second] = valid.nodes as [NodeEntry, NodeEntry, ...NodeEntry[]];
    const mix = valid.nodes.find((n) => n.role === 'mix') as NodeEntry;
    const gateway = valid.nodes.find((n) => n.role === 'gateway') as NodeEntry;
    const broken: [string, NetworkDocumentContents][] = [
      ['unsorted nodes', { ...valid, nodes: [second, first] }],
      ['a node listed twice', { ...valid, nodes: [first, first] }],
      ['a mix in layer 0', { ...valid, nodes: [{ ...mix, layer: 0 }] }],
      ['a gateway in a layer', { ...valid, nodes: [{ ...gateway, layer: 1 }] }],
      ['a mix beyond the last layer', { ...valid, nodes: [{ ...mix, layer: 4 }] }],
      ['an empty validity window', { ...valid, validUntil: valid.validFrom }],
      ['an address without a port', { ...valid, nodes: [{ ...gateway, address: 'example.com' }] }],
      ['an address with a path', { ...valid, nodes: [{ ...gateway, address: 'example.com:80/x' }] }],
      ['port 0', { ...valid, nodes: [{ ...gateway, address: 'example.com:0' }] }],
      [
        'empty Sphinx keys',
        {
          ...valid,
          nodes: [{ ...gateway, sphinxKeys: { current: new Uint8Array(), next: new Uint8Array() } }],
        },
      ],
      [
        'Sphinx keys of two sizes',
        {
          ...valid,
          nodes: [{ ...gateway, sphinxKeys: { current: new Uint8Array(32), next: new Uint8Array(33) } }],
        },
      ],
      ['zero layers', { ...valid, nodes: [], parameters: { ...valid.parameters, layers: 0 } }],
      ['zero batch size', { ...valid, parameters: { ...valid.parameters, batchSize: 0 } }],
      ['zero send rate', { ...valid, parameters: { ...valid.parameters, clientSendRate: 0 } }],
      ['a loop share above 1', { ...valid, parameters: { ...valid.parameters, loopCoverShare: 1.001 } }],
      ['a rate finer than 0.001', { ...valid, parameters: { ...valid.parameters, clientSendRate: 0.0005 } }],
      ['an epoch above 2^53', { ...valid, epoch: 2 ** 53 }],
    ];
    for (const [name, document] of broken) {
      assert.throws(() => encodeNetworkDocument(document), ArgumentError, name);
    }
  });

  test('the same faults written into valid bytes are refused by the decoder', () => {
    // Two nodes whose encodings have the same length, so their bytes can be swapped or duplicated in place.
    const a = new TestNode('mix', 1);
    const b = new TestNode('mix', 2);
    a.address = 'a.example:4000';
    b.address = 'b.example:4000';
    const contents = documentContents([a, b]);
    const two = encodeNetworkDocument(contents);
    const nodeLength =
      two.length - encodeNetworkDocument({ ...contents, nodes: contents.nodes.slice(0, 1) }).length;
    const firstAt = two.length - 2 * nodeLength;
    const secondAt = two.length - nodeLength;
    const first = two.slice(firstAt, secondAt);
    const second = two.slice(secondAt);

    const swapped = Uint8Array.from(two);
    swapped.set(second, firstAt);
    swapped.set(first, secondAt);
    assert.throws(() => decodeNetworkDocument(swapped), CodecError, 'unsorted');
    const duplicated = Uint8Array.from(two);
    duplicated.set(first, secondAt);
    assert.throws(() => decodeNetworkDocument(duplicated), CodecError, 'duplicated');

    const layerAt = firstAt + 32 + 1; // identity key, role, then the layer byte
    for (const [role, layer, name] of [
      [1, 0, 'a mix in layer 0'],
      [1, 4, 'a mix beyond the last layer'],
      [2, 1, 'a gateway in a layer'],
      [9, 0, 'an unknown role'],
    ] as const) {
      const bytes = Uint8Array.from(two);
      bytes[layerAt - 1] = role;
      bytes[layerAt] = layer;
      assert.throws(() => decodeNetworkDocument(bytes), CodecError, name);
    }
    assert.equal(decodeNetworkDocument(two).nodes.length, 2);
  });

  test('an unknown version is refused as such', () => {
    const body = encodeNetworkDocument(documentContents(makeNetwork()));
    const future = Uint8Array.from(body);
    future[0] = 2;
    assert.throws(
      () => decodeNetworkDocument(future),
      (error: unknown) => error instanceof DirectoryError && error.reason === 'unsupported_version',
    );
    assert.throws(() => decodeNetworkDocument(new Uint8Array()), CodecError);
  });

  test('hostile bytes only raise CodecError or DirectoryError, in the decoder and the verifier', () => {
    const keys = authorityKeys();
    const signed = signNetworkDocument(documentContents(makeNetwork()), keys, nodeBackend);
    const body = decodeSignedNetworkDocument(signed).body;
    const verify = (bytes: Uint8Array) =>
      verifyNetworkDocument(bytes, {
        authorityKeys: keys.publicKeys,
        expectedGeometryHash: geometry.hash(),
        now: 1000 * EPOCH_PERIOD_MS,
      });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        assertOnlyTypedErrors(() => verify(bytes));
        assertOnlyTypedErrors(() => decodeNetworkDocument(bytes));
        assertOnlyTypedErrors(() => openSignedDescriptor(bytes, nodeBackend));
      }),
      { numRuns: 300 },
    );
    // Mutations of real bytes: of the body straight into its parser (as if an authority had signed them),
    // and of the signed form into the verifier, which must refuse every one.
    fc.assert(
      fc.property(fc.nat(body.length - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const mutated = Uint8Array.from(body);
        mutated[index] = (mutated[index] as number) ^ flip;
        assertOnlyTypedErrors(() => decodeNetworkDocument(mutated));
        const outer = Uint8Array.from(signed);
        outer[index % outer.length] = (outer[index % outer.length] as number) ^ flip;
        assert.throws(
          () => verify(outer),
          (e: unknown) => e instanceof CodecError || e instanceof DirectoryError,
        );
      }),
      { numRuns: 300 },
    );
    for (let cut = 0; cut < body.length; cut += 7) {
      assert.throws(() => decodeNetworkDocument(body.subarray(0, cut)), CodecError, `cut at ${cut}`);
    }
    for (let cut = 0; cut < signed.length; cut += 97) {
      assert.throws(() => verify(signed.subarray(0, cut)), CodecError, `cut at ${cut}`);
    }
  });
});

describe('node descriptors', () => {
  test('round-trip and verify under the identity key they name', () => {
    const node = new TestNode('mix', 2);
    const signed = node.signed(77);
    const opened = openSignedDescriptor(signed, nodeBackend);
    assert.deepEqual(opened.descriptor, node.descriptor(77));
    assert.deepEqual(opened.id, nodeId(node.identity.publicKey));
    assert.deepEqual(opened.signed, signed);
    assert.deepEqual(decodeDescriptor(encodeDescriptor(node.descriptor(77))), node.descriptor(77));
  });

  test('signing with a key pair other than the named identity is refused', () => {
    const node = new TestNode('gateway', 0);
    const other = nodeBackend.ed25519.generateKeyPair();
    assert.throws(() => signDescriptor(node.descriptor(1), other, nodeBackend), ArgumentError);
  });

  test('IPv6 and host names parse; anything else does not', () => {
    assert.deepEqual(parseAddress('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 });
    assert.deepEqual(parseAddress('mix-1.example.net:8443'), { host: 'mix-1.example.net', port: 8443 });
    assert.deepEqual(parseAddress('192.0.2.7:1'), { host: '192.0.2.7', port: 1 });
    for (const bad of [
      '2001:db8::1:443',
      'host:65536',
      'host:080',
      'host',
      ':80',
      'user@host:80',
      'h st:80',
      'host:80 ',
    ]) {
      assert.equal(parseAddress(bad), undefined, bad);
    }
  });
});

describe('authority public keys', () => {
  test('the text form round-trips and refuses anything else', () => {
    const keys = AuthorityKeys.generate(nodeBackend);
    const text = formatAuthorityPublicKeys(keys.publicKeys);
    assert.deepEqual(parseAuthorityPublicKeys(`${text}\n`), keys.publicKeys);
    assert.throws(() => parseAuthorityPublicKeys(text.slice(0, -4)), CodecError);
    assert.throws(() => parseAuthorityPublicKeys('not base64url!'), CodecError);
  });

  test('printing the keys shows no secret', () => {
    const keys = AuthorityKeys.generate(nodeBackend);
    const printed = `${JSON.stringify(keys)} ${String(keys)}`;
    for (const secret of [keys.ed25519.secretKey, keys.mldsa65.secretKey]) {
      assert.ok(!printed.includes(Buffer.from(secret).toString('hex')));
    }
  });
});
