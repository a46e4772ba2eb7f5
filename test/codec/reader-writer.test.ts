// The byte level of the codec kit: big-endian integers, the MLS varint against the RFC 9000 §16 examples as
// restricted by RFC 9420 §2.1.2 (minimal encodings only, no 8-byte form), bounded vectors, and the writer's
// buffer management.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromHex, toHex } from '../../src/bytes.ts';
import { decode, encode, Reader, VARINT_MAX, varint, Writer } from '../../src/codec/index.ts';
import { ArgumentError, CodecError, type CodecErrorReason } from '../../src/errors.ts';

function written(write: (writer: Writer) => void): string {
  const writer = new Writer();
  write(writer);
  return toHex(writer.finish());
}

function rejects(reason: CodecErrorReason, read: () => unknown): void {
  assert.throws(read, (error) => error instanceof CodecError && error.reason === reason);
}

describe('integers', () => {
  test('are written and read big-endian', () => {
    const hex = written((writer) => {
      writer.u8(0xab);
      writer.u16(0x1234);
      writer.u32(0xdeadbeef);
      writer.u64(0x0102030405060708n);
      writer.u64(0xffffffffffffffffn);
    });
    assert.equal(hex, 'ab' + '1234' + 'deadbeef' + '0102030405060708' + 'ffffffffffffffff');
    const reader = new Reader(fromHex(hex));
    assert.equal(reader.u8(), 0xab);
    assert.equal(reader.u16(), 0x1234);
    assert.equal(reader.u32(), 0xdeadbeef);
    assert.equal(reader.u64(), 0x0102030405060708n);
    assert.equal(reader.u64(), 0xffffffffffffffffn);
    reader.end();
  });

  test('out-of-range values are refused by the writer', () => {
    const writer = new Writer();
    for (const value of [-1, 256, 1.5, Number.NaN]) assert.throws(() => writer.u8(value), ArgumentError);
    assert.throws(() => writer.u16(0x10000), ArgumentError);
    assert.throws(() => writer.u32(2 ** 32), ArgumentError);
    assert.throws(() => writer.u64(1n << 64n), ArgumentError);
    assert.throws(() => writer.u64(-1n), ArgumentError);
    assert.throws(() => writer.u64(1 as unknown as bigint), ArgumentError);
    assert.equal(writer.length, 0);
  });

  test('reading past the end is truncated', () => {
    rejects('truncated', () => new Reader(fromHex('')).u8());
    rejects('truncated', () => new Reader(fromHex('01')).u16());
    rejects('truncated', () => new Reader(fromHex('010203')).u32());
    rejects('truncated', () => new Reader(fromHex('01020304050607')).u64());
  });
});

describe('varint (RFC 9000 §16 examples, MLS rules of RFC 9420 §2.1.2)', () => {
  for (const [hex, value] of [
    ['25', 37],
    ['7bbd', 15293],
    ['9d7f3e7d', 494878333],
  ] as const) {
    test(`0x${hex} is ${value} and ${value} encodes to 0x${hex}`, () => {
      const reader = new Reader(fromHex(hex));
      assert.equal(reader.varint(), value);
      reader.end();
      assert.equal(
        written((writer) => writer.varint(value)),
        hex,
      );
    });
  }

  test('the 8-byte form (0xc2197c5eff14e88c in RFC 9000) is refused', () => {
    rejects('invalid_value', () => new Reader(fromHex('c2197c5eff14e88c')).varint());
    rejects('invalid_value', () => new Reader(fromHex('c0')).varint());
  });

  test('non-minimal encodings are refused (RFC 9000 accepts 0x4025 as 37, MLS does not)', () => {
    rejects('invalid_value', () => new Reader(fromHex('4025')).varint());
    rejects('invalid_value', () => new Reader(fromHex('403f')).varint());
    rejects('invalid_value', () => new Reader(fromHex('80000000')).varint());
    rejects('invalid_value', () => new Reader(fromHex('80003fff')).varint());
  });

  test('each size switches at its minimum', () => {
    for (const [value, hex] of [
      [0, '00'],
      [63, '3f'],
      [64, '4040'],
      [16383, '7fff'],
      [16384, '80004000'],
      [VARINT_MAX, 'bfffffff'],
    ] as const) {
      assert.equal(
        written((writer) => writer.varint(value)),
        hex,
      );
      assert.equal(new Reader(fromHex(hex)).varint(), value);
    }
  });

  test('every 1- and 2-byte input decodes to the value whose encoding it is, or is refused', () => {
    const inputs = [
      ...Array.from({ length: 256 }, (_, i) => Uint8Array.of(i)),
      ...Array.from({ length: 65536 }, (_, i) => Uint8Array.of(i >> 8, i & 0xff)),
    ];
    let accepted = 0;
    for (const input of inputs) {
      let value: number;
      try {
        value = decode(varint, input);
      } catch (error) {
        assert.ok(error instanceof CodecError);
        continue;
      }
      accepted++;
      assert.deepEqual(encode(varint, value), input);
    }
    assert.equal(accepted, 64 + (16384 - 64));
  });

  test('values beyond 30 bits cannot be written', () => {
    assert.throws(() => new Writer().varint(VARINT_MAX + 1), ArgumentError);
    assert.throws(() => new Writer().varint(-1), ArgumentError);
  });

  test('a cut varint is truncated', () => {
    rejects('truncated', () => new Reader(fromHex('7b')).varint());
    rejects('truncated', () => new Reader(fromHex('9d7f3e')).varint());
  });
});

