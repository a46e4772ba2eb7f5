/**
 * What the client SDK puts inside MLS application messages: versioned JSON, so that apps in other languages
 * can read it and later versions can add content types.
 *
 *     { "v": 1, "id": "<base64url, 16 bytes>", "sentAt": <ms since the Unix epoch>, "type": "text", "text": "…" }
 *
 * `id` is chosen by the sender once per message and survives retries, so receivers see a message once even if
 * it was posted again in a later epoch. `sentAt` is the sender's clock (for display, never trusted for order:
 * the delivery service's log gives the order). Decoding is strict: anything else is a `CodecError`.
 */
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../crypto/bytes.ts';
import { ArgumentError, CodecError } from '../errors.ts';

export const CONTENT_VERSION = 1;
export const MESSAGE_ID_LENGTH = 16;
/** Longest text, in UTF-8 bytes: what fits in the largest outer bucket with room for the envelope. */
export const MAX_TEXT_BYTES = 512 * 1024;

/** What an app sends. Only text for now; the `type` field leaves room for more. */
export interface TextContent {
  readonly text: string;
}

export type Content = TextContent;

export interface Envelope {
  readonly id: Uint8Array;
  readonly sentAt: number;
  readonly content: Content;
}

export function checkContent(content: unknown): Content {
  if (typeof content !== 'object' || content === null)
    throw new ArgumentError('content', 'expected { text }');
  const { text } = content as Record<string, unknown>;
  if (typeof text !== 'string' || !text.isWellFormed()) {
    throw new ArgumentError('content.text', 'expected a well-formed string');
  }
  if (utf8(text).length > MAX_TEXT_BYTES) {
    throw new ArgumentError('content.text', `longer than ${MAX_TEXT_BYTES} UTF-8 bytes`);
  }
  return { text };
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const content = checkContent(envelope.content);
  return utf8(
    JSON.stringify({
      v: CONTENT_VERSION,
      id: toBase64Url(envelope.id),
      sentAt: envelope.sentAt,
      type: 'text',
      text: content.text,
    }),
  );
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new CodecError('invalid_value', 'application content is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CodecError('invalid_value', 'application content is not an object');
  }
  const { v, id, sentAt, type, text } = value as Record<string, unknown>;
  if (v !== CONTENT_VERSION) throw new CodecError('invalid_value', 'unknown content version');
  if (type !== 'text' || typeof text !== 'string')
    throw new CodecError('invalid_value', 'unknown content type');
  if (typeof sentAt !== 'number' || !Number.isSafeInteger(sentAt) || sentAt < 0) {
    throw new CodecError('invalid_value', 'invalid sentAt');
  }
  let idBytes: Uint8Array;
  try {
    idBytes = typeof id === 'string' ? fromBase64Url(id) : new Uint8Array(0);
  } catch {
    throw new CodecError('invalid_value', 'invalid message id');
  }
  if (idBytes.length !== MESSAGE_ID_LENGTH) throw new CodecError('invalid_value', 'invalid message id');
  return { id: idBytes, sentAt, content: { text } };
}
