/**
 * The directory authority's state machine, free of I/O: it admits signed node descriptors under the
 * operator's policy and issues the signed network document of an epoch from the descriptors registered for
 * it. A single authority, as in a small deployment; Katzenpost's voting between several authorities is a
 * later step (docs/network.md).
 *
 * A node registers once per epoch, for the current epoch or the next one, naming its Sphinx keys for that
 * epoch and the one after. The keys a node announced for an epoch never change afterwards — clients may
 * already have built packets with them — so a second descriptor for the same epoch may change the address
 * or certificate but not the keys, and consecutive descriptors must agree on the key they share (epoch e's
 * `next` is epoch e+1's `current`). The document of epoch e lists every node registered for e.
 */

import { constantTimeEqual, toHex } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { ArgumentError, DirectoryError } from '../errors.ts';
import { type Geometry, Sphinx } from '../sphinx/index.ts';
import type { AuthorityKeys, AuthorityPublicKeys } from './authority-keys.ts';
import {
  MAX_LAYERS,
  MAX_NODES,
  type MixingParameters,
  type NodeDescriptor,
  type NodeRole,
  openSignedDescriptor,
  type SphinxKeys,
  signNetworkDocument,
  sortNodes,
  type VerifiedDescriptor,
} from './document.ts';
import { checkSchedule, type EpochSchedule, epochAt, epochBounds } from './epoch.ts';

export interface RegistrationPolicy {
  /** Accept any identity key. For development networks only: anyone can then join as a mix. */
  readonly devMode: boolean;
  /** Ed25519 identity public keys allowed to register when not in development mode. */
  readonly allowedIdentityKeys: readonly Uint8Array[];
}

export interface DirectoryAuthorityOptions {
  readonly keys: AuthorityKeys;
  readonly backend: CryptoBackend;
  readonly geometry: Geometry;
  readonly schedule: EpochSchedule;
  /** The mixing parameters published in every document (the epoch period comes from `schedule`). */
  readonly parameters: Omit<MixingParameters, 'epochPeriodMs'>;
  readonly policy: RegistrationPolicy;
  /** Unix milliseconds; default Date.now. */
  readonly now?: () => number;
}

export interface Registration {
  readonly id: Uint8Array;
  readonly epoch: number;
  readonly role: NodeRole;
  readonly layer: number;
  /** False when the same descriptor was already registered. */
  readonly changed: boolean;
}

/** A descriptor restored from storage that no longer passes (policy changed, epoch passed, damaged bytes). */
export interface RestoreResult {
  readonly restored: number;
  readonly dropped: number;
}

function sameKeys(a: SphinxKeys, b: SphinxKeys): boolean {
  return constantTimeEqual(a.current, b.current) && constantTimeEqual(a.next, b.next);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && constantTimeEqual(a, b);
}

export class DirectoryAuthority {
  readonly #keys: AuthorityKeys;
  readonly #backend: CryptoBackend;
  readonly #geometryHash: Uint8Array;
  readonly #sphinxKeyLength: number;
  readonly #schedule: EpochSchedule;
  readonly #parameters: MixingParameters;
  readonly #devMode: boolean;
  readonly #allowed: ReadonlySet<string>;
  readonly #now: () => number;
  /** Descriptors by epoch, then by node id in hex. */
  readonly #registered = new Map<number, Map<string, VerifiedDescriptor>>();
  /** Bumped whenever an epoch's descriptors change, so its cached document is re-signed. */
  readonly #revisions = new Map<number, number>();
  readonly #documents = new Map<number, { readonly revision: number; readonly bytes: Uint8Array }>();

  constructor(options: DirectoryAuthorityOptions) {
    checkSchedule(options.schedule);
    const { layers } = options.parameters;
    if (!Number.isSafeInteger(layers) || layers < 1 || layers > MAX_LAYERS) {
      throw new ArgumentError('layers', `expected 1 to ${MAX_LAYERS}`);
    }
    if (options.geometry.nrHops < layers + 2) {
      throw new ArgumentError(
        'geometry',
        `a path through ${layers} layers and two gateways needs ${layers + 2} hops`,
      );
    }
    this.#keys = options.keys;
    this.#backend = options.backend;
    this.#geometryHash = options.geometry.hash();
    this.#sphinxKeyLength = new Sphinx(options.geometry, options.backend).publicKeyLength;
    this.#schedule = options.schedule;
    this.#parameters = { epochPeriodMs: options.schedule.periodMs, ...options.parameters };
    this.#devMode = options.policy.devMode;
    this.#allowed = new Set(options.policy.allowedIdentityKeys.map(toHex));
    this.#now = options.now ?? Date.now;
    // Fail at start rather than on the first request if the parameters cannot be published.
    this.document(this.currentEpoch());
  }

  get publicKeys(): AuthorityPublicKeys {
    return this.#keys.publicKeys;
  }

  get geometryHash(): Uint8Array {
    return this.#geometryHash;
  }

  get parameters(): MixingParameters {
    return this.#parameters;
  }

  get schedule(): EpochSchedule {
    return this.#schedule;
  }

