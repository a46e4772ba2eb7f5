/**
 * Anonymous rate-limit tokens as the delivery protocol carries them: Privacy Pass (RFC 9576 architecture,
 * RFC 9577 token and challenge formats, RFC 9578 issuance protocol) with token type 0x0002, publicly
 * verifiable Blind RSA (RFC 9474 RSABSSA-SHA384-PSS-Deterministic, 2048-bit keys). The formats, the client's
 * blinding and finalization and the verification are `@cloudflare/privacypass-ts`'s; this module fixes the
 * parameters both sides must agree on and parses tokens from hostile bytes without throwing anything but
 * `CodecError` (docs/tokens.md).
 *
 * The challenge is fixed per service: token type 0x0002, the issuer name the service announces (`issuerKeys`),
 * an empty redemption context (so that tokens can be fetched ahead of need and carry nothing about when or for
 * what they were fetched) and origin info naming the same service. Every token of every client therefore
 * commits to the same challenge digest.
 */
import { publicVerif, TokenChallenge, util } from '@cloudflare/privacypass-ts';
import { CodecError } from '../errors.ts';

const { BLIND_RSA, BlindRSAMode } = publicVerif;

/** RFC 9578 token type 0x0002: Blind RSA (2048-bit), RSABSSA-SHA384-PSS-Deterministic. */
export const TOKEN_TYPE = BLIND_RSA.value;
/** The PSS variant of token type 0x0002 (salt length 48). */
export const BLIND_RSA_MODE = BlindRSAMode.PSS;
/** Nk: the RSA modulus length in bytes, the length of blinded messages and signatures. */
export const TOKEN_MODULUS_BYTES = BLIND_RSA.Nk;
/** token_key_id = SHA-256(token key). */
export const TOKEN_KEY_ID_LENGTH = BLIND_RSA.Nid;
export const TOKEN_NONCE_LENGTH = 32;
const DIGEST_LENGTH = 32;
/** Token = u16 type ‖ nonce[32] ‖ challenge_digest[32] ‖ token_key_id[32] ‖ authenticator[Nk]. */
export const TOKEN_LENGTH =
  2 + TOKEN_NONCE_LENGTH + DIGEST_LENGTH + TOKEN_KEY_ID_LENGTH + TOKEN_MODULUS_BYTES;
/** TokenRequest = u16 type ‖ u8 truncated_token_key_id ‖ blinded_msg[Nk]. */
export const TOKEN_REQUEST_LENGTH = 2 + 1 + TOKEN_MODULUS_BYTES;
/** TokenResponse = blind_sig[Nk]. */
export const TOKEN_RESPONSE_LENGTH = TOKEN_MODULUS_BYTES;
/** Token requests one `issueTokens` may carry. */
export const MAX_TOKENS_PER_ISSUANCE = 32;
/** A token key (SubjectPublicKeyInfo with the RSASSA-PSS OID, RFC 9578 §6.5) is at most this long. */
export const MAX_TOKEN_KEY_BYTES = 1024;
/** Keys one `issuerKeys` answer lists (the current one and those still accepted). */
export const MAX_ISSUER_KEYS = 16;
/** The issuer name is 1 to this many bytes of UTF-8. */
export const MAX_ISSUER_NAME_BYTES = 128;
/** What an SDK or service calls itself when not configured otherwise. */
export const DEFAULT_ISSUER_NAME = 'umbra-delivery';

/** The one challenge every token of the service named `issuerName` answers. */
export function tokenChallenge(issuerName: string): TokenChallenge {
  return new TokenChallenge(TOKEN_TYPE, issuerName, new Uint8Array(0), [issuerName]);
}

/** SHA-256 of the serialized challenge, as tokens carry it. */
export async function challengeDigest(issuerName: string): Promise<Uint8Array> {
  return digest(tokenChallenge(issuerName).serialize());
}

/** token_key_id of a token key: SHA-256 of its encoding. */
export function tokenKeyId(tokenKey: Uint8Array): Promise<Uint8Array> {
  return digest(tokenKey);
}

/** The token key (SPKI with the RSASSA-PSS OID) of an RSA public key in plain rsaEncryption SPKI form. */
export function tokenKeyFromSpki(spki: Uint8Array): Uint8Array {
  return util.convertEncToRSASSAPSS(spki);
}

/** The rsaEncryption SPKI of a token key, for importing; throws CodecError for anything that is not one. */
export function spkiFromTokenKey(tokenKey: Uint8Array): Uint8Array {
  try {
    return util.convertRSASSAPSSToEnc(tokenKey);
  } catch {
    throw new CodecError('invalid_value', 'not a token key');
  }
}

/** A token's fields; `authInput` is what the authenticator signs (everything before it). */
export interface ParsedToken {
  readonly nonce: Uint8Array;
  readonly challengeDigest: Uint8Array;
  readonly tokenKeyId: Uint8Array;
  readonly authInput: Uint8Array;
  readonly authenticator: Uint8Array;
}

/** Parses a type 0x0002 token; throws only CodecError (wrong length or type). */
export function parseToken(bytes: Uint8Array): ParsedToken {
  if (!(bytes instanceof Uint8Array) || bytes.length !== TOKEN_LENGTH) {
    throw new CodecError('invalid_value', `a token is ${TOKEN_LENGTH} bytes`);
  }
  const type = ((bytes[0] as number) << 8) | (bytes[1] as number);
  if (type !== TOKEN_TYPE) throw new CodecError('invalid_value', 'another token type');
  const digestAt = 2 + TOKEN_NONCE_LENGTH;
  const keyIdAt = digestAt + DIGEST_LENGTH;
  const authenticatorAt = keyIdAt + TOKEN_KEY_ID_LENGTH;
  return {
    nonce: bytes.slice(2, digestAt),
    challengeDigest: bytes.slice(digestAt, keyIdAt),
    tokenKeyId: bytes.slice(keyIdAt, authenticatorAt),
    authInput: bytes.slice(0, authenticatorAt),
    authenticator: bytes.slice(authenticatorAt),
  };
}

/** A token request's fields; throws only CodecError (wrong length or type). */
export function parseTokenRequest(bytes: Uint8Array): {
  readonly truncatedTokenKeyId: number;
  readonly blindedMsg: Uint8Array;
} {
  if (!(bytes instanceof Uint8Array) || bytes.length !== TOKEN_REQUEST_LENGTH) {
    throw new CodecError('invalid_value', `a token request is ${TOKEN_REQUEST_LENGTH} bytes`);
  }
  const type = ((bytes[0] as number) << 8) | (bytes[1] as number);
  if (type !== TOKEN_TYPE) throw new CodecError('invalid_value', 'another token type');
  return { truncatedTokenKeyId: bytes[2] as number, blindedMsg: bytes.slice(3) };
}

async function digest(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
}
