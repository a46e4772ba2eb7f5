/**
 * The SDK's token wallet (docs/tokens.md): anonymous Privacy Pass tokens (RFC 9576–9578, type 0x0002 Blind
 * RSA; src/protocol/tokens.ts) kept in the client's encrypted vault under `client/tokens`, spent one per
 * KeyPackage claim and Welcome post by `DeliveryClient`, and refilled by itself in the background when fewer
 * than `lowWatermark` remain. The app developer never sees a token.
 *
 * Filling: fetch the issuer's keys anonymously (`issuerKeys`, so every client is shown the same keys — a key
 * of its own for one user would fail to finalize anyone else's tokens, and tokens under it would stand out at
 * redemption), blind `batch` token inputs for the issuing key with privacypass-ts's client, send them in one
 * signed `issueTokens`, and finalize each blind signature (which also verifies it under the announced key).
 * The keys are kept in memory for `ISSUER_KEYS_MAX_AGE_MS` (never past the issuing key's acceptance), and can
 * be fetched ahead (`prepareKeys`, during a sign-up), so that a fill is one round trip, not two.
 * A `budget_exhausted` answer pauses filling until the budget renews. Tokens whose key is no longer accepted
 * are dropped; a token the service refused is gone from the wallet, and one refused as bad (its key rotated
 * away) takes every other token of its key with it; the keys are fetched again at the next fill.
 */
import { publicVerif } from '@cloudflare/privacypass-ts';
import { constantTimeEqual, fromBase64Url, toBase64Url } from '../bytes.ts';
import type { IssueResult, IssuerKeys, TokenSource } from '../protocol/api.ts';
import { BLIND_RSA_MODE, MAX_TOKENS_PER_ISSUANCE, parseToken, tokenChallenge } from '../protocol/tokens.ts';
import { type ClientVault, getJson, putJson, RECORD } from './storage.ts';

/** Tokens fetched per issuance by default. */
export const DEFAULT_TOKEN_BATCH = 10;
/** A refill starts when fewer than this many are left, by default. */
export const DEFAULT_TOKEN_LOW_WATERMARK = 4;

/** How long fetched issuer keys are used before they are fetched again (a rotation adds keys ahead of use). */
export const ISSUER_KEYS_MAX_AGE_MS = 10 * 60_000;

/** The issuer as the wallet reaches it: over the carrier the privacy policy allows, signed by the identity. */
export interface TokenIssuerApi {
  issuerKeys(): Promise<IssuerKeys>;
  issueTokens(tokenRequests: readonly Uint8Array[]): Promise<IssueResult>;
}

export interface TokenWalletOptions {
  /** The issuer now, or undefined while none can be reached (no identity yet, no carrier allowed). */
  readonly issuer: () => TokenIssuerApi | undefined;
  readonly batch?: number;
  readonly lowWatermark?: number;
  readonly clock?: () => number;
}

interface StoredToken {
  /** base64url of the token. */
  readonly token: string;
  /** When its key stops being accepted. */
  readonly acceptUntil: number;
}

interface WalletRecord {
  readonly tokens: readonly StoredToken[];
}

export class TokenWallet implements TokenSource {
  readonly #vault: ClientVault;
  readonly #issuer: () => TokenIssuerApi | undefined;
  readonly #batch: number;
  readonly #lowWatermark: number;
  readonly #clock: () => number;
  #tokens: StoredToken[];
  #filling: Promise<number> | undefined;
  /** The issuer's keys as last fetched, and until when they are used; one fetch at a time. */
  #keys: { readonly value: IssuerKeys; readonly until: number } | undefined;
  #fetchingKeys: Promise<IssuerKeys> | undefined;
  /** Takers waiting for a fill. */
  #waiting = 0;
  /** No issuance before this time (the budget is spent). */
  #pausedUntil = 0;
  #saving: Promise<void> = Promise.resolve();

  private constructor(vault: ClientVault, tokens: StoredToken[], options: TokenWalletOptions) {
    this.#vault = vault;
    this.#tokens = tokens;
    this.#issuer = options.issuer;
    this.#batch = options.batch ?? DEFAULT_TOKEN_BATCH;
    this.#lowWatermark = options.lowWatermark ?? DEFAULT_TOKEN_LOW_WATERMARK;
    this.#clock = options.clock ?? Date.now;
  }

  /** The wallet kept in `vault` (empty the first time). */
  static async load(vault: ClientVault, options: TokenWalletOptions): Promise<TokenWallet> {
    const record = await getJson<WalletRecord>(vault, RECORD.tokens);
    return new TokenWallet(vault, [...(record?.tokens ?? [])], options);
  }

  /** Tokens held and still accepted. */
  get size(): number {
    return this.#usable().length;
  }

