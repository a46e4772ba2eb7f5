/**
 * Safety numbers: the 60 digits (and the QR payload) two people compare out of band to confirm that each
 * holds the other's real identity key, the construction of Signal's NumericFingerprintGenerator (version 0,
 * 5200 iterations). Each party's fingerprint is SHA-512 iterated 5200 times as hash = SHA-512(hash ‖
 * identityKey), starting from version (u16, big-endian, 0) ‖ identityKey ‖ id; the iterations make a
 * second key with a matching number expensive to search for, and hashing the key in every round keeps
 * key and id apart even though the start is a bare concatenation. The first 30 bytes of a fingerprint, as
 * six 5-byte big-endian integers each taken mod 100000 and zero-padded, give that party's 30 digits. The
 * two halves are ordered by their digits (ties, which need two identical halves, by their bytes), so both
 * sides compute the same number whoever is local. The QR payload is version (u16, big-endian) followed by
 * the two 30-byte fingerprints in that same order: identical on both devices, compared in constant time.
 */

import { assertBytes, concatBytes, constantTimeEqual, utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import type { CryptoBackend } from './backend.ts';

export interface SafetyNumberParty {
  /** A stable identifier of the party (an account or user id); strings are taken as UTF-8. */
  readonly id: Uint8Array | string;
  /** The party's public identity key in its canonical encoding. */
  readonly identityKey: Uint8Array;
}

export interface SafetyNumber {
  /** 60 decimal digits. */
  readonly digits: string;
  /** The digits as 12 groups of 5. */
  readonly groups: readonly string[];
  /** The groups joined by single spaces, for display. */
  readonly display: string;
  /** The payload to show as a QR code: version (2 bytes) ‖ both 30-byte fingerprints. */
  readonly qrBytes: Uint8Array;
}

export const SAFETY_NUMBER_VERSION = 0;
export const SAFETY_NUMBER_ITERATIONS = 5200;
const FINGERPRINT_LENGTH = 30;
const CHUNK_LENGTH = 5;
const DIGITS_PER_CHUNK = 5;
const VERSION_BYTES = Uint8Array.of(SAFETY_NUMBER_VERSION >> 8, SAFETY_NUMBER_VERSION & 0xff);

interface Half {
  readonly digits: string;
  readonly fingerprint: Uint8Array;
}

function partyBytes(argument: string, party: SafetyNumberParty): { id: Uint8Array; identityKey: Uint8Array } {
  if (typeof party !== 'object' || party === null)
    throw new ArgumentError(argument, 'expected { id, identityKey }');
  const { id, identityKey } = party;
  assertBytes(`${argument}.identityKey`, identityKey);
  if (identityKey.length === 0) throw new ArgumentError(`${argument}.identityKey`, 'must not be empty');
  let idBytes: Uint8Array;
  if (typeof id === 'string') {
    // A lone surrogate would become U+FFFD in UTF-8, so two different ids could share a number.
    if (!id.isWellFormed()) throw new ArgumentError(`${argument}.id`, 'must be a well-formed string');
    idBytes = utf8(id);
  } else {
    assertBytes(`${argument}.id`, id);
    idBytes = id;
  }
  if (idBytes.length === 0) throw new ArgumentError(`${argument}.id`, 'must not be empty');
  return { id: idBytes, identityKey };
}

function half(backend: CryptoBackend, id: Uint8Array, identityKey: Uint8Array): Half {
  let hash = concatBytes(VERSION_BYTES, identityKey, id);
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) hash = backend.sha512(concatBytes(hash, identityKey));
  const fingerprint = hash.slice(0, FINGERPRINT_LENGTH);
  let digits = '';
  for (let offset = 0; offset < FINGERPRINT_LENGTH; offset += CHUNK_LENGTH) {
    // 40 bits fit a double exactly.
    let chunk = 0;
    for (let i = offset; i < offset + CHUNK_LENGTH; i++) chunk = chunk * 256 + (fingerprint[i] as number);
    digits += String(chunk % 10 ** DIGITS_PER_CHUNK).padStart(DIGITS_PER_CHUNK, '0');
  }
  return { digits, fingerprint };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const difference = (a[i] as number) - (b[i] as number);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

function inOrder(a: Half, b: Half): [Half, Half] {
  if (a.digits !== b.digits) return a.digits < b.digits ? [a, b] : [b, a];
  return compareBytes(a.fingerprint, b.fingerprint) <= 0 ? [a, b] : [b, a];
}

/** The safety number of two parties; the same whichever of them is `local`. */
export function safetyNumber(
  backend: CryptoBackend,
  local: SafetyNumberParty,
  remote: SafetyNumberParty,
): SafetyNumber {
  if (typeof backend?.sha512 !== 'function') throw new ArgumentError('backend', 'expected a CryptoBackend');
  const localBytes = partyBytes('local', local);
  const remoteBytes = partyBytes('remote', remote);
  const [first, second] = inOrder(
    half(backend, localBytes.id, localBytes.identityKey),
    half(backend, remoteBytes.id, remoteBytes.identityKey),
  );
  const digits = first.digits + second.digits;
  const groups: string[] = [];
  for (let offset = 0; offset < digits.length; offset += DIGITS_PER_CHUNK) {
    groups.push(digits.slice(offset, offset + DIGITS_PER_CHUNK));
  }
  return {
    digits,
    groups,
    display: groups.join(' '),
    qrBytes: concatBytes(VERSION_BYTES, first.fingerprint, second.fingerprint),
  };
}

/**
 * Whether a scanned QR payload matches ours, compared in constant time like every other piece of
 * authentication material. A payload of another length or version is simply a mismatch.
 */
export function compareSafetyNumberQr(localQrBytes: Uint8Array, scannedQrBytes: Uint8Array): boolean {
  assertBytes('localQrBytes', localQrBytes);
  assertBytes('scannedQrBytes', scannedQrBytes);
  return constantTimeEqual(localQrBytes, scannedQrBytes);
}
