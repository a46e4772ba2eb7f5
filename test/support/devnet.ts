/**
 * What the tests on the multi-process development network share: the network itself (src/devnet
 * 'child-processes': a directory, 2 gateways, 3 layers × 2 mix nodes, every role its own process) and a
 * recording echo service over HTTP behind its gateways. A gateway offers the service to clients with
 * `--service=<name>=<url>` (src/gateway/services.ts); it answers every request with its own body and tells
 * the test each body it receives (duplicates included), so a test can count what reached the service.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Devnet, type DevnetOptions, startDevnet } from '../../src/devnet/index.ts';

/** The multi-process devnet of 2 gateways and 3 layers × 2 mixes, with the test's mixing parameters. */
export function startMultiProcessDevnet(
  dataDir: string,
  options: Omit<DevnetOptions, 'dataDir' | 'mode' | 'layers' | 'nodesPerLayer' | 'gateways'>,
): Promise<Devnet> {
  return startDevnet({
    dataDir,
    mode: 'child-processes',
    layers: 3,
    nodesPerLayer: 2,
    gateways: 2,
    ...options,
  });
}

export interface EchoService {
  /** http://127.0.0.1:port/ (what `--service=name=` takes). */
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on an ephemeral loopback port; `received` sees every request body in arrival order. */
export async function startEchoService(received: (body: Buffer) => void): Promise<EchoService> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      received(body);
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
