/**
 * Self-signed Ed25519 X.509 certificates for node-to-node TLS links, built with a minimal DER writer
 * (X.690) because node:crypto can parse certificates (`X509Certificate`) but not create them. The layout is
 * RFC 5280's v3 certificate with RFC 8410's Ed25519 algorithm identifier, a critical basicConstraints that
 * says "not a CA" and a keyUsage of digitalSignature only. Nobody validates these certificates against a
 * chain: peers pin the SHA-256 fingerprint of the certificate's DER, which the network document publishes,
 * so the names and dates inside are informational and the validity never ends (RFC 5280 §4.1.2.5).
 */
import { generateKeyPairSync, hash, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { randomBytes } from '../crypto/random.ts';
import { ArgumentError } from '../errors.ts';

const OID_ED25519 = [1, 3, 101, 112];
const OID_COMMON_NAME = [2, 5, 4, 3];
const OID_BASIC_CONSTRAINTS = [2, 5, 29, 19];
const OID_KEY_USAGE = [2, 5, 29, 15];

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const length = contents.reduce((sum, part) => sum + part.length, 0);
  const head = [tag, ...derLength(length)];
  const out = new Uint8Array(head.length + length);
  out.set(head);
  let offset = head.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const sequence = (...items: Uint8Array[]) => tlv(0x30, ...items);
const set = (...items: Uint8Array[]) => tlv(0x31, ...items);
const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
const bitString = (bytes: Uint8Array) => tlv(0x03, Uint8Array.of(0), bytes);
const utf8String = (text: string) => tlv(0x0c, new TextEncoder().encode(text));
const explicit = (number: number, item: Uint8Array) => tlv(0xa0 | number, item);
const TRUE = Uint8Array.of(0x01, 0x01, 0xff);

function objectIdentifier(arcs: readonly number[]): Uint8Array {
  const [first = 0, second = 0, ...rest] = arcs;
  const body = [40 * first + second];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) groups.unshift(0x80 | (value & 0x7f));
    body.push(...groups);
  }
  return tlv(0x06, Uint8Array.from(body));
}

/** A positive INTEGER: the high bit of the first byte is cleared so DER does not read it as negative. */
function positiveInteger(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[0] = ((copy[0] as number) & 0x7f) | 0x01;
  return tlv(0x02, copy);
}

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5), to the second, in UTC. */
function time(date: Date): Uint8Array {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  const text = year < 2050 ? `${digits.slice(2)}Z` : `${digits}Z`;
  return tlv(year < 2050 ? 0x17 : 0x18, new TextEncoder().encode(text));
}

const NEVER_EXPIRES = tlv(0x18, new TextEncoder().encode('99991231235959Z'));

function name(commonName: string): Uint8Array {
  return sequence(set(sequence(objectIdentifier(OID_COMMON_NAME), utf8String(commonName))));
}

function extension(oid: readonly number[], value: Uint8Array): Uint8Array {
  return sequence(objectIdentifier(oid), TRUE, octetString(value));
}

export interface SelfSignedCertificate {
  /** The certificate's DER bytes: what is pinned, and what TLS sends. */
  readonly der: Uint8Array;
  readonly certificatePem: string;
  readonly privateKey: KeyObject;
}

/** A new Ed25519 key and a self-signed certificate for it. `commonName` is informational only. */
export function createSelfSignedCertificate(
  commonName = 'umbra-node',
  now = new Date(),
): SelfSignedCertificate {
  if (commonName.length === 0 || commonName.length > 64) {
    throw new ArgumentError('commonName', 'expected 1 to 64 characters');
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const algorithm = sequence(objectIdentifier(OID_ED25519));
  const subject = name(commonName);
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const tbs = sequence(
    explicit(0, tlv(0x02, Uint8Array.of(2))),
    positiveInteger(randomBytes(16)),
    algorithm,
    subject,
    sequence(time(notBefore), NEVER_EXPIRES),
    subject,
    new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    explicit(
      3,
      sequence(
        extension(OID_BASIC_CONSTRAINTS, sequence()),
        // keyUsage = digitalSignature: bit 0 of a one-byte BIT STRING with 7 unused bits.
        extension(OID_KEY_USAGE, tlv(0x03, Uint8Array.of(0x07, 0x80))),
      ),
    ),
  );
  const der = sequence(tbs, algorithm, bitString(new Uint8Array(sign(null, tbs, privateKey))));
  return { der, certificatePem: new X509Certificate(der).toString(), privateKey };
}

/** The pin of a certificate: SHA-256 of its DER encoding (what `openssl x509 -fingerprint -sha256` shows). */
export function certificateFingerprint(der: Uint8Array): Uint8Array {
  return new Uint8Array(hash('sha256', der, 'buffer'));
}
