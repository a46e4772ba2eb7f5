/**
 * A node's TLS identity: its Ed25519 link key and the self-signed certificate whose SHA-256 fingerprint the
 * network document publishes and peers pin. Kept in the node's data directory as one PEM file (key, then
 * certificate; mode 0600, written with the vault's durable-rename store), so a restarted node presents the
 * same certificate and its published fingerprint stays valid.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { toHex, utf8 } from '../bytes.ts';
import { SecretHolder } from '../crypto/secret.ts';
import { DirectoryStore } from '../crypto/vault/directory-store.ts';
import { ArgumentError } from '../errors.ts';
import { certificateFingerprint, createSelfSignedCertificate } from './certificate.ts';

const IDENTITY_FILE = 'identity.pem';
const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[A-Za-z0-9+/=\s]+-----END \1-----\n?/g;

export class TlsIdentity extends SecretHolder {
  readonly certificatePem: string;
  /** SHA-256 of the certificate's DER: the value peers pin. */
  readonly fingerprint: Uint8Array;
  readonly #privateKeyPem: string;

  private constructor(privateKey: KeyObject, certificate: X509Certificate) {
    super();
    if (privateKey.asymmetricKeyType !== 'ed25519' || !certificate.checkPrivateKey(privateKey)) {
      throw new ArgumentError('identity', 'expected an Ed25519 key and the certificate of that key');
    }
    this.certificatePem = certificate.toString();
    this.fingerprint = certificateFingerprint(new Uint8Array(certificate.raw));
    this.#privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** A fresh key and certificate, kept in memory only (tests, one-process development networks). */
  static generate(commonName?: string): TlsIdentity {
    const { der, privateKey } = createSelfSignedCertificate(commonName);
    return new TlsIdentity(privateKey, new X509Certificate(der));
  }

  /** The identity stored in `directory`, created there (durably, mode 0600) on first use. */
  static async loadOrCreate(directory: string, commonName?: string): Promise<TlsIdentity> {
    const store = new DirectoryStore(directory);
    const stored = await store.read(IDENTITY_FILE);
    if (stored) return TlsIdentity.#parse(new TextDecoder().decode(stored));
    const identity = TlsIdentity.generate(commonName);
    // writeNew is exclusive: if another process created the identity meanwhile, use that one.
    if (await store.writeNew(IDENTITY_FILE, utf8(identity.#privateKeyPem + identity.certificatePem))) {
      return identity;
    }
    return TlsIdentity.loadOrCreate(directory, commonName);
  }

  static #parse(pem: string): TlsIdentity {
    const blocks = new Map<string, string>();
    for (const match of pem.matchAll(PEM_BLOCK)) blocks.set(match[1] ?? '', match[0]);
    const key = blocks.get('PRIVATE KEY');
    const certificate = blocks.get('CERTIFICATE');
    if (!key || !certificate) {
      throw new ArgumentError('identity', `${IDENTITY_FILE} must hold a private key and a certificate`);
    }
    return new TlsIdentity(createPrivateKey(key), new X509Certificate(certificate));
  }

  /** The `key` and `cert` options of node:tls. */
  tlsCredentials(): { key: string; cert: string } {
    return { key: this.#privateKeyPem, cert: this.certificatePem };
  }

  protected override publicView(): Record<string, unknown> {
    return { fingerprint: toHex(this.fingerprint) };
  }
}