describe('vectors', () => {
  test('carry a varint length and copy their bytes out of the input', () => {
    assert.equal(
      written((writer) => writer.vector(fromHex('a1a2a3'))),
      '03a1a2a3',
    );
    const input = fromHex('03a1a2a3ff');
    const reader = new Reader(input);
    const bytes = reader.vector(3);
    input.fill(0);
    assert.equal(toHex(bytes), 'a1a2a3');
    assert.equal(bytes.buffer.byteLength, 3);
    assert.equal(reader.remaining, 1);
  });

  test('a declared length over the maximum is too_long, even when the bytes are absent', () => {
    rejects('too_long', () => new Reader(fromHex('4400')).vector(1000));
    rejects('truncated', () => new Reader(fromHex('4400')).vector(1024));
    assert.throws(() => new Writer().vector(new Uint8Array(4), 3), ArgumentError);
  });

  test('lengthPrefixed shifts its body for 2- and 4-byte lengths and bounds the reader to the region', () => {
    for (const size of [0, 63, 64, 16383, 16384, 70000]) {
      const body = Uint8Array.from({ length: size }, (_, i) => i % 251);
      const writer = new Writer();
      writer.u8(0xee);
      writer.lengthPrefixed(VARINT_MAX, () => writer.bytes(body));
      writer.u8(0xff);
      const reader = new Reader(writer.finish());
      assert.equal(reader.u8(), 0xee);
      const region = reader.lengthPrefixed(size);
      assert.deepEqual(region.fixed(size), body);
      region.end();
      assert.equal(reader.u8(), 0xff);
      reader.end();
    }
  });

  test('lengthPrefixed refuses a body over its maximum', () => {
    const writer = new Writer();
    assert.throws(() => writer.lengthPrefixed(2, () => writer.bytes(new Uint8Array(3))), ArgumentError);
    rejects('too_long', () => new Reader(fromHex('03000000')).lengthPrefixed(2));
  });
});

describe('reader', () => {
  test('end() refuses trailing bytes', () => {
    const reader = new Reader(fromHex('0102'));
    reader.u8();
    rejects('trailing_bytes', () => reader.end());
    reader.u8();
    reader.end();
  });

  test('works on a subarray without seeing the bytes around it', () => {
    const reader = new Reader(fromHex('ff0102ff').subarray(1, 3));
    assert.equal(reader.u16(), 0x0102);
    reader.end();
  });

  test('refuses a non-Uint8Array and bad lengths or maxima with ArgumentError', () => {
    assert.throws(() => new Reader([1, 2] as unknown as Uint8Array), ArgumentError);
    const reader = new Reader(fromHex('0102'));
    assert.throws(() => reader.fixed(-1), ArgumentError);
    assert.throws(() => reader.vector(Number.NaN), ArgumentError);
    assert.throws(() => reader.lengthPrefixed(1.5), ArgumentError);
    assert.equal(reader.remaining, 2);
  });
});

describe('writer', () => {
  test('grows past its initial capacity and finish() returns an exact copy, then starts over', () => {
    const writer = new Writer(1);
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    writer.bytes(data);
    writer.u32(7);
    const out = writer.finish();
    assert.equal(out.length, 1004);
    assert.equal(out.buffer.byteLength, 1004);
    assert.deepEqual(out.subarray(0, 1000), data);
    assert.equal(writer.length, 0);
    writer.u8(9);
    assert.deepEqual(writer.finish(), Uint8Array.of(9));
  });

  test('clear() empties the writer', () => {
    const writer = new Writer();
    writer.u32(1);
    writer.clear();
    assert.equal(writer.length, 0);
    assert.deepEqual(writer.finish(), new Uint8Array(0));
  });

  test('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new Writer(0), ArgumentError);
    assert.throws(() => new Writer(1.5), ArgumentError);
  });
});
