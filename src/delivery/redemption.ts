/**
 * Token redemption at the delivery service (docs/tokens.md; Privacy Pass, RFC 9577 §2.2 verification and
 * RFC 9578 §6.4 for token type 0x0002). A token is accepted once: its challenge digest is the service's fixed
 * challenge, its token key ID names a key still accepted, its authenticator verifies under that public key
 * (RSA-PSS in node:crypto, the same check as privacypass-ts's `Origin.verify`; the private key is never
 * needed, so any instance verifies), and its (key ID, nonce) was never spent: the store records the spend, for as long as
 * the key is accepted, in the transaction of the claim or post it pays for (`TokenSpend`).
 *
 * A spend is bound to what it paid for (a hash of the mailbox and message ID; of the handle for a claim): the
 * same token presented again for the same thing — a carrier's retransmission — is accepted again, so the
 * post answers `duplicate` and the claim its first result (the store keeps it, `claimKeyPackages` with a
 * spend) rather than `token_spent`; for anything else it is `token_spent`.
 *
 * Nothing here links a token to its issuance: the service sees a nonce it never saw before and a signature.
 */
import { constants, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { concatBytes, constantTimeEqual, toHex } from '../bytes.ts';
import { CodecError } from '../errors.ts';
import { challengeDigest, type ParsedToken, parseToken, spkiFromTokenKey } from '../protocol/tokens.ts';
import type { AcceptedKey, TokenIssuer } from './issuer.ts';

/** RSABSSA-SHA384-PSS: the salt is as long as the hash. */
const SALT_LENGTH = 48;

export class TokenVerifier {
  readonly #issuer: TokenIssuer;
  readonly #digest: Promise<Uint8Array>;
  /** Verification keys by token key ID (hex). */
  readonly #verifiers = new Map<string, KeyObject>();

  constructor(issuer: TokenIssuer) {
    this.#issuer = issuer;
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
    if (!this.#verifySignature(parsed, key)) return 'bad_token';
    return { id: concatBytes(parsed.tokenKeyId, parsed.nonce), expiresAt: key.record.acceptUntil };
  }

  /**
   * RFC 9474 §4.5 Verify, i.e. RSASSA-PSS-VERIFY with SHA-384, MGF1-SHA-384 and a 48-byte salt over the
   * token's authenticator input. Synchronous in node:crypto (31 µs): WebCrypto's verification, which
   * privacypass-ts's `Origin.verify` runs, hops to the thread pool and back (80 µs a token alone), which
   * spread the requests of one socket read over many turns and cost the store its group commits.
   * test/delivery/tokens.test.ts checks that both accept and refuse the same tokens.
   */
  #verifySignature(parsed: ParsedToken, key: AcceptedKey): boolean {
    const id = toHex(key.tokenKeyId);
    let publicKey = this.#verifiers.get(id);
    if (publicKey === undefined) {
      publicKey = createPublicKey({
        key: Buffer.from(spkiFromTokenKey(key.record.tokenKey)),
        format: 'der',
        type: 'spki',
      });
      // Keys are few and rotate weekly: forget those no longer accepted as new ones come.
      if (this.#verifiers.size > 16) this.#verifiers.clear();
      this.#verifiers.set(id, publicKey);
    }
    return verify(
      'sha384',
      parsed.authInput,
      { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT_LENGTH },
      parsed.authenticator,
    );
  }
}
