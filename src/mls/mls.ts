/**
 * The entry point of umbra's MLS layer (RFC 9420 over ts-mls 1.6.4): generates KeyPackages, creates groups,
 * joins them from Welcomes and restores them from saved bytes. An `Mls` cannot exist without an
 * authentication service (authentication.ts): every credential a group meets is put to it.
 */
import type { CiphersuiteImpl, CryptoProvider } from 'ts-mls';
import {
  bytesToBase64,
  createGroup,
  decodeGroupState,
  defaultCapabilities,
  generateKeyPackage,
  generateKeyPackageWithKey,
  joinGroup,
  makePskIndex,
} from 'ts-mls';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
// The platform backend straight from its import condition: src/crypto/index.ts also loads the vault's file
// store (node:fs), which must stay out of the client SDK's browser bundle.
import { backend as platformBackend } from '#default-backend';
import { assertBytes } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { randomBytes } from '../crypto/random.ts';
import type { KeyPair } from '../crypto/secret.ts';
import { ArgumentError, CodecError } from '../errors.ts';
import {
  AuthenticationRecorder,
  type AuthenticationService,
  assertAuthenticationService,
  toLibraryCredential,
} from './authentication.ts';
import {
  CiphersuiteCache,
  DEFAULT_CIPHERSUITE,
  isCiphersuiteName,
  type MlsCiphersuiteName,
} from './ciphersuites.ts';
import { clientConfig, KEY_PACKAGE_CLOCK_SKEW_SECONDS, KEY_PACKAGE_LIFETIME_SECONDS } from './config.ts';
import { classify, decodeSnapshot, Group, type GroupEnvironment, type Rejected } from './group.ts';
import { type GeneratedKeyPackage, KeyPackageSecrets } from './key-package.ts';
import { decodeExactly, decodeMessage, decodeTree, encodeLibraryMessage, libraryMessage } from './wire.ts';

export interface MlsOptions {
  /** Required: there is no accept-everything default. */
  readonly authenticationService: AuthenticationService;
  /** The suite of new KeyPackages and groups; default MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519. */
  readonly defaultCiphersuite?: MlsCiphersuiteName;
  /** The AEAD of the outer seal; default: the platform's backend (src/crypto). */
  readonly backend?: CryptoBackend;
  /**
   * The crypto under the MLS suites; default: the platform's (`#mls-provider`: native on Node, ts-mls's
   * portable default in browsers). Tests and benchmarks pass the other one to compare them.
   */
  readonly cryptoProvider?: CryptoProvider;
}

export interface KeyPackageOptions {
  /** The basic credential's identity: umbra puts the handle here, bound to the signature key by the AS. */
  readonly identity: Uint8Array;
  /** The signature key (an Ed25519 key pair for umbra's suites); a fresh one when omitted. */
  readonly signatureKeyPair?: KeyPair;
  readonly ciphersuite?: MlsCiphersuiteName;
  readonly lifetimeSeconds?: number;
}

/** A KeyPackage and its secrets, as `generateKeyPackage` returns them or as read back from the vault. */
export interface OwnKeyPackage {
  readonly keyPackage: Uint8Array;
  readonly secrets: KeyPackageSecrets;
}

/** Pre-shared keys by PSK ID (RFC 9420 §8.4): umbra does not use them; the IETF test vectors do. */
export type ExternalPsks = readonly { readonly id: Uint8Array; readonly secret: Uint8Array }[];

export interface JoinOptions {
  readonly welcome: Uint8Array;
  readonly keyPackage: OwnKeyPackage;
  /** The ratchet tree (RFC 9420 §12.4.3.3 encoding) when the Welcome's GroupInfo does not carry it. */
  readonly ratchetTree?: Uint8Array;
  readonly externalPsks?: ExternalPsks;
}

export type JoinResult =
  | { readonly kind: 'joined'; readonly group: Group }
  | Rejected<'unsupported_ciphersuite' | 'credential_rejected' | 'credential_unverifiable' | 'invalid'>;

function pskRecord(psks: ExternalPsks = []): Record<string, Uint8Array> {
  // ts-mls looks external PSKs up by the standard base64 of their ID.
  return Object.fromEntries(psks.map(({ id, secret }) => [bytesToBase64(id), secret]));
}

function copySecrets(secrets: KeyPackageSecrets) {
  const keys = secrets.forLibrary();
  return {
    initPrivateKey: Uint8Array.from(keys.initPrivateKey),
    hpkePrivateKey: Uint8Array.from(keys.hpkePrivateKey),
    signaturePrivateKey: Uint8Array.from(keys.signaturePrivateKey),
  };
}

export class Mls {
  readonly defaultCiphersuite: MlsCiphersuiteName;
  readonly #authenticationService: AuthenticationService;
  readonly #backend: CryptoBackend;
  readonly #suites: CiphersuiteCache;

  constructor(options: MlsOptions) {
    assertAuthenticationService(options?.authenticationService);
    const suite = options.defaultCiphersuite ?? DEFAULT_CIPHERSUITE;
    if (!isCiphersuiteName(suite)) throw new ArgumentError('defaultCiphersuite', 'unknown MLS ciphersuite');
    this.#authenticationService = options.authenticationService;
    this.defaultCiphersuite = suite;
    this.#backend = options.backend ?? platformBackend;
    this.#suites = new CiphersuiteCache(options.cryptoProvider);
  }

  /** Whether `suite` can be used in this installation (its optional ts-mls dependency is present). */
  supports(suite: MlsCiphersuiteName): Promise<boolean> {
    return this.#suites.isAvailable(suite);
  }

