/**
 * The directory's HTTP API as nodes and clients call it, with the standard `fetch` (Node ≥ 18 and browsers):
 * register a signed descriptor, and fetch and verify the network document of the current or a given epoch.
 * The authority's refusals come back as `DirectoryError` with the authority's reason; network failures,
 * timeouts and unexpected answers as `DirectoryError('unavailable')`. Responses are read up to a size limit,
 * and a document is returned only after `verifyNetworkDocument` accepted it: the transport is not trusted.
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { DirectoryError, type DirectoryErrorReason } from '../errors.ts';
import {
  MAX_SIGNED_DOCUMENT_BYTES,
  type NetworkDocument,
  type VerifyDocumentOptions,
  verifyNetworkDocument,
} from './document.ts';

const REASONS: ReadonlySet<string> = new Set<DirectoryErrorReason>([
  'unsigned',
  'bad_signature',
  'unsupported_version',
  'wrong_geometry',
  'expired',
  'not_yet_valid',
  'invalid_descriptor',
  'wrong_epoch',
  'conflict',
  'not_allowed',
  'too_large',
  'not_found',
  'unavailable',
]);

export const DEFAULT_DIRECTORY_TIMEOUT_MS = 10_000;

export interface DirectoryRequestOptions {
  /** Default `DEFAULT_DIRECTORY_TIMEOUT_MS`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface FetchDocumentOptions extends DirectoryRequestOptions, Omit<VerifyDocumentOptions, 'now'> {
  /** Default 'current'. */
  readonly epoch?: number | 'current';
  /** The verifier's clock; default Date.now(). */
  readonly now?: number;
  readonly backend?: CryptoBackend;
}

export interface RegistrationReceipt {
  /** The node id (hex) and epoch the authority registered. */
  readonly id: string;
  readonly epoch: number;
}

function endpoint(base: string | URL, path: string): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/$/, '')}${path}`;
  return url;
}

async function request(url: URL, init: RequestInit, options: DirectoryRequestOptions): Promise<Response> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_DIRECTORY_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    return await fetch(url, { ...init, signal, redirect: 'error' });
  } catch (error) {
    // fetch reports every network failure as a TypeError; the system error code is in its cause.
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    const detail = typeof cause === 'string' ? cause : (error as Error).name;
    throw new DirectoryError('unavailable', `cannot reach the directory at ${url.origin}: ${detail}`);
  }
}

/** Reads at most `maxBytes` of a response body, or throws 'too_large'. */
async function readLimited(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new DirectoryError('too_large', `the directory's answer exceeds ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  // getReader rather than async iteration, which some browsers' ReadableStream still lacks.
  const reader = response.body?.getReader();
  try {
    for (;;) {
      const next = await reader?.read();
      if (next === undefined || next.done) break;
      length += next.value.length;
      if (length > maxBytes) {
        await reader?.cancel();
        throw new DirectoryError('too_large', `the directory's answer exceeds ${maxBytes} bytes`);
      }
      chunks.push(next.value);
    }
  } catch (error) {
    if (error instanceof DirectoryError) throw error;
    throw new DirectoryError('unavailable', 'the directory’s answer was cut short');
  }
  const body = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/** Turns an error answer (JSON `{ error: reason }`) into the matching `DirectoryError`. */
async function refusal(response: Response): Promise<DirectoryError> {
  let reason: string | undefined;
  let message = `the directory answered ${response.status}`;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(await readLimited(response, 4096)));
    const error = (parsed as { error?: unknown }).error;
    const text = (parsed as { message?: unknown }).message;
    if (typeof error === 'string' && REASONS.has(error)) reason = error;
    if (typeof text === 'string') message = `${message}: ${text.slice(0, 200)}`;
  } catch {
    // Not one of the directory's JSON answers: a proxy's page or a truncated body. The status says enough.
  }
  return new DirectoryError((reason ?? 'unavailable') as DirectoryErrorReason, message);
}

/** Registers a descriptor made with `signDescriptor`. */
export async function registerDescriptor(
  directoryUrl: string | URL,
  signedDescriptor: Uint8Array,
  options: DirectoryRequestOptions = {},
): Promise<RegistrationReceipt> {
  const response = await request(
    endpoint(directoryUrl, '/v1/register'),
    {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Uint8Array.from(signedDescriptor),
    },
    options,
  );
  if (!response.ok) throw await refusal(response);
  const receipt: unknown = JSON.parse(new TextDecoder().decode(await readLimited(response, 4096)));
  const { id, epoch } = receipt as { id?: unknown; epoch?: unknown };
  if (typeof id !== 'string' || typeof epoch !== 'number') {
    throw new DirectoryError('unavailable', 'the directory’s receipt is malformed');
  }
  return { id, epoch };
}

/** Fetches the signed document bytes (unverified): for relaying them to others who verify them. */
export async function fetchSignedNetworkDocument(
  directoryUrl: string | URL,
  epoch: number | 'current' = 'current',
  options: DirectoryRequestOptions = {},
): Promise<Uint8Array> {
  const response = await request(endpoint(directoryUrl, `/v1/document/${epoch}`), { method: 'GET' }, options);
  if (!response.ok) throw await refusal(response);
  return readLimited(response, MAX_SIGNED_DOCUMENT_BYTES);
}

/** Fetches a network document and verifies it against the pinned authority keys and the caller's geometry. */
export async function fetchNetworkDocument(
  directoryUrl: string | URL,
  options: FetchDocumentOptions,
): Promise<{ readonly document: NetworkDocument; readonly bytes: Uint8Array }> {
  const bytes = await fetchSignedNetworkDocument(directoryUrl, options.epoch ?? 'current', options);
  const document = verifyNetworkDocument(bytes, { ...options, now: options.now ?? Date.now() });
  if (options.epoch !== undefined && options.epoch !== 'current' && document.epoch !== options.epoch) {
    throw new DirectoryError('not_found', `asked for epoch ${options.epoch}, got ${document.epoch}`);
  }
  return { document, bytes };
}
