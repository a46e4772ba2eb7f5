/**
 * Composable codecs in the style of the MLS presentation language (RFC 9420 §2.1, after TLS 1.3 RFC 8446 §3)
 * and of ts-mls/openmls: one `Codec<T>` per wire structure, built from small ones. Vectors carry a varint
 * byte length (not an element count), optional values and booleans a one-byte flag that must be 0 or 1, and
 * struct fields follow in declaration order. Every codec is canonical: each value has exactly one encoding
 * and any bytes that decode re-encode to themselves, which is what signatures over encoded structures need.
 *
 * Failure policy. Decoders throw `CodecError` and nothing else, whatever the bytes ('truncated',
 * 'trailing_bytes', 'too_long' before anything is copied, 'invalid_value'). Encoders throw `ArgumentError`
 * for any value the decoder would refuse (out of range, too long, wrong shape): such a value is a bug in the
 * caller, never hostile input, so it gets the programming-error class and can never reach the wire. Bounds
 * given to the combinators themselves are checked when the codec is built, also with `ArgumentError`.
 */
import { assertBytes } from '../bytes.ts';
import { ArgumentError, CodecError } from '../errors.ts';
import { Reader } from './reader.ts';
import { VARINT_MAX } from './varint.ts';
import { Writer } from './writer.ts';

/** Encodes and decodes one wire structure. Invariant in `T`: a codec of 'a' | 'b' is no codec of string. */
export interface Codec<T> {
  readonly encode: (writer: Writer, value: T) => void;
  readonly decode: (reader: Reader) => T;
}

/** A codec of any type: the constraint for combinators that take several different codecs. */
export interface AnyCodec {
  readonly encode: (writer: Writer, value: never) => void;
  readonly decode: (reader: Reader) => unknown;
}

/** The type a codec carries. */
export type CodecValue<C extends AnyCodec> = ReturnType<C['decode']>;

/** The encoding of `value`, exactly sized. */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array {
  const writer = new Writer();
  try {
    codec.encode(writer, value);
  } catch (error) {
    writer.clear();
    throw error;
  }
  return writer.finish();
}

/** The value `bytes` encode; refuses anything left over with 'trailing_bytes'. */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array): T {
  const reader = new Reader(bytes);
  const value = codec.decode(reader);
  reader.end();
  return value;
}

function assertBound(argument: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new ArgumentError(argument, `must be an integer from 0 to ${max}`);
  }
}

function assertArray(value: unknown): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) throw new ArgumentError('value', 'expected an array');
}

/** MLS's one-byte flag (booleans, presence of an optional): 0 or 1, anything else refused. */
function readFlag(reader: Reader): boolean {
  const flag = reader.u8();
  if (flag > 1) throw new CodecError('invalid_value', 'a flag byte must be 0 or 1');
  return flag === 1;
}

export const u8: Codec<number> = {
  encode: (writer, value) => writer.u8(value),
  decode: (reader) => reader.u8(),
};
export const u16: Codec<number> = {
  encode: (writer, value) => writer.u16(value),
  decode: (reader) => reader.u16(),
};
export const u32: Codec<number> = {
  encode: (writer, value) => writer.u32(value),
  decode: (reader) => reader.u32(),
};
export const u64: Codec<bigint> = {
  encode: (writer, value) => writer.u64(value),
  decode: (reader) => reader.u64(),
};
/** The minimal MLS varint (RFC 9420 §2.1.2): 0 to 2^30 − 1. */
export const varint: Codec<number> = {
  encode: (writer, value) => writer.varint(value),
  decode: (reader) => reader.varint(),
};

export const bool: Codec<boolean> = {
  encode(writer, value) {
    if (typeof value !== 'boolean') throw new ArgumentError('value', 'expected a boolean');
    writer.u8(value ? 1 : 0);
  },
  decode: readFlag,
};

/** Exactly `length` bytes, no length prefix (keys, MACs, nonces). */
export function fixedBytes(length: number): Codec<Uint8Array> {
  assertBound('length', length);
  return {
    encode(writer, value) {
      assertBytes('value', value, length);
      writer.bytes(value);
    },
    decode: (reader) => reader.fixed(length),
  };
}

