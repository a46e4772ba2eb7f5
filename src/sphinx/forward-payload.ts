/**
 * The plaintext layout of a forward payload in a geometry built `withSurb`, as Katzenpost's mix servers parse
 * it (`ParseForwardPacket` in server/internal/packet): flags (0 = no SURB, 1 = SURB) ‖ reserved zero byte ‖
 * SURB (all zero when absent) ‖ the user's payload, exactly `userForwardPayloadLength` bytes (shorter payloads
 * are zero-padded; framing above this layer says where a message ends).
 */
import { ArgumentError, CodecError, SphinxError } from '../errors.ts';
import type { Geometry } from './geometry.ts';

const FLAGS_NO_SURB = 0;
const FLAGS_SURB = 1;

function requireSurbGeometry(geometry: Geometry): void {
  if (!geometry.withSurb) {
    throw new SphinxError(
      'invalid_geometry',
      'this geometry was not built withSurb, its payloads have no SURB slot',
    );
  }
}

/** Lays out `userPayload` (at most `userForwardPayloadLength` bytes) and an optional SURB into a forward payload. */
export function encodeForwardPayload(
  geometry: Geometry,
  userPayload: Uint8Array,
  surb?: Uint8Array,
): Uint8Array {
  requireSurbGeometry(geometry);
  if (!(userPayload instanceof Uint8Array)) throw new ArgumentError('userPayload', 'expected a Uint8Array');
  if (userPayload.length > geometry.userForwardPayloadLength) {
    throw new SphinxError(
      'payload_too_long',
      `${userPayload.length} bytes, the geometry carries ${geometry.userForwardPayloadLength}`,
    );
  }
  if (surb !== undefined && (!(surb instanceof Uint8Array) || surb.length !== geometry.surbLength)) {
    throw new SphinxError('bad_length', `a SURB of this geometry is ${geometry.surbLength} bytes`);
  }
  const out = new Uint8Array(geometry.forwardPayloadLength);
  const headerLength = geometry.sphinxPlaintextHeaderLength;
  out[0] = surb ? FLAGS_SURB : FLAGS_NO_SURB;
  if (surb) out.set(surb, headerLength);
  out.set(userPayload, headerLength + geometry.surbLength);
  return out;
}

/** Splits a final hop's payload into the user's bytes and the SURB to answer with, if any. Throws `CodecError`. */
export function decodeForwardPayload(
  geometry: Geometry,
  payload: Uint8Array,
): { userPayload: Uint8Array; surb: Uint8Array | undefined } {
  requireSurbGeometry(geometry);
  if (!(payload instanceof Uint8Array) || payload.length !== geometry.forwardPayloadLength) {
    throw new CodecError(
      'truncated',
      `a forward payload of this geometry is ${geometry.forwardPayloadLength} bytes`,
    );
  }
  if (payload[1] !== 0) throw new CodecError('invalid_value', 'the reserved byte is not zero');
  const headerLength = geometry.sphinxPlaintextHeaderLength;
  const surbEnd = headerLength + geometry.surbLength;
  const flags = payload[0];
  if (flags !== FLAGS_NO_SURB && flags !== FLAGS_SURB) throw new CodecError('invalid_value', 'unknown flags');
  return {
    userPayload: payload.slice(surbEnd),
    surb: flags === FLAGS_SURB ? payload.slice(headerLength, surbEnd) : undefined,
  };
}
