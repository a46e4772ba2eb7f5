/**
 * Token redemption at the delivery service (docs/tokens.md; Privacy Pass, RFC 9577 §2.2 verification and
 * RFC 9578 §6.4 for token type 0x0002). A token is accepted once: its challenge digest is the service's fixed
 * challenge, its token key ID names a key still accepted, its authenticator verifies under that public key
 * (`@cloudflare/privacypass-ts`'s `Origin.verify`, WebCrypto RSA-PSS; the private key is never needed, so any
 * instance verifies), and its (key ID, nonce) was never spent: the store records the spend, for as long as
 * the key is accepted, in the transaction of the claim or post it pays for (`TokenSpend`).
 *
 * A spend is bound to what it paid for (a hash of the mailbox and message ID; of the handle for a claim): the
 * same token presented again for the same thing — a carrier's retransmission — is accepted again, so the
 * post answers `duplicate` and the claim its first result (the store keeps it, `claimKeyPackages` with a
 * spend) rather than `token_spent`; for anything else it is `token_spent`.
 *
 * Nothing here links a token to its issuance: the service sees a nonce it never saw before and a signature.
 */
import { publicVerif, Token } from '@cloudflare/privacypass-ts';
import { concatBytes, constantTimeEqual, toHex } from '../crypto/bytes.ts';
import { CodecError } from '../errors.ts';
import {
  BLIND_RSA_MODE,
  challengeDigest,
  type ParsedToken,
  parseToken,
  spkiFromTokenKey,
} from '../protocol/tokens.ts';
import type { AcceptedKey, TokenIssuer } from './issuer.ts';

const { BLIND_RSA, Origin } = publicVerif;

export class TokenVerifier {
  readonly #issuer: TokenIssuer;
  readonly #origin: InstanceType<typeof Origin>;
  readonly #digest: Promise<Uint8Array>;
  /** Imported verification keys by token key ID (hex). */
  readonly #verifiers = new Map<string, Promise<CryptoKey>>();

  constructor(issuer: TokenIssuer) {
    this.#issuer = issuer;
    this.#origin = new Origin(BLIND_RSA_MODE, [issuer.issuerName]);
    this.#digest = challengeDigest(issuer.issuerName);
  }

  /**
   * Verifies `token`: what its spend records (its ID, and how long to keep it), for the store operation that
   * spends it atomically with its own work, or `bad_token`.
   */
  async verify(
    token: Uint8Array,
  ): Promise<{ readonly id: Uint8Array; readonly expiresAt: number } | 'bad_token'> {
    let parsed: ParsedToken;
    try {
      parsed = parseToken(token);
    } catch (error) {
      if (error instanceof CodecError) return 'bad_token';
      throw error;
    }
    if (!constantTimeEqual(parsed.challengeDigest, await this.#digest)) return 'bad_token';
    const keys = await this.#issuer.acceptedKeys();
    const key = keys.find((candidate) => constantTimeEqual(candidate.tokenKeyId, parsed.tokenKeyId));
    if (key === undefined) return 'bad_token';
    if (!(await this.#verifySignature(token, key))) return 'bad_token';
    return { id: concatBytes(parsed.tokenKeyId, parsed.nonce), expiresAt: key.record.acceptUntil };
  }

  async #verifySignature(token: Uint8Array, key: AcceptedKey): Promise<boolean> {
    const id = toHex(key.tokenKeyId);
    let verifier = this.#verifiers.get(id);
    if (verifier === undefined) {
      verifier = crypto.subtle.importKey(
        'spki',
        spkiFromTokenKey(key.record.tokenKey) as Uint8Array<ArrayBuffer>,
        BLIND_RSA.rsaParams,
        true,
        ['verify'],
      );
      // Keys are few and rotate weekly: forget those no longer accepted as new ones come.
      if (this.#verifiers.size > 16) this.#verifiers.clear();
      this.#verifiers.set(id, verifier);
    }
    try {
      // A copy: privacypass-ts reads the whole buffer under a view, not the view.
      return await this.#origin.verify(Token.deserialize(BLIND_RSA, Uint8Array.from(token)), await verifier);
    } catch {
      return false;
    }
  }
}
