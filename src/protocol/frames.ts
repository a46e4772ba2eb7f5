/**
 * The direct carrier's framing (docs/delivery.md, "Direct carrier"): one WebSocket binary message per frame.
 * A WebSocket carries many requests at once, so requests and responses carry the client's request id; pushes
 * carry none. The payload is a delivery-protocol message (messages.ts), never interpreted here.
 *
 * ```
 * Frame = u8 type ‖ body
 *   1 request    u32 id ‖ payload (the rest)
 *   2 response   u32 id ‖ payload
 *   3 push       payload
 * ```
 */
import { Reader, Writer } from '../codec/index.ts';
import { CodecError } from '../errors.ts';

export type Frame =
  | { readonly type: 'request'; readonly id: number; readonly payload: Uint8Array }
  | { readonly type: 'response'; readonly id: number; readonly payload: Uint8Array }
  | { readonly type: 'push'; readonly payload: Uint8Array };

const TYPES = { request: 1, response: 2, push: 3 } as const;
/** Bytes a frame adds to its payload, at most. */
export const FRAME_OVERHEAD = 5;
/** Request ids wrap around at this value. */
export const MAX_REQUEST_ID = 0xffff_ffff;

export function encodeFrame(frame: Frame): Uint8Array {
  const writer = new Writer(frame.payload.length + FRAME_OVERHEAD);
  writer.u8(TYPES[frame.type]);
  if (frame.type !== 'push') writer.u32(frame.id);
  writer.bytes(frame.payload);
  return writer.finish();
}

/** Decodes one frame; throws `CodecError` and nothing else. The payload is a view into `bytes`. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const reader = new Reader(bytes);
  const type = reader.u8();
  switch (type) {
    case TYPES.request:
    case TYPES.response: {
      const id = reader.u32();
      return { type: type === TYPES.request ? 'request' : 'response', id, payload: bytes.subarray(5) };
    }
    case TYPES.push:
      return { type: 'push', payload: bytes.subarray(1) };
    default:
      throw new CodecError('invalid_value', 'unknown frame type');
  }
}