/** A varint byte length of at most `maxLength`, then the bytes (MLS `opaque<V>`). */
export function opaque(maxLength: number): Codec<Uint8Array> {
  assertBound('maxLength', maxLength, VARINT_MAX);
  return {
    encode: (writer, value) => writer.vector(value, maxLength),
    decode: (reader) => reader.vector(maxLength),
  };
}

const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the string; the default would drop it and break round-trips.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A string as `opaque(maxBytes)` of its UTF-8. Decoding refuses malformed UTF-8 (overlong forms, surrogates,
 * truncated sequences) rather than substituting U+FFFD; encoding refuses lone surrogates, which UTF-8 cannot
 * carry, for the same reason.
 */
export function utf8String(maxBytes: number): Codec<string> {
  const bytes = opaque(maxBytes);
  return {
    encode(writer, value) {
      if (typeof value !== 'string' || !value.isWellFormed()) {
        throw new ArgumentError('value', 'expected a well-formed string (no lone surrogates)');
      }
      bytes.encode(writer, utf8Encoder.encode(value));
    },
    decode(reader) {
      const encoded = bytes.decode(reader);
      try {
        return utf8Decoder.decode(encoded);
      } catch {
        throw new CodecError('invalid_value', 'malformed UTF-8');
      }
    },
  };
}

/**
 * MLS `optional<T>`: a flag byte, then the value when the flag is 1. `undefined` is absent; an inner codec
 * that itself decodes to `undefined` after a present flag is refused, so nested optionals stay canonical.
 */
export function optional<T>(codec: Codec<T>): Codec<T | undefined> {
  return {
    encode(writer, value) {
      if (value === undefined) {
        writer.u8(0);
        return;
      }
      writer.u8(1);
      codec.encode(writer, value);
    },
    decode(reader) {
      if (!readFlag(reader)) return undefined;
      const value = codec.decode(reader);
      if (value === undefined) throw new CodecError('invalid_value', 'a present optional holds no value');
      return value;
    },
  };
}

/**
 * An MLS vector: a varint byte length of at most `maxBytes`, then at most `maxCount` elements. Elements must
 * take at least one byte each, or the element count would not be recoverable from the byte length.
 */
export function vectorOf<T>(codec: Codec<T>, maxCount: number, maxBytes = VARINT_MAX): Codec<readonly T[]> {
  assertBound('maxCount', maxCount);
  assertBound('maxBytes', maxBytes, VARINT_MAX);
  return {
    encode(writer, values) {
      assertArray(values);
      if (values.length > maxCount) {
        throw new ArgumentError('value', `${values.length} elements exceed the maximum of ${maxCount}`);
      }
      writer.lengthPrefixed(maxBytes, () => {
        for (const value of values) {
          const before = writer.length;
          codec.encode(writer, value);
          if (writer.length === before)
            throw new ArgumentError('value', 'a vector element encoded to no bytes');
        }
      });
    },
    decode(reader) {
      const region = reader.lengthPrefixed(maxBytes);
      const values: T[] = [];
      while (region.remaining > 0) {
        if (values.length === maxCount) throw new CodecError('too_long', `more than ${maxCount} elements`);
        const before = region.remaining;
        values.push(codec.decode(region));
        if (region.remaining === before)
          throw new CodecError('invalid_value', 'a vector element took no bytes');
      }
      return values;
    },
  };
}

/** Exactly `count` elements one after the other, with no length prefix. */
export function fixedArray<T>(codec: Codec<T>, count: number): Codec<readonly T[]> {
  assertBound('count', count);
  return {
    encode(writer, values) {
      assertArray(values);
      if (values.length !== count) {
        throw new ArgumentError('value', `expected ${count} elements, got ${values.length}`);
      }
      for (const value of values) codec.encode(writer, value);
    },
    decode(reader) {
      const values: T[] = [];
      for (let i = 0; i < count; i++) values.push(codec.decode(reader));
      return values;
    },
  };
}

export type StructValue<F extends Readonly<Record<string, AnyCodec>>> = {
  readonly [K in keyof F]: CodecValue<F[K]>;
};

