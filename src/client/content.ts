/**
 * What the client SDK puts inside MLS application messages: versioned JSON, so that apps in other languages
 * can read it and later versions can add content types.
 *
 *     { "v": 1, "id": "<base64url, 16 bytes>", "sentAt": <ms since the Unix epoch>, "type": "text", "text": "…" }
 *     { "v": 1, "id": "…", "sentAt": …, "type": "wellness", "wellness": { "kind": "insights", … } }
 *
 * `id` is chosen by the sender once per message and survives retries, so receivers see a message once even if
 * it was posted again in a later epoch. `sentAt` is the sender's clock (for display, never trusted for order:
 * the delivery service's log gives the order). `wellness` items are the wellness layer's (wellness/items.ts).
 * Decoding is strict: anything else is a `CodecError`, which a receiver drops — a client that predates a
 * type drops that type's messages the same way, so new types never break old clients.
 */
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes.ts';
import { ArgumentError, CodecError } from '../errors.ts';
import { decodeWellnessItem, MAX_WELLNESS_ITEM_BYTES, type WellnessItem } from './wellness/items.ts';

export const CONTENT_VERSION = 1;
export const MESSAGE_ID_LENGTH = 16;
/** Longest text, in UTF-8 bytes: what fits in the largest outer bucket with room for the envelope. */
export const MAX_TEXT_BYTES = 512 * 1024;
/** Room for the envelope's own fields around a wellness item. */
const ENVELOPE_OVERHEAD_BYTES = 256;

/** A chat message. (`wellness?: never` lets apps test `content.text !== undefined` on any `Content`.) */
export interface TextContent {
  readonly text: string;
  readonly wellness?: never;
}

/** An item of the wellness layer (src/client/wellness): insights, a reminder, a check-in or its answer. */
export interface WellnessContent {
  readonly wellness: WellnessItem;
  readonly text?: never;
}

export type Content = TextContent | WellnessContent;

export interface Envelope {
  readonly id: Uint8Array;
  readonly sentAt: number;
  readonly content: Content;
}

export function isText(content: Content): content is TextContent {
  return 'text' in content;
}

function checkWellness(item: unknown): WellnessContent {
  let json: string | undefined;
  try {
    json = JSON.stringify(item);
  } catch {
    throw new ArgumentError('content.wellness', 'not serialisable as JSON');
  }
  if (utf8(json ?? '').length > MAX_WELLNESS_ITEM_BYTES) {
    throw new ArgumentError('content.wellness', `longer than ${MAX_WELLNESS_ITEM_BYTES} bytes`);
  }
  try {
    return { wellness: decodeWellnessItem(item) };
  } catch (error) {
    if (error instanceof CodecError) throw new ArgumentError('content.wellness', error.message);
    throw error;
  }
}

export function checkContent(content: unknown): Content {
  if (typeof content !== 'object' || content === null)
    throw new ArgumentError('content', 'expected { text } or { wellness }');
  const { text, wellness } = content as Record<string, unknown>;
  if (wellness !== undefined) return checkWellness(wellness);
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
  const common = { v: CONTENT_VERSION, id: toBase64Url(envelope.id), sentAt: envelope.sentAt };
  return utf8(
    JSON.stringify(
      isText(content)
        ? { ...common, type: 'text', text: content.text }
        : { ...common, type: 'wellness', wellness: content.wellness },
    ),
  );
}

function decodeContent(type: unknown, text: unknown, wellness: unknown, size: number): Content {
  if (type === 'text' && typeof text === 'string') return { text };
  if (type === 'wellness') {
    if (size > MAX_WELLNESS_ITEM_BYTES + ENVELOPE_OVERHEAD_BYTES) {
      throw new CodecError('too_long', 'wellness item too large');
    }
    return { wellness: decodeWellnessItem(wellness) };
  }
  throw new CodecError('invalid_value', 'unknown content type');
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
  const { v, id, sentAt, type, text, wellness } = value as Record<string, unknown>;
  if (v !== CONTENT_VERSION) throw new CodecError('invalid_value', 'unknown content version');
  const content = decodeContent(type, text, wellness, bytes.length);
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
  return { id: idBytes, sentAt, content };
}
