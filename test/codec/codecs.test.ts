// Each combinator of the codec kit on hand-checked encodings: what it writes, that it reads it back, and how
// it refuses bad input (CodecError with its reason) and bad values (ArgumentError).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromHex, toHex } from '../../src/bytes.ts';
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
  varint,
  vectorOf,
} from '../../src/codec/index.ts';
import { ArgumentError, CodecError, type CodecErrorReason } from '../../src/errors.ts';

function roundTrip<T>(codec: Codec<T>, value: T, hex: string): void {
  assert.equal(toHex(encode(codec, value)), hex);
  assert.deepEqual(decode(codec, fromHex(hex)), value);
}

function rejects<T>(codec: Codec<T>, hex: string, reason: CodecErrorReason): void {
  assert.throws(
    () => decode(codec, fromHex(hex)),
    (error) => error instanceof CodecError && error.reason === reason,
  );
}

function refuses<T>(codec: Codec<T>, value: T): void {
  assert.throws(() => encode(codec, value), ArgumentError);
}

describe('top level', () => {
  test('decode refuses trailing bytes and truncation', () => {
    rejects(u16, '000100', 'trailing_bytes');
    rejects(u16, '00', 'truncated');
  });

  test('decode refuses a non-Uint8Array with ArgumentError', () => {
    assert.throws(() => decode(u8, 'ab' as unknown as Uint8Array), ArgumentError);
  });
});

describe('integers and bool', () => {
  test('round-trip', () => {
    roundTrip(u8, 200, 'c8');
    roundTrip(u16, 0xbeef, 'beef');
    roundTrip(u32, 0xcafebabe, 'cafebabe');
    roundTrip(u64, 0xfedcba9876543210n, 'fedcba9876543210');
    roundTrip(varint, 15293, '7bbd');
    roundTrip(bool, false, '00');
    roundTrip(bool, true, '01');
  });

  test('bool accepts only 0 and 1', () => {
    rejects(bool, '02', 'invalid_value');
    rejects(bool, 'ff', 'invalid_value');
    refuses(bool, 1 as unknown as boolean);
  });
});

describe('fixedBytes and opaque', () => {
  test('fixedBytes has no prefix and insists on its length', () => {
    roundTrip(fixedBytes(3), fromHex('010203'), '010203');
    roundTrip(fixedBytes(0), new Uint8Array(0), '');
    refuses(fixedBytes(3), fromHex('0102'));
    rejects(fixedBytes(3), '0102', 'truncated');
  });

  test('opaque carries a varint length and a declared maximum', () => {
    roundTrip(opaque(10), fromHex('aabb'), '02aabb');
    roundTrip(opaque(10), new Uint8Array(0), '00');
    const long = new Uint8Array(300).fill(7);
    roundTrip(opaque(300), long, `412c${'07'.repeat(300)}`);
    refuses(opaque(299), long);
    rejects(opaque(299), `412c${'07'.repeat(300)}`, 'too_long');
    rejects(opaque(10), '05aabb', 'truncated');
  });

  test('bounds are checked when the codec is built', () => {
    assert.throws(() => opaque(2 ** 30), ArgumentError);
    assert.throws(() => fixedBytes(-1), ArgumentError);
    assert.throws(() => vectorOf(u8, 1.5), ArgumentError);
  });
});

describe('utf8String', () => {
  test('round-trips text, counting the maximum in bytes', () => {
    roundTrip(utf8String(10), 'héllo', '0668c3a96c6c6f');
    roundTrip(utf8String(4), '🙂', '04f09f9982');
    refuses(utf8String(3), 'éé');
  });

  test('keeps a leading byte-order mark', () => {
    roundTrip(utf8String(10), '\uFEFFa', '04efbbbf61');
  });

  test('refuses malformed UTF-8: overlong, surrogate, cut, stray continuation', () => {
    for (const hex of ['02c080', '03eda080', '02e282', '0180', '01ff'])
      rejects(utf8String(10), hex, 'invalid_value');
  });

  test('refuses to encode a lone surrogate, which would not survive the round-trip', () => {
    refuses(utf8String(10), '\uD800');
    refuses(utf8String(10), 'a\uDC00b');
  });
});

describe('optional', () => {
  test('is a 0/1 flag then the value', () => {
    roundTrip(optional(u16), undefined, '00');
    roundTrip(optional(u16), 0x0102, '010102');
    rejects(optional(u16), '02', 'invalid_value');
    rejects(optional(u16), '0101', 'truncated');
  });

  test('nested optionals have a single encoding per value', () => {
    const nested = optional(optional(u8));
    roundTrip(nested, undefined, '00');
    roundTrip(nested, 5, '010105');
    rejects(nested, '0100', 'invalid_value');
  });
});