/**
 * Fields in declaration order, decoded into a plain object. Integer-like field names are refused: JavaScript
 * enumerates them before all others, whatever the declaration order, which would silently reorder the wire.
 */
export function struct<F extends Readonly<Record<string, AnyCodec>>>(fields: F): Codec<StructValue<F>> {
  const entries = Object.entries(fields) as [string, Codec<unknown>][];
  for (const [name] of entries) {
    if (/^\d+$/.test(name) || name === '__proto__') {
      throw new ArgumentError('fields', `field name "${name}" cannot keep its declared position`);
    }
  }
  return {
    encode(writer, value) {
      if (typeof value !== 'object' || value === null) throw new ArgumentError('value', 'expected an object');
      const record = value as Readonly<Record<string, unknown>>;
      for (const [name, codec] of entries) codec.encode(writer, record[name]);
    },
    decode(reader) {
      const value: Record<string, unknown> = {};
      for (const [name, codec] of entries) value[name] = codec.decode(reader);
      return value as StructValue<F>;
    },
  };
}

/**
 * Names for the values of an integer codec, in place of TypeScript enums: `enumeration(u16, { application: 1,
 * proposal: 2 })` carries 'application' | 'proposal'. Unknown wire values are 'invalid_value'.
 */
export function enumeration<const M extends Readonly<Record<string, number>>>(
  codec: Codec<number>,
  members: M,
): Codec<keyof M & string> {
  const byName = new Map<string, number>();
  const byValue = new Map<number, keyof M & string>();
  for (const [name, value] of Object.entries(members)) {
    if (byValue.has(value)) throw new ArgumentError('members', `two members share the value ${value}`);
    codec.encode(new Writer(), value);
    byName.set(name, value);
    byValue.set(value, name);
  }
  return {
    encode(writer, name) {
      const value = byName.get(name);
      if (value === undefined) throw new ArgumentError('value', 'not a member of the enumeration');
      codec.encode(writer, value);
    },
    decode(reader) {
      const name = byValue.get(codec.decode(reader));
      if (name === undefined) throw new CodecError('invalid_value', 'unknown enumeration value');
      return name;
    },
  };
}

export type Variant<K extends string, C extends { readonly [k in K]: AnyCodec }> = {
  [k in K]: { readonly kind: k; readonly value: CodecValue<C[k]> };
}[K];

/**
 * A tag, then the body its case names (MLS `select`): `taggedUnion(enumeration(u8, { a: 1, b: 2 }),
 * { a: codecA, b: codecB })` carries `{ kind: 'a', value } | { kind: 'b', value }`. The compiler insists
 * on a case for every tag.
 */
export function taggedUnion<K extends string, C extends { readonly [k in K]: AnyCodec }>(
  tag: Codec<K>,
  cases: C,
): Codec<Variant<K, C>> {
  const byKind = new Map(Object.entries(cases) as [string, Codec<unknown>][]);
  return {
    encode(writer, variant) {
      const codec = typeof variant === 'object' && variant !== null ? byKind.get(variant.kind) : undefined;
      if (codec === undefined) throw new ArgumentError('value', 'expected { kind, value } with a known kind');
      tag.encode(writer, variant.kind);
      codec.encode(writer, variant.value);
    },
    decode(reader) {
      const kind = tag.decode(reader);
      const codec = byKind.get(kind);
      if (codec === undefined) throw new CodecError('invalid_value', 'tag with no case');
      return { kind, value: codec.decode(reader) } as Variant<K, C>;
    },
  };
}

/** A field that must hold one value (a version, a magic number): anything else is 'invalid_value'. */
export function literal<T extends number | bigint | string | boolean, const L extends T>(
  codec: Codec<T>,
  expected: L,
): Codec<L> {
  codec.encode(new Writer(), expected);
  return {
    encode(writer, value) {
      if (value !== expected) throw new ArgumentError('value', 'does not equal the literal');
      codec.encode(writer, value);
    },
    decode(reader) {
      if (codec.decode(reader) !== expected)
        throw new CodecError('invalid_value', 'unexpected literal value');
      return expected;
    },
  };
}