  /**
   * A token, removed from the wallet; fetches some first when it is empty (as many as are waiting, in
   * issuances of up to `MAX_TOKENS_PER_ISSUANCE`), undefined when none can be had (no issuer reachable, the
   * budget spent). Starts a background refill when the wallet runs low.
   */
  async take(): Promise<Uint8Array | undefined> {
    for (;;) {
      const next = this.#usable()[0];
      if (next !== undefined) {
        this.#tokens = this.#tokens.filter((stored) => stored !== next);
        await this.#save();
        if (this.#tokens.length < this.#lowWatermark) this.refill();
        return fromBase64Url(next.token);
      }
      this.#waiting++;
      let fetched: number;
      try {
        fetched = await this.fill();
      } catch {
        return undefined;
      } finally {
        this.#waiting--;
      }
      if (fetched === 0) return undefined;
    }
  }

  /**
   * A token the service refused has left the wallet already (`take`); a `bad_token` also drops every other
   * token of its key (a rotation made them all useless).
   */
  refused(token: Uint8Array, reason: 'token_spent' | 'bad_token'): void {
    if (reason !== 'bad_token') return;
    let keyId: Uint8Array;
    try {
      keyId = parseToken(token).tokenKeyId;
    } catch {
      return;
    }
    this.#tokens = this.#tokens.filter(
      (stored) => !constantTimeEqual(parseToken(fromBase64Url(stored.token)).tokenKeyId, keyId),
    );
    // The key rotated away: the next fill asks which keys are current.
    this.#keys = undefined;
    void this.#save().catch(() => undefined);
  }

  /**
   * Fetches the issuer's keys now, in the background, unless they are at hand: an anonymous request, so it
   * can run before the identity may ask for tokens (beside a sign-up's registration). Failures are left for
   * the next fill.
   */
  prepareKeys(fetch: () => Promise<IssuerKeys>): void {
    this.#issuerKeys(fetch).catch(() => undefined);
  }

  /** Starts a refill up to the batch size in the background, unless one runs; failures wait for the next. */
  refill(): void {
    this.fill().catch(() => 0);
  }

  /** Fills the wallet if it runs low (the client's poll calls this); resolves when done, never rejects. */
  async maintain(): Promise<void> {
    if (this.#usable().length < this.#lowWatermark) await this.fill().catch(() => 0);
  }

  /**
   * Fetches tokens up to a batch (more when more takers wait) in one issuance, one fill at a time; resolves
   * with how many it added. Rejects when issuance failed.
   */
  fill(): Promise<number> {
    this.#filling ??= this.#fill().finally(() => {
      this.#filling = undefined;
    });
    return this.#filling;
  }

  /** Waits for a fill in progress (for closing the vault after it). */
  async settled(): Promise<void> {
    await this.#filling?.catch(() => undefined);
    await this.#saving;
  }

  async #fill(): Promise<number> {
    if (this.#clock() < this.#pausedUntil) return 0;
    const issuer = this.#issuer();
    if (issuer === undefined) return 0;
    const { issuerName, keys } = await this.#issuerKeys(() => issuer.issuerKeys());
    // Counted now: takers that arrived together are all waiting by the time the keys came back.
    const wanted = Math.min(
      MAX_TOKENS_PER_ISSUANCE,
      Math.max(this.#batch, this.#waiting + this.#lowWatermark) - this.#usable().length,
    );
    const key = keys.find((candidate) => candidate.notBefore <= this.#clock()) ?? keys[0];
    if (key === undefined || wanted <= 0) return 0;
    const challenge = tokenChallenge(issuerName);
    const clients = Array.from({ length: wanted }, () => new publicVerif.Client(BLIND_RSA_MODE));
    const requests = await Promise.all(
      clients.map(async (client) => (await client.createTokenRequest(challenge, key.tokenKey)).serialize()),
    );
    const result = await issuer.issueTokens(requests);
    if (!result.ok) {
      this.#pausedUntil = this.#clock() + result.retryAfterMs;
      return 0;
    }
    const fresh: StoredToken[] = [];
    for (const [index, response] of result.responses.entries()) {
      const client = clients[index];
      if (client === undefined) break;
      // Finalizing verifies the signature under the key every client was shown (RFC 9474 §4.4).
      const token = (
        await client.finalize(new publicVerif.TokenResponse(Uint8Array.from(response)))
      ).serialize();
      fresh.push({ token: toBase64Url(token), acceptUntil: key.acceptUntil });
    }
    this.#tokens = [...this.#usable(), ...fresh];
    await this.#save();
    return fresh.length;
  }

  /** The issuer's keys: those kept while fresh, else fetched (joining a fetch in flight). */
  async #issuerKeys(fetch: () => Promise<IssuerKeys>): Promise<IssuerKeys> {
    if (this.#keys !== undefined && this.#clock() < this.#keys.until) return this.#keys.value;
    this.#fetchingKeys ??= fetch()
      .then((value) => {
        const acceptUntil = Math.min(...value.keys.map((key) => key.acceptUntil));
        this.#keys = { value, until: Math.min(this.#clock() + ISSUER_KEYS_MAX_AGE_MS, acceptUntil) };
        return value;
      })
      .finally(() => {
        this.#fetchingKeys = undefined;
      });
    return this.#fetchingKeys;
  }

  #usable(): StoredToken[] {
    const now = this.#clock();
    return this.#tokens.filter((stored) => stored.acceptUntil > now);
  }

  /** Writes the wallet, one write at a time, in order. */
  #save(): Promise<void> {
    this.#saving = this.#saving
      .catch(() => undefined)
      .then(() => putJson(this.#vault, RECORD.tokens, { tokens: this.#usable() } satisfies WalletRecord));
    return this.#saving;
  }
}
