/**
 * umbra's binary codec kit, from which every wire format is built (Sphinx routing commands, the delivery
 * protocol, network documents). It follows the MLS presentation language (RFC 9420 §2.1): big-endian
 * integers, the minimal 30-bit varint of RFC 9420 §2.1.2, varint-length-prefixed vectors, one-byte
 * optional flags. Decoders throw `CodecError` and nothing else; encoders refuse undecodable values with
 * `ArgumentError` (see codecs.ts for the policy).
 */
export type { AnyCodec, Codec, CodecValue, StructValue, Variant } from './codecs.ts';
export {
  bool,
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
} from './codecs.ts';
export { Reader } from './reader.ts';
export { VARINT_MAX } from './varint.ts';
export { Writer } from './writer.ts';
