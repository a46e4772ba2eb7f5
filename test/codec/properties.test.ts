// Property tests of the codec kit on a composed structure that uses every combinator: random values
// round-trip, random and mutated bytes only ever decode (canonically) or throw CodecError, strict prefixes of
// an encoding are 'truncated' and extra bytes 'trailing_bytes'.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  bool,
  type Codec,
  type CodecValue,
  decode,
  encode,
  enumeration,
  fixedArray,
  fixedBytes,
  literal,
  opaque,
  optional,
  struct,
  taggedUnion,
  u8,
  u16,
  u32,
  u64,
  utf8String,
  VARINT_MAX,
  varint,
  vectorOf,
} from '../../src/codec/index.ts';
import { CodecError } from '../../src/errors.ts';

const message = struct({
  version: literal(u8, 1),
  kind: enumeration(u16, { alpha: 1, beta: 2, gamma: 0x300 }),
  id: fixedBytes(4),
  name: utf8String(40),
  count: varint,
  sequence: u64,
  flags: fixedArray(bool, 3),
  tags: vectorOf(opaque(8), 5, 60),
  padding: opaque(300),
  maybe: optional(u32),
  body: taggedUnion(enumeration(u8, { text: 1, ack: 2, nested: 3 }), {
    text: utf8String(100),
    ack: u16,
    nested: vectorOf(optional(u8), 10),
  }),
});
type Message = CodecValue<typeof message>;
const batch = vectorOf(message, 4);

// Decoded structs are ordinary objects; fast-check would otherwise mix in null-prototype ones.
const plain = { noNullPrototype: true };
const maybeByte = fc.option(fc.nat({ max: 0xff }), { nil: undefined });
const messageValue: fc.Arbitrary<Message> = fc.record(
  {
    version: fc.constant(1 as const),
    kind: fc.constantFrom('alpha', 'beta', 'gamma'),
    id: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    // 'binary' code points take up to 4 bytes in UTF-8: 10 of them fit in 40 bytes.
    name: fc.string({ unit: 'binary', maxLength: 10 }),
    count: fc.integer({ min: 0, max: VARINT_MAX }),
    sequence: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    flags: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
    tags: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 5 }),
    padding: fc.uint8Array({ maxLength: 300 }),
    maybe: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
    body: fc.oneof(
      fc.record(
        { kind: fc.constant('text' as const), value: fc.string({ unit: 'binary', maxLength: 25 }) },
        plain,
      ),
      fc.record({ kind: fc.constant('ack' as const), value: fc.nat({ max: 0xffff }) }, plain),
      fc.record(
        { kind: fc.constant('nested' as const), value: fc.array(maybeByte, { maxLength: 10 }) },
        plain,
      ),
    ),
  },
  plain,
);
const batchValue = fc.array(messageValue, { maxLength: 4 });

/** Random bytes, and valid encodings with up to three bytes overwritten, two cut and two added. */
function hostileBytes<T>(codec: Codec<T>, values: fc.Arbitrary<T>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc
      .tuple(
        values,
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 0xff })), { maxLength: 3 }),
        fc.nat({ max: 2 }),
        fc.uint8Array({ maxLength: 2 }),
      )
      .map(([value, edits, cut, tail]) => {
        const bytes = encode(codec, value);
        for (const [position, byte] of edits) bytes[position % bytes.length] = byte;
        return Uint8Array.from([...bytes.subarray(0, Math.max(0, bytes.length - cut)), ...tail]);
      }),
  );
}

function decodeOrCodecError(codec: Codec<unknown>, bytes: Uint8Array): void {
  let value: unknown;
  try {
    value = decode(codec, bytes);
  } catch (error) {
    assert.ok(error instanceof CodecError, `threw ${String(error)}`);
    return;
  }
  // Canonical: whatever decodes re-encodes to exactly the same bytes.
  assert.deepEqual(encode(codec, value), bytes);
}

describe('codec properties', () => {
  test('random values round-trip, and their encodings decode back to themselves', () => {
    fc.assert(
      fc.property(batchValue, (value) => {
        const bytes = encode(batch, value);
        const decoded = decode(batch, bytes);
        assert.deepEqual(decoded, value);
        assert.deepEqual(encode(batch, decoded), bytes);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: VARINT_MAX }), (n) => decode(varint, encode(varint, n)) === n),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (n) => decode(u64, encode(u64, n)) === n),
    );
  });

  function fuzz<T>(name: string, codec: Codec<T>, values: fc.Arbitrary<T>): void {
    test(`random and mutated bytes fed to the ${name} decoder yield a value or a CodecError`, () => {
      fc.assert(
        fc.property(hostileBytes(codec, values), (bytes) =>
          decodeOrCodecError(codec as Codec<unknown>, bytes),
        ),
        { numRuns: 300 },
      );
    });
  }
  // Decoders of different shapes, so that the bytes reach different failure paths.
  fuzz('varint', varint, fc.integer({ min: 0, max: VARINT_MAX }));
  fuzz('message', message, messageValue);
  fuzz('batch', batch, batchValue);
  fuzz(
    'strings',
    vectorOf(utf8String(50), 20),
    fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 20 }),
  );
  fuzz(
    'optional varints',
    optional(vectorOf(varint, 100)),
    fc.option(fc.array(fc.integer({ min: 0, max: VARINT_MAX }), { maxLength: 100 }), { nil: undefined }),
  );

  test('every strict prefix of an encoding is truncated; any extra byte is trailing_bytes', () => {
    fc.assert(
      fc.property(messageValue, fc.uint8Array({ minLength: 1, maxLength: 4 }), (value, extra) => {
        const bytes = encode(message, value);
        for (let length = 0; length < bytes.length; length++) {
          assert.throws(
            () => decode(message, bytes.subarray(0, length)),
            (error) => error instanceof CodecError && error.reason === 'truncated',
          );
        }
        assert.throws(
          () => decode(message, Uint8Array.from([...bytes, ...extra])),
          (error) => error instanceof CodecError && error.reason === 'trailing_bytes',
        );
      }),
      { numRuns: 50 },
    );
  });
});
