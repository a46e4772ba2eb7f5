/**
 * The services an exit gateway offers (docs/gateway.md, "Services"): each is a `RequestHandler`
 * (src/protocol/carrier.ts), encoded request in, encoded response out. Built in: `echo`, which answers with
 * the request (for tests and for clients measuring the round trip). `httpService` forwards to an HTTP
 * endpoint by `POST` with an octet-stream body, as the delivery service's `/v1/request` takes it.
 */
import { ConfigError, GatewayError } from '../errors.ts';
import type { RequestHandler } from '../protocol/carrier.ts';
import { ECHO_SERVICE } from '../protocol/service-framing.ts';

export const DEFAULT_SERVICE_TIMEOUT_MS = 10_000;
/** Larger than any reply the framing can carry (`MAX_FRAGMENTS` SURBs). */
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export const echoService: RequestHandler = async (request) => request;

export interface HttpServiceOptions {
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
}

/**
 * A service reached by `POST url` (octet-stream in and out). Throws `GatewayError('service_failed')` when
 * the endpoint cannot be reached, times out, answers other than 2xx, or answers too much.
 */
export function httpService(url: string, options: HttpServiceOptions = {}): RequestHandler {
  const timeoutMs = options.timeoutMs ?? DEFAULT_SERVICE_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return async (request) => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: Uint8Array.from(request),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      throw new GatewayError('service_failed', `the service is unreachable: ${(error as Error).name}`);
    }
    if (!response.ok || Number(response.headers.get('content-length') ?? 0) > maxBytes) {
      await response.body?.cancel();
      throw new GatewayError('service_failed', `the service answered ${response.status}`);
    }
    const body = new Uint8Array(await response.arrayBuffer());
    if (body.length > maxBytes)
      throw new GatewayError('service_failed', `the answer exceeds ${maxBytes} bytes`);
    return body;
  };
}

/**
 * Services from `--service` entries: `echo` (built in) or `name=http(s)://…` (an HTTP service). Throws
 * `ConfigError` for anything else or a name given twice.
 */
export function parseServices(
  entries: readonly string[],
  options: HttpServiceOptions = {},
): Map<string, RequestHandler> {
  const services = new Map<string, RequestHandler>();
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    const name = equals === -1 ? entry : entry.slice(0, equals);
    const target = equals === -1 ? undefined : entry.slice(equals + 1);
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) {
      throw new ConfigError('invalid_value', `service: "${name}" is not a service name (a-z, 0-9, -)`);
    }
    if (services.has(name)) throw new ConfigError('invalid_value', `service: ${name} is given twice`);
    if (target === undefined) {
      if (name !== ECHO_SERVICE) throw new ConfigError('invalid_value', `service: ${name} needs =<url>`);
      services.set(name, echoService);
      continue;
    }
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw new ConfigError('invalid_value', `service: ${name}'s target is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError('invalid_value', `service: ${name}'s URL must be http or https`);
    }
    services.set(name, httpService(url.href, options));
  }
  return services;
}
