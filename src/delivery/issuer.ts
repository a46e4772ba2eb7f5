/**
 * The token issuer role of the delivery service (docs/tokens.md): Privacy Pass issuance (RFC 9578 §6,
 * token type 0x0002, Blind RSA 2048 with RSABSSA-SHA384-PSS-Deterministic, RFC 9474) for registered
 * identities, within a daily budget each.
 *
 * Keys: one RSA key per rotation slot (`floor(time / rotationMs)`), issuing during its slot and accepted for
 * redemption until `notBefore + keyLifetimeMs`. Its private key is stored in the delivery store sealed with
 * ChaCha20-Poly1305 under a key derived from the service's identifier key (which lives apart from the
 * database), so every instance on one PostgreSQL database shares it; the first instance to need a slot's key
 * generates one and `addIssuerKey` keeps exactly one per slot however many race.
 *
 * Signing: the one RSA private operation (RFC 9474 §4.3 BlindSign) runs in node:crypto — `privateDecrypt` with
 * RSA_NO_PADDING is s = m^d mod n (CRT, constant-time in OpenSSL) — after checking the request's truncated key
 * ID and that m < n, and the result is checked with s^e == m before it leaves, as BlindSign requires.
 *
 * Budget: `takeTokenBudget` per keyed handle hash per UTC day. What the issuer learns is exactly that: an
 * identity fetched N tokens today. Blind signatures tell it nothing about the tokens they become.
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto';
import { promisify } from 'node:util';
import { concatBytes, constantTimeEqual } from '../bytes.ts';
import { type CryptoBackend, randomBytes, utf8 } from '../crypto/index.ts';
import { ArgumentError } from '../errors.ts';
import type { IssueResult, IssuerKey, IssuerKeys } from '../protocol/api.ts';
import { parseTokenRequest, TOKEN_MODULUS_BYTES, tokenKeyFromSpki, tokenKeyId } from '../protocol/tokens.ts';
import type { Clock, DeliveryStore, IssuerKeyRecord } from './store/index.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A new issuing key every week by default… */
export const DEFAULT_TOKEN_KEY_ROTATION_MS = 7 * DAY_MS;
/** …each accepted for redemption for two weeks from when it starts issuing. */
export const DEFAULT_TOKEN_KEY_LIFETIME_MS = 14 * DAY_MS;
/**
 * Tokens one registered identity may fetch per UTC day by default: enough to create a group of 100 (99
 * claims and 99 Welcome posts) and keep the wallet's stock, while one stranger can take at most this many
 * of other people's KeyPackages a day.
 */
export const DEFAULT_TOKENS_PER_DAY = 250;
/** How long the issuer trusts its copy of the key list before reading the store again. */
const KEY_CACHE_MS = 60_000;
const SEAL_LABEL = utf8('umbra/delivery/v1 issuer key seal\0');
const RSA_BITS = TOKEN_MODULUS_BYTES * 8;

const generateRsa = promisify(generateKeyPair);

export interface TokenIssuerOptions {
  readonly store: DeliveryStore;
  /** The service's identifier key; the private keys are sealed under a key derived from it. */
  readonly identifierKey: Uint8Array;
  readonly issuerName: string;
  readonly tokensPerDay?: number;
  readonly rotationMs?: number;
  readonly keyLifetimeMs?: number;
  readonly clock: Clock;
  readonly backend: CryptoBackend;
}

/** An accepted key as redemption uses it. */
export interface AcceptedKey {
  readonly record: IssuerKeyRecord;
  readonly tokenKeyId: Uint8Array;
}

/** Why an issuance request cannot be served (the service answers the matching error code). */
export type IssueProblem = 'bad_request' | 'bad_token';

export class TokenIssuer {
  readonly issuerName: string;
  readonly tokensPerDay: number;
  readonly rotationMs: number;
  readonly keyLifetimeMs: number;
  readonly #store: DeliveryStore;
  readonly #sealKey: Uint8Array;
  readonly #clock: Clock;
  readonly #backend: CryptoBackend;
  #cache:
    | { readonly loadedAt: number; readonly slot: number; readonly keys: readonly AcceptedKey[] }
    | undefined;
  #loading: Promise<readonly AcceptedKey[]> | undefined;
  /** The private key of the current slot, opened once. */
  #signer: { readonly slot: number; readonly signer: BlindSigner } | undefined;

  constructor(options: TokenIssuerOptions) {
    this.issuerName = options.issuerName;
    this.tokensPerDay = positive('tokensPerDay', options.tokensPerDay ?? DEFAULT_TOKENS_PER_DAY);
    this.rotationMs = positive('tokenKeyRotationMs', options.rotationMs ?? DEFAULT_TOKEN_KEY_ROTATION_MS);
    this.keyLifetimeMs = positive(
      'tokenKeyLifetimeMs',
      options.keyLifetimeMs ?? DEFAULT_TOKEN_KEY_LIFETIME_MS,
    );
    if (this.keyLifetimeMs < this.rotationMs) {
      throw new ArgumentError('tokenKeyLifetimeMs', 'must be at least the rotation period');
    }
    this.#store = options.store;
    this.#clock = options.clock;
    this.#backend = options.backend;
    this.#sealKey = options.backend.hmacSha256(options.identifierKey, SEAL_LABEL);
  }

  /** The issuer name and the public keys, the one issuing now first (created if the slot has none yet). */
  async publicKeys(): Promise<IssuerKeys> {
    const keys = await this.acceptedKeys();
    return { issuerName: this.issuerName, keys: keys.map(({ record }) => publicKeyOf(record)) };
  }