  async generateKeyPackage(options: KeyPackageOptions): Promise<GeneratedKeyPackage> {
    assertBytes('identity', options.identity);
    const suite = options.ciphersuite ?? this.defaultCiphersuite;
    const cs = await this.#suites.load(suite);
    const lifetimeSeconds = options.lifetimeSeconds ?? KEY_PACKAGE_LIFETIME_SECONDS;
    if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
      throw new ArgumentError('lifetimeSeconds', 'expected a positive number of seconds');
    }
    const now = Math.floor(Date.now() / 1000);
    const lifetime = {
      notBefore: BigInt(now - KEY_PACKAGE_CLOCK_SKEW_SECONDS),
      notAfter: BigInt(now + lifetimeSeconds),
    };
    const credential = toLibraryCredential({ kind: 'basic', identity: Uint8Array.from(options.identity) });
    const { publicPackage, privatePackage } = options.signatureKeyPair
      ? await generateKeyPackageWithKey(
          credential,
          defaultCapabilities(),
          lifetime,
          [],
          {
            signKey: Uint8Array.from(options.signatureKeyPair.secretKey),
            publicKey: Uint8Array.from(options.signatureKeyPair.publicKey),
          },
          cs,
        )
      : await generateKeyPackage(credential, defaultCapabilities(), lifetime, [], cs);
    return {
      keyPackage: encodeLibraryMessage({
        version: 'mls10',
        wireformat: 'mls_key_package',
        keyPackage: publicPackage,
      }),
      reference: await makeKeyPackageRef(publicPackage, cs.hash),
      secrets: new KeyPackageSecrets(privatePackage),
    };
  }

  /** A new group with this member alone in epoch 0, in the KeyPackage's ciphersuite. */
  async createGroup(options: {
    readonly keyPackage: OwnKeyPackage;
    readonly groupId?: Uint8Array;
    readonly externalPsks?: ExternalPsks;
  }): Promise<Group> {
    const message = libraryMessage(decodeMessage(options.keyPackage.keyPackage));
    if (message.wireformat !== 'mls_key_package') throw new ArgumentError('keyPackage', 'not a KeyPackage');
    const groupId = options.groupId ?? randomBytes(32);
    assertBytes('groupId', groupId);
    const suite = message.keyPackage.cipherSuite;
    const cs = await this.#suites.load(suite);
    const config = clientConfig(new AuthenticationRecorder(this.#authenticationService));
    const state = await createGroup(
      Uint8Array.from(groupId),
      message.keyPackage,
      copySecrets(options.keyPackage.secrets),
      [],
      cs,
      config,
    );
    return new Group(this.#environment(suite, cs, options.externalPsks), state);
  }

  /**
   * Joins from a Welcome (RFC 9420 §12.4.3.1): decrypts it with the KeyPackage's init key, checks the
   * GroupInfo signature, validates the tree (every leaf through the AS, lifetimes, parent and tree hashes).
   * Throws `CodecError` only when the bytes are not a Welcome or the tree does not decode.
   */
  async joinGroup(options: JoinOptions): Promise<JoinResult> {
    const welcome = libraryMessage(decodeMessage(options.welcome));
    if (welcome.wireformat !== 'mls_welcome') throw new CodecError('invalid_value', 'not a Welcome');
    const keyPackage = libraryMessage(decodeMessage(options.keyPackage.keyPackage));
    if (keyPackage.wireformat !== 'mls_key_package')
      throw new ArgumentError('keyPackage', 'not a KeyPackage');
    const tree = options.ratchetTree === undefined ? undefined : decodeTree(options.ratchetTree);
    const suite = welcome.welcome.cipherSuite;
    let cs: CiphersuiteImpl;
    try {
      cs = await this.#suites.load(suite);
    } catch (error) {
      return { kind: 'rejected', reason: 'unsupported_ciphersuite', detail: String(error) };
    }
    const recorder = new AuthenticationRecorder(this.#authenticationService);
    const psks = pskRecord(options.externalPsks);
    try {
      const state = await joinGroup(
        welcome.welcome,
        keyPackage.keyPackage,
        copySecrets(options.keyPackage.secrets),
        makePskIndex(undefined, psks),
        cs,
        tree,
        undefined,
        clientConfig(recorder),
      );
      return { kind: 'joined', group: new Group(this.#environment(suite, cs, options.externalPsks), state) };
    } catch (error) {
      return classify(error, recorder);
    }
  }

  /** A group from `Group.save` bytes, with its pending own commit if it had one. */
  async restoreGroup(
    bytes: Uint8Array,
    options: { readonly externalPsks?: ExternalPsks } = {},
  ): Promise<Group> {
    const snapshot = decodeSnapshot(bytes);
    const config = clientConfig(new AuthenticationRecorder(this.#authenticationService));
    const state = { ...decodeLibraryState(snapshot.state), clientConfig: config };
    const suite = state.groupContext.cipherSuite;
    const cs = await this.#suites.load(suite);
    const pending = snapshot.pending && {
      commit: snapshot.pending.commit,
      welcome: snapshot.pending.welcome,
      next: { ...decodeLibraryState(snapshot.pending.next), clientConfig: config },
      request: {
        add: snapshot.pending.add,
        remove: snapshot.pending.remove.map((signaturePublicKey) => ({ signaturePublicKey })),
      },
    };
    return new Group(this.#environment(suite, cs, options.externalPsks), state, pending);
  }

  #environment(
    ciphersuite: MlsCiphersuiteName,
    cipherSuite: CiphersuiteImpl,
    psks?: ExternalPsks,
  ): GroupEnvironment {
    return {
      ciphersuite,
      cipherSuite,
      authenticationService: this.#authenticationService,
      backend: this.#backend,
      externalPsks: pskRecord(psks),
    };
  }
}

function decodeLibraryState(bytes: Uint8Array) {
  return decodeExactly('group state', bytes, decodeGroupState);
}
