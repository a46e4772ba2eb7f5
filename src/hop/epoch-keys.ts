/**
 * A hop's Sphinx key pairs (a mix node's or a gateway's), one per epoch, in its data directory (mode 0600,
 * written with the vault's durable-rename store): the public halves go into the network document for this epoch and the next; the
 * secret halves unwrap packets during their epoch and its grace period, and are then shredded, which is what
 * gives the mixnet forward secrecy at epoch granularity. Kept on disk so that a restarted node still opens the
 * packets clients built with the keys the directory published.
 */

import { concatBytes, wipe } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { KeyPair, SecretHolder } from '../crypto/secret.ts';
import { DirectoryStore } from '../crypto/vault/directory-store.ts';
import { createXWing } from '../crypto/xwing.ts';
import { ArgumentError } from '../errors.ts';
import { type Geometry, Sphinx } from '../sphinx/index.ts';

export interface EpochKey {
  readonly epoch: number;
  readonly secretKey: Uint8Array;
}

const KEY_FILE = /^e(\d+)\.key$/;

function keyFile(epoch: number): string {
  return `e${epoch}.key`;
}

/** A key pair of the geometry's scheme: X25519, or the KEM's (whose secret key is the seed). */
export function generateSphinxKeyPair(geometry: Geometry, backend: CryptoBackend): KeyPair {
  switch (geometry.scheme) {
    case 'x25519':
      return backend.x25519.generateKeyPair();
    case 'MLKEM768':
      return backend.mlkem768.generateKeyPair();
    case 'XWING':
      return createXWing(backend).generateKeyPair();
  }
}

export class EpochKeyStore extends SecretHolder {
  readonly #store: DirectoryStore;
  readonly #generate: () => KeyPair;
  readonly #keys = new Map<number, KeyPair>();
  /** Generations in progress, so that two callers asking for the same epoch get the same key. */
  readonly #generating = new Map<number, Promise<KeyPair>>();

  private constructor(store: DirectoryStore, generate: () => KeyPair) {
    super();
    this.#store = store;
    this.#generate = generate;
  }

  /** Loads every key stored in `directory`. */
  static async open(directory: string, geometry: Geometry, backend: CryptoBackend): Promise<EpochKeyStore> {
    const { publicKeyLength, secretKeyLength } = new Sphinx(geometry, backend);
    const keys = new EpochKeyStore(new DirectoryStore(directory), () =>
      generateSphinxKeyPair(geometry, backend),
    );
    for (const name of await keys.#store.list()) {
      const epoch = Number(KEY_FILE.exec(name)?.[1]);
      const bytes = await keys.#store.read(name);
      if (!Number.isSafeInteger(epoch) || !bytes) continue;
      if (bytes.length !== publicKeyLength + secretKeyLength) {
        throw new ArgumentError('keys', `${name} is not a ${geometry.scheme} key pair`);
      }
      keys.#keys.set(epoch, new KeyPair(bytes.slice(0, publicKeyLength), bytes.slice(publicKeyLength)));
    }
    return keys;
  }

  get(epoch: number): KeyPair | undefined {
    return this.#keys.get(epoch);
  }

  /** The key pair of `epoch`, generated and stored durably first if there is none yet. */
  async ensure(epoch: number): Promise<KeyPair> {
    if (!Number.isSafeInteger(epoch) || epoch < 0)
      throw new ArgumentError('epoch', 'expected an integer ≥ 0');
    const existing = this.#keys.get(epoch);
    if (existing) return existing;
    let generating = this.#generating.get(epoch);
    if (!generating) {
      generating = this.#create(epoch).finally(() => this.#generating.delete(epoch));
      this.#generating.set(epoch, generating);
    }
    return generating;
  }

  async #create(epoch: number): Promise<KeyPair> {
    const pair = this.#generate();
    const bytes = concatBytes(pair.publicKey, pair.secretKey);
    try {
      await this.#store.writeNew(keyFile(epoch), bytes);
    } finally {
      wipe(bytes);
    }
    this.#keys.set(epoch, pair);
    return pair;
  }

  /** Shreds (overwrites, then deletes) every key of an epoch before `oldest`, on disk and in memory. */
  async destroyBefore(oldest: number): Promise<void> {
    const expired = [...this.#keys.keys()].filter((epoch) => epoch < oldest);
    if (expired.length === 0) return;
    await this.#store.destroy(expired.map(keyFile));
    for (const epoch of expired) {
      wipe((this.#keys.get(epoch) as KeyPair).secretKey);
      this.#keys.delete(epoch);
    }
  }

  /** The public keys held, oldest epoch first (for registration with the directory). */
  publicKeys(): { epoch: number; publicKey: Uint8Array }[] {
    return [...this.#keys.entries()]
      .sort(([a], [b]) => a - b)
      .map(([epoch, pair]) => ({ epoch, publicKey: pair.publicKey }));
  }

  protected override publicView(): Record<string, unknown> {
    return { epochs: [...this.#keys.keys()].sort((a, b) => a - b) };
  }
}