  /** Keys accepted for redemption now, newest first, the current slot's among them. */
  async acceptedKeys(): Promise<readonly AcceptedKey[]> {
    const now = this.#clock();
    const slot = Math.floor(now / this.rotationMs);
    const cache = this.#cache;
    if (cache !== undefined && cache.slot === slot && now - cache.loadedAt < KEY_CACHE_MS) {
      return cache.keys.filter(({ record }) => record.acceptUntil > now);
    }
    this.#loading ??= this.#load(now, slot).finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  /**
   * Signs `tokenRequests` for the identity `handleHash` within its budget for today: blind signatures for as
   * many as remain (the first ones), `budget_exhausted` when none do, or the problem with the requests.
   */
  async issue(
    handleHash: Uint8Array,
    tokenRequests: readonly Uint8Array[],
  ): Promise<IssueResult | IssueProblem> {
    const [current] = await this.acceptedKeys();
    if (current === undefined) throw new Error('no issuer key for the current slot');
    const signer = this.#signerFor(current.record);
    const messages: Uint8Array[] = [];
    for (const bytes of tokenRequests) {
      const request = parseTokenRequest(bytes);
      // RFC 9578 §6.3: the truncated key ID must name the issuing key (a client holding an old key list).
      if (request.truncatedTokenKeyId !== current.tokenKeyId[current.tokenKeyId.length - 1])
        return 'bad_token';
      if (!signer.accepts(request.blindedMsg)) return 'bad_request';
      messages.push(request.blindedMsg);
    }
    const now = this.#clock();
    const day = Math.floor(now / DAY_MS);
    const granted = await this.#store.takeTokenBudget(handleHash, day, messages.length, this.tokensPerDay);
    if (granted === 0 && messages.length > 0) {
      return { ok: false, error: 'budget_exhausted', retryAfterMs: (day + 1) * DAY_MS - now };
    }
    return { ok: true, responses: messages.slice(0, granted).map((m) => signer.sign(m)) };
  }

  async #load(now: number, slot: number): Promise<readonly AcceptedKey[]> {
    let records = await this.#store.issuerKeys(now);
    if (!records.some((record) => record.slot === slot)) {
      await this.#store.addIssuerKey(await this.#generate(slot));
      records = await this.#store.issuerKeys(now);
    }
    const keys = await Promise.all(
      records.map(async (record) => ({ record, tokenKeyId: await tokenKeyId(record.tokenKey) })),
    );
    this.#cache = { loadedAt: now, slot, keys };
    return keys;
  }

  async #generate(slot: number): Promise<IssuerKeyRecord> {
    const { publicKey, privateKey } = await generateRsa('rsa', {
      modulusLength: RSA_BITS,
      publicExponent: 65537,
    });
    const tokenKey = tokenKeyFromSpki(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })));
    const notBefore = slot * this.rotationMs;
    const pkcs8 = new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }));
    const aead = this.#backend.chacha20poly1305;
    const nonce = randomBytes(aead.nonceLength);
    const sealed = aead.seal(this.#sealKey, nonce, pkcs8, sealContext(slot, tokenKey));
    pkcs8.fill(0);
    return {
      slot,
      tokenKey,
      sealedPrivateKey: concatBytes(nonce, sealed),
      notBefore,
      acceptUntil: notBefore + this.keyLifetimeMs,
    };
  }

  #signerFor(record: IssuerKeyRecord): BlindSigner {
    const cached = this.#signer;
    if (cached !== undefined && cached.slot === record.slot) return cached.signer;
    const aead = this.#backend.chacha20poly1305;
    const nonce = record.sealedPrivateKey.subarray(0, aead.nonceLength);
    const pkcs8 = aead.open(
      this.#sealKey,
      nonce,
      record.sealedPrivateKey.subarray(aead.nonceLength),
      sealContext(record.slot, record.tokenKey),
    );
    const signer = new BlindSigner(
      createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }),
    );
    pkcs8.fill(0);
    this.#signer = { slot: record.slot, signer };
    return signer;
  }
}

/** RFC 9474 §4.3 BlindSign with one RSA private key, in node:crypto. */
export class BlindSigner {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #modulus: bigint;

  constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    this.#publicKey = createPublicKey(privateKey);
    const { n } = this.#publicKey.export({ format: 'jwk' });
    this.#modulus = toBigInt(Buffer.from(n ?? '', 'base64url'));
  }

  /** Whether `blindedMsg` is a modulus-length integer below n (RFC 9474 §4.3 step 1). */
  accepts(blindedMsg: Uint8Array): boolean {
    return blindedMsg.length === TOKEN_MODULUS_BYTES && toBigInt(blindedMsg) < this.#modulus;
  }

  /** s = m^d mod n, then s^e mod n must equal m (step 3). `blindedMsg` must be `accepts`ed. */
  sign(blindedMsg: Uint8Array): Uint8Array {
    const signature = new Uint8Array(
      privateDecrypt({ key: this.#privateKey, padding: constants.RSA_NO_PADDING }, blindedMsg),
    );
    const check = publicEncrypt({ key: this.#publicKey, padding: constants.RSA_NO_PADDING }, signature);
    if (!constantTimeEqual(new Uint8Array(check), blindedMsg))
      throw new Error('blind signature check failed');
    return signature;
  }
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function publicKeyOf(record: IssuerKeyRecord): IssuerKey {
  return { tokenKey: record.tokenKey, notBefore: record.notBefore, acceptUntil: record.acceptUntil };
}

/** Binds a sealed private key to its slot and public key, so that rows cannot be swapped in the database. */
function sealContext(slot: number, tokenKey: Uint8Array): Uint8Array {
  const slotBytes = new Uint8Array(8);
  new DataView(slotBytes.buffer).setBigUint64(0, BigInt(slot));
  return concatBytes(slotBytes, tokenKey);
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new ArgumentError(name, 'expected a positive integer');
  return value;
}
