// The packet geometry: sizes derived as Katzenpost derives them (checked against numbers worked out by hand
// from its geo package), validation of geometries received from elsewhere, and the geometry hash, checked
// against a canonical CBOR encoding assembled independently of the implementation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { blake2b } from '@noble/hashes/blake2.js';
import { fromHex, toHex } from '../../src/bytes.ts';
import { SphinxError } from '../../src/errors.ts';
import { Geometry, type GeometryFields, MAX_HOPS } from '../../src/sphinx/index.ts';

function invalidGeometry(operation: () => unknown): boolean {
  try {
    operation();
  } catch (error) {
    return error instanceof SphinxError && error.reason === 'invalid_geometry';
  }
  return false;
}

const vectorsGeometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 103,
  withSurb: false,
  nrHops: 5,
});

describe('derived sizes', () => {
  test("the Katzenpost vectors' geometry: 611-byte packets, 476-byte header", () => {
    assert.deepEqual(vectorsGeometry.toJSON(), {
      packetLength: 611,
      nrHops: 5,
      headerLength: 476,
      routingInfoLength: 410,
      perHopRoutingInfoLength: 82,
      surbLength: 572,
      sphinxPlaintextHeaderLength: 2,
      payloadTagLength: 32,
      forwardPayloadLength: 103,
      userForwardPayloadLength: 103,
      nextNodeHopLength: 65,
      sprpKeyMaterialLength: 64,
      nikeName: 'x25519',
      kemName: '',
    });
  });

  test('the default network geometry (X25519, 2,000 bytes with a SURB, 5 hops): 3,082-byte packets', () => {
    const geometry = Geometry.create({
      scheme: 'x25519',
      userForwardPayloadLength: 2000,
      withSurb: true,
      nrHops: 5,
    });
    assert.equal(geometry.forwardPayloadLength, 2000 + 2 + 572);
    assert.equal(geometry.packetLength, 3082);
    assert.ok(geometry.withSurb);
  });

  test('KEM Sphinx carries one ciphertext per hop in the routing information', () => {
    const mlkem = Geometry.create({
      scheme: 'MLKEM768',
      userForwardPayloadLength: 2000,
      withSurb: true,
      nrHops: 5,
    });
    assert.equal(mlkem.perHopRoutingInfoLength, 82 + 1088);
    assert.equal(mlkem.headerLength, 2 + 1088 + 5 * 1170 + 32);
    assert.equal(mlkem.packetLength, 16_074);
    assert.equal(mlkem.commandsLength, 82);
    const xwing = Geometry.create({
      scheme: 'XWING',
      userForwardPayloadLength: 2000,
      withSurb: true,
      nrHops: 5,
    });
    assert.equal(xwing.perHopRoutingInfoLength, 82 + 1120);
    assert.equal(xwing.packetLength, 16_458);
    assert.equal(xwing.kemName, 'XWING');
    assert.equal(xwing.nikeName, '');
  });
});

describe('validation', () => {
  test('a geometry read back from its fields is the same geometry', () => {
    const copy = Geometry.fromFields(JSON.parse(JSON.stringify(vectorsGeometry)) as GeometryFields);
    assert.deepEqual(copy.toJSON(), vectorsGeometry.toJSON());
    assert.deepEqual(copy.hash(), vectorsGeometry.hash());
  });

  test('any size that the choices do not derive is refused', () => {
    const fields = vectorsGeometry.toJSON();
    for (const key of Object.keys(fields) as (keyof GeometryFields)[]) {
      if (key === 'nikeName' || key === 'kemName' || key === 'userForwardPayloadLength') continue;
      const value = fields[key] as number;
      assert.ok(
        invalidGeometry(() => Geometry.fromFields({ ...fields, [key]: value + 1 })),
        key,
      );
    }
  });

  test('scheme names: exactly one, known, of the right kind', () => {
    const fields = vectorsGeometry.toJSON();
    assert.ok(invalidGeometry(() => Geometry.fromFields({ ...fields, kemName: 'MLKEM768' })));
    assert.ok(invalidGeometry(() => Geometry.fromFields({ ...fields, nikeName: '' })));
    assert.ok(invalidGeometry(() => Geometry.fromFields({ ...fields, nikeName: 'x448' })));
    assert.ok(invalidGeometry(() => Geometry.fromFields({ ...fields, nikeName: '', kemName: 'x25519' })));
    assert.ok(invalidGeometry(() => Geometry.fromFields({ ...fields, nikeName: 'MLKEM768' })));
  });

  test('hop counts and payload lengths out of range are refused', () => {
    const choices = { scheme: 'x25519', userForwardPayloadLength: 100, withSurb: false, nrHops: 5 } as const;
    assert.ok(invalidGeometry(() => Geometry.create({ ...choices, nrHops: 0 })));
    assert.ok(invalidGeometry(() => Geometry.create({ ...choices, nrHops: MAX_HOPS + 1 })));
    assert.ok(invalidGeometry(() => Geometry.create({ ...choices, nrHops: 2.5 })));
    assert.ok(invalidGeometry(() => Geometry.create({ ...choices, userForwardPayloadLength: 0 })));
    assert.ok(invalidGeometry(() => Geometry.create({ ...choices, userForwardPayloadLength: 2 ** 20 })));
    assert.ok(invalidGeometry(() => Geometry.create({ ...choices, scheme: 'x448' as 'x25519' })));
    assert.equal(Geometry.create({ ...choices, nrHops: MAX_HOPS }).nrHops, MAX_HOPS);
  });
});

describe('hash', () => {
  test("BLAKE2b-256 of the canonical CBOR of Katzenpost's Geometry struct", () => {
    // The 14 fields as a CBOR map keyed by Go field names, in length-first key order (RFC 8949 §4.2.3),
    // assembled by a separate script; the digest is BLAKE2b-256 of these bytes.
    const canonicalCbor = fromHex(
      'ae664e72486f707305674b454d4e616d6560684e494b454e616d65667832353531396a535552424c656e67746819023c6c4865616465724c656e6774681901dc6c5061636b65744c656e677468190263705061796c6f61645461674c656e6774681820714e6578744e6f6465486f704c656e677468184171526f7574696e67496e666f4c656e67746819019a74466f72776172645061796c6f61644c656e677468186775535052504b65794d6174657269616c4c656e677468184077506572486f70526f7574696e67496e666f4c656e6774681852781855736572466f72776172645061796c6f61644c656e6774681867781b537068696e78506c61696e746578744865616465724c656e67746802',
    );
    assert.deepEqual(vectorsGeometry.hash(), blake2b(canonicalCbor, { dkLen: 32 }));
    // The same digest from Python's hashlib.blake2b(digest_size=32).
    assert.equal(
      toHex(vectorsGeometry.hash()),
      'b1af317e0856f518448db3e44337d1b7e11b9708e3fa14152f65d9623f4368dc',
    );
  });

  test('differs whenever any choice differs', () => {
    const base = { scheme: 'x25519', userForwardPayloadLength: 103, withSurb: false, nrHops: 5 } as const;
    const variants = [
      base,
      { ...base, withSurb: true },
      { ...base, nrHops: 4 },
      { ...base, userForwardPayloadLength: 104 },
      { ...base, scheme: 'MLKEM768' },
      { ...base, scheme: 'XWING' },
    ] as const;
    const hashes = new Set(variants.map((choices) => toHex(Geometry.create(choices).hash())));
    assert.equal(hashes.size, variants.length);
  });
});