  currentEpoch(): number {
    return epochAt(this.#schedule, this.#now());
  }

  /** Admits a signed descriptor or throws `DirectoryError` (or `CodecError` for malformed bytes). */
  register(signed: Uint8Array): Registration {
    const current = this.#prune();
    const verified = openSignedDescriptor(signed, this.#backend);
    const { descriptor } = verified;
    if (descriptor.epoch < current || descriptor.epoch > current + 1) {
      throw new DirectoryError(
        'wrong_epoch',
        `descriptors are accepted for epochs ${current} and ${current + 1}, not ${descriptor.epoch}`,
      );
    }
    return this.#admit(verified);
  }

  /**
   * Re-admits descriptors kept from an earlier run (epochs from the previous one on), under today's policy.
   * Those that fail are dropped, not thrown: one stale file entry must not keep the authority from starting.
   */
  restore(signed: Iterable<Uint8Array>): RestoreResult {
    const current = this.#prune();
    let restored = 0;
    let dropped = 0;
    for (const bytes of signed) {
      try {
        const verified = openSignedDescriptor(bytes, this.#backend);
        const { epoch } = verified.descriptor;
        if (epoch < current - 1 || epoch > current + 1)
          throw new DirectoryError('wrong_epoch', 'outside the kept epochs');
        this.#admit(verified);
        restored++;
      } catch {
        dropped++;
      }
    }
    return { restored, dropped };
  }

  /** Every kept signed descriptor, for persistence. */
  descriptors(): Uint8Array[] {
    this.#prune();
    return [...this.#registered.values()].flatMap((nodes) => [...nodes.values()].map(({ signed }) => signed));
  }

  /** Nodes registered for `epoch`, by role. */
  nodeCounts(epoch: number): Record<NodeRole, number> {
    const counts: Record<NodeRole, number> = { mix: 0, gateway: 0, service: 0 };
    for (const { descriptor } of this.#registered.get(epoch)?.values() ?? []) counts[descriptor.role]++;
    return counts;
  }

  /**
   * The signed network document of `epoch` (default the current one), for the previous, current or next
   * epoch. It is re-signed when the epoch's registrations have changed since it was last issued.
   */
  document(epoch = this.currentEpoch()): Uint8Array {
    const current = this.#prune();
    if (!Number.isSafeInteger(epoch) || epoch < current - 1 || epoch > current + 1) {
      throw new DirectoryError('not_found', `documents are kept for epochs ${current - 1} to ${current + 1}`);
    }
    const revision = this.#revisions.get(epoch) ?? 0;
    const cached = this.#documents.get(epoch);
    if (cached?.revision === revision) return cached.bytes;
    const { start, end } = epochBounds(this.#schedule, epoch);
    const nodes = sortNodes(
      [...(this.#registered.get(epoch)?.values() ?? [])].map(({ descriptor }) => descriptor),
    );
    const bytes = signNetworkDocument(
      {
        epoch,
        validFrom: start,
        validUntil: end,
        issuedAt: Math.floor(this.#now()),
        geometryHash: this.#geometryHash,
        parameters: this.#parameters,
        nodes,
      },
      this.#keys,
      this.#backend,
    );
    this.#documents.set(epoch, { revision, bytes });
    return bytes;
  }

  #admit({ descriptor, id, signed }: VerifiedDescriptor): Registration {
    const { epoch } = descriptor;
    const idHex = toHex(id);
    if (!this.#devMode && !this.#allowed.has(toHex(descriptor.identityKey))) {
      throw new DirectoryError('not_allowed', 'this identity key is not on the authority’s allow-list');
    }
    this.#checkDescriptor(descriptor);

    const nodes = this.#registered.get(epoch) ?? new Map<string, VerifiedDescriptor>();
    const existing = nodes.get(idHex);
    const result = { id, epoch, role: descriptor.role, layer: descriptor.layer };
    if (existing !== undefined) {
      if (sameBytes(existing.signed, signed)) return { ...result, changed: false };
      if (!sameKeys(existing.descriptor.sphinxKeys, descriptor.sphinxKeys)) {
        throw new DirectoryError(
          'conflict',
          `this node already registered other Sphinx keys for epoch ${epoch}`,
        );
      }
    }
    const previous = this.#registered.get(epoch - 1)?.get(idHex);
    if (previous && !constantTimeEqual(previous.descriptor.sphinxKeys.next, descriptor.sphinxKeys.current)) {
      throw new DirectoryError(
        'conflict',
        `the key for epoch ${epoch} differs from the one announced before`,
      );
    }
    const following = this.#registered.get(epoch + 1)?.get(idHex);
    if (
      following &&
      !constantTimeEqual(following.descriptor.sphinxKeys.current, descriptor.sphinxKeys.next)
    ) {
      throw new DirectoryError(
        'conflict',
        `the key for epoch ${epoch + 1} differs from the one already registered`,
      );
    }
    if (existing === undefined && nodes.size >= MAX_NODES) {
      throw new DirectoryError('too_large', `epoch ${epoch} already lists ${MAX_NODES} nodes`);
    }
    nodes.set(idHex, { descriptor, id, signed });
    this.#registered.set(epoch, nodes);
    this.#revisions.set(epoch, (this.#revisions.get(epoch) ?? 0) + 1);
    return { ...result, changed: true };
  }

  #checkDescriptor(descriptor: NodeDescriptor): void {
    if (descriptor.role === 'mix' && descriptor.layer > this.#parameters.layers) {
      throw new DirectoryError(
        'invalid_descriptor',
        `layer ${descriptor.layer} does not exist: the network has ${this.#parameters.layers}`,
      );
    }
    const { current, next } = descriptor.sphinxKeys;
    if (current.length !== this.#sphinxKeyLength || next.length !== this.#sphinxKeyLength) {
      throw new DirectoryError(
        'invalid_descriptor',
        `Sphinx public keys of this network's geometry have ${this.#sphinxKeyLength} bytes`,
      );
    }
  }

  /** Forgets epochs before the previous one and returns the current epoch. */
  #prune(): number {
    const current = this.currentEpoch();
    for (const epoch of [...this.#registered.keys(), ...this.#documents.keys()]) {
      if (epoch < current - 1) {
        this.#registered.delete(epoch);
        this.#documents.delete(epoch);
        this.#revisions.delete(epoch);
      }
    }
    return current;
  }
}
