// Shared test scaffolding for Sphinx: mix nodes with keys of a geometry's scheme, and paths through them.
import type { CryptoBackend } from '../../src/crypto/backend.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { KeyPair } from '../../src/crypto/secret.ts';
import { createXWing } from '../../src/crypto/xwing.ts';
import type { Geometry, HopCommand, PathHop, SphinxSchemeName } from '../../src/sphinx/index.ts';

export interface TestNode {
  readonly id: Uint8Array;
  readonly keys: KeyPair;
}

export function generateKeyPair(backend: CryptoBackend, scheme: SphinxSchemeName): KeyPair {
  switch (scheme) {
    case 'x25519':
      return backend.x25519.generateKeyPair();
    case 'MLKEM768':
      return backend.mlkem768.generateKeyPair();
    case 'XWING':
      return createXWing(backend).generateKeyPair();
  }
}

export function makeNodes(backend: CryptoBackend, geometry: Geometry, count: number): TestNode[] {
  return Array.from({ length: count }, () => ({
    id: randomBytes(32),
    keys: generateKeyPair(backend, geometry.scheme),
  }));
}

/** A path through `nodes`: a delay at every mix, a recipient (and optionally a SURB id) at the last hop. */
export function makePath(
  nodes: readonly TestNode[],
  final: { recipient: Uint8Array; surbId?: Uint8Array },
): PathHop[] {
  return nodes.map((node, index) => {
    const commands: HopCommand[] =
      index < nodes.length - 1
        ? [{ type: 'node_delay', delay: 1000 + index }]
        : [
            { type: 'recipient', id: final.recipient },
            ...(final.surbId ? [{ type: 'surb_reply', id: final.surbId } as const] : []),
          ];
    return { id: node.id, publicKey: node.keys.publicKey, commands };
  });
}
