// Shared scaffolding for the directory tests: a small network geometry and parameters, nodes with identity
// and Sphinx keys that sign their own descriptors, a controllable clock, and a valid document to mutate.
import type { CryptoBackend } from '../../src/crypto/backend.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { KeyPair } from '../../src/crypto/secret.ts';
import { AuthorityKeys } from '../../src/directory/authority-keys.ts';
import {
  type MixingParameters,
  type NetworkDocumentContents,
  type NodeDescriptor,
  type NodeRole,
  signDescriptor,
  sortNodes,
} from '../../src/directory/document.ts';
import { Geometry } from '../../src/sphinx/index.ts';

export const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 256,
  withSurb: true,
  nrHops: 5,
});

export const parameters: Omit<MixingParameters, 'epochPeriodMs'> = {
  layers: 3,
  roundPeriodMs: 100,
  batchSize: 8,
  clientSendRate: 2.5,
  loopCoverShare: 0.5,
  keyGracePeriodMs: 2_000,
};

export const EPOCH_PERIOD_MS = 60_000;

/** A clock the tests move by hand, starting inside epoch 1000. */
export class TestClock {
  now = 1000 * EPOCH_PERIOD_MS + 5_000;
  readonly read = () => this.now;
}

/** A node with its identity and one Sphinx key per epoch, able to sign a descriptor for any epoch. */
export class TestNode {
  readonly identity: KeyPair;
  readonly role: NodeRole;
  readonly layer: number;
  address: string;
  readonly tlsFingerprint = randomBytes(32);
  readonly #sphinxKeys = new Map<number, Uint8Array>();
  readonly #backend: CryptoBackend;

  constructor(role: NodeRole, layer: number, backend: CryptoBackend = nodeBackend) {
    this.#backend = backend;
    this.identity = backend.ed25519.generateKeyPair();
    this.role = role;
    this.layer = layer;
    this.address = `node-${Math.floor(Math.random() * 1e6)}.example:4${layer}00`;
  }

  sphinxKey(epoch: number): Uint8Array {
    let key = this.#sphinxKeys.get(epoch);
    if (key === undefined) {
      key = this.#backend.x25519.generateKeyPair().publicKey;
      this.#sphinxKeys.set(epoch, key);
    }
    return key;
  }

  descriptor(epoch: number, changes: Partial<NodeDescriptor> = {}): NodeDescriptor {
    return {
      epoch,
      identityKey: this.identity.publicKey,
      role: this.role,
      layer: this.layer,
      address: this.address,
      tlsFingerprint: this.tlsFingerprint,
      sphinxKeys: { current: this.sphinxKey(epoch), next: this.sphinxKey(epoch + 1) },
      ...changes,
    };
  }

  signed(epoch: number, changes: Partial<NodeDescriptor> = {}): Uint8Array {
    return signDescriptor(this.descriptor(epoch, changes), this.identity, this.#backend);
  }
}

/** Two gateways and two mixes per layer. */
export function makeNetwork(backend: CryptoBackend = nodeBackend): TestNode[] {
  return [
    new TestNode('gateway', 0, backend),
    new TestNode('gateway', 0, backend),
    ...[1, 2, 3].flatMap((layer) => [
      new TestNode('mix', layer, backend),
      new TestNode('mix', layer, backend),
    ]),
    new TestNode('service', 0, backend),
  ];
}

let sharedKeys: AuthorityKeys | undefined;

/** One authority key pair for the whole file (ML-DSA key generation is the slow part). */
export function authorityKeys(): AuthorityKeys {
  sharedKeys ??= AuthorityKeys.generate(nodeBackend);
  return sharedKeys;
}

export function documentContents(nodes: readonly TestNode[], epoch = 1000): NetworkDocumentContents {
  return {
    epoch,
    validFrom: epoch * EPOCH_PERIOD_MS,
    validUntil: (epoch + 1) * EPOCH_PERIOD_MS,
    issuedAt: epoch * EPOCH_PERIOD_MS + 1,
    geometryHash: geometry.hash(),
    parameters: { epochPeriodMs: EPOCH_PERIOD_MS, ...parameters },
    nodes: sortNodes(nodes.map((node) => node.descriptor(epoch))),
  };
}