describe('vectorOf', () => {
  const shorts = vectorOf(u16, 3, 6);

  test('is a varint byte length then the elements', () => {
    roundTrip(shorts, [], '00');
    roundTrip(shorts, [1, 0xffff], '040001ffff');
    roundTrip(vectorOf(opaque(4), 10), [fromHex('aa'), new Uint8Array(0)], '0301aa00');
  });

  test('uses 2-byte lengths for long element lists', () => {
    const values = Array.from({ length: 100 }, (_, i) => i);
    const bytes = encode(vectorOf(u8, 100), values);
    assert.equal(toHex(bytes.subarray(0, 2)), '4064');
    assert.deepEqual(decode(vectorOf(u8, 100), bytes), values);
  });

  test('refuses too many elements or bytes, on either side', () => {
    refuses(shorts, [1, 2, 3, 4]);
    refuses(vectorOf(u16, 10, 4), [1, 2, 3]);
    rejects(vectorOf(u8, 2), '03010203', 'too_long');
    rejects(shorts, `08${'0001'.repeat(4)}`, 'too_long');
  });

  test('refuses an element cut by the end of the vector', () => {
    rejects(shorts, '03000100', 'truncated');
    rejects(shorts, '0400', 'truncated');
  });

  test('refuses elements that take no bytes, which the length could not count', () => {
    refuses(vectorOf(fixedBytes(0), 5), [new Uint8Array(0)]);
    roundTrip(vectorOf(fixedBytes(0), 5), [], '00');
    rejects(vectorOf(fixedBytes(0), 5), '0100', 'invalid_value');
  });

  test('refuses a non-array', () => {
    refuses(shorts, 'ab' as unknown as number[]);
  });
});

describe('fixedArray', () => {
  test('is exactly n elements with no prefix', () => {
    roundTrip(fixedArray(u16, 2), [1, 2], '00010002');
    refuses(fixedArray(u16, 2), [1]);
    rejects(fixedArray(u16, 2), '000100', 'truncated');
  });
});

describe('struct', () => {
  const header = struct({ version: u8, id: fixedBytes(2), name: utf8String(8), flag: optional(bool) });

  test('encodes fields in declaration order and decodes a plain object with just those fields', () => {
    const value = { version: 1, id: fromHex('abcd'), name: 'ok', flag: true };
    roundTrip(header, value, '01abcd' + '026f6b' + '0101');
    assert.deepEqual(Object.keys(decode(header, encode(header, value))), ['version', 'id', 'name', 'flag']);
    const extra = { ...value, ignored: 5 };
    assert.equal(toHex(encode(header, extra)), '01abcd026f6b0101');
  });

  test('nests', () => {
    const outer = struct({ header, count: varint, items: vectorOf(header, 2) });
    const inner = { version: 2, id: fromHex('0000'), name: '', flag: undefined };
    roundTrip(
      outer,
      { header: inner, count: 64, items: [inner] },
      '020000' + '0000' + '4040' + '05' + '0200000000',
    );
  });

  test('refuses a missing field or a non-object', () => {
    refuses(header, { version: 1, id: fromHex('abcd'), flag: undefined } as unknown as CodecValue<
      typeof header
    >);
    refuses(struct({ a: u8 }), null as unknown as { a: number });
  });

  test('refuses field names that JavaScript would reorder', () => {
    assert.throws(() => struct({ b: u8, 1: u8 }), ArgumentError);
  });
});

describe('enumeration, taggedUnion, literal', () => {
  const contentType = enumeration(u8, { application: 1, proposal: 2, commit: 3 });

  test('enumeration maps names to wire values', () => {
    roundTrip(contentType, 'commit', '03');
    rejects(contentType, '00', 'invalid_value');
    rejects(contentType, '04', 'invalid_value');
    refuses(contentType, 'welcome' as 'commit');
  });

  test('enumeration refuses shared or unencodable values when built', () => {
    assert.throws(() => enumeration(u8, { a: 1, b: 1 }), ArgumentError);
    assert.throws(() => enumeration(u8, { a: 256 }), ArgumentError);
  });

  const command = taggedUnion(enumeration(u8, { nextHop: 1, delay: 2, recipient: 3 }), {
    nextHop: fixedBytes(2),
    delay: u32,
    recipient: struct({ id: opaque(4) }),
  });

  test('taggedUnion writes the tag then the case body', () => {
    roundTrip(command, { kind: 'nextHop', value: fromHex('0102') }, '010102');
    roundTrip(command, { kind: 'delay', value: 1000 }, '02000003e8');
    roundTrip(command, { kind: 'recipient', value: { id: fromHex('ff') } }, '0301ff');
    rejects(command, '04', 'invalid_value');
    rejects(command, '0201', 'truncated');
    refuses(command, { kind: 'other', value: 1 } as unknown as { kind: 'delay'; value: number });
    refuses(command, null as unknown as { kind: 'delay'; value: number });
  });

  test('taggedUnion refuses a tag without a case', () => {
    const open = taggedUnion(utf8String(5), { a: u8 });
    roundTrip(open, { kind: 'a', value: 1 }, '016101');
    rejects(open, '016201', 'invalid_value');
  });

  test('literal fixes a field to one value', () => {
    const version = literal(u16, 1);
    roundTrip(version, 1, '0001');
    rejects(version, '0002', 'invalid_value');
    refuses(version, 2 as 1);
    assert.throws(() => literal(u8, 300), ArgumentError);
  });
});
