/**
 * KeyPackages (RFC 9420 §10): what a client publishes so that others can add it to groups, and the private
 * keys it must keep until the KeyPackage is used — the HPKE init key that opens the Welcome, the leaf's
 * encryption key and the signature key. `KeyPackageSecrets` holds them, never prints them, and encodes to
 * bytes for the vault (a versioned struct built with src/codec).
 */
import type { PrivateKeyPackage } from 'ts-mls';
import { wipe } from '../bytes.ts';
import { decode, encode, literal, opaque, struct, u8 } from '../codec/index.ts';
import { SecretHolder } from '../crypto/secret.ts';

const MAX_KEY_BYTES = 65_536;

const secretsCodec = struct({
  version: literal(u8, 1),
  initPrivateKey: opaque(MAX_KEY_BYTES),
  hpkePrivateKey: opaque(MAX_KEY_BYTES),
  signaturePrivateKey: opaque(MAX_KEY_BYTES),
});

export class KeyPackageSecrets extends SecretHolder {
  readonly initPrivateKey: Uint8Array;
  readonly hpkePrivateKey: Uint8Array;
  readonly signaturePrivateKey: Uint8Array;

  constructor(keys: {
    initPrivateKey: Uint8Array;
    hpkePrivateKey: Uint8Array;
    signaturePrivateKey: Uint8Array;
  }) {
    super();
    this.initPrivateKey = keys.initPrivateKey;
    this.hpkePrivateKey = keys.hpkePrivateKey;
    this.signaturePrivateKey = keys.signaturePrivateKey;
  }

  static decode(bytes: Uint8Array): KeyPackageSecrets {
    return new KeyPackageSecrets(decode(secretsCodec, bytes));
  }

  encode(): Uint8Array {
    return encode(secretsCodec, { version: 1 as const, ...this.forLibrary() });
  }

  forLibrary(): PrivateKeyPackage {
    return {
      initPrivateKey: this.initPrivateKey,
      hpkePrivateKey: this.hpkePrivateKey,
      signaturePrivateKey: this.signaturePrivateKey,
    };
  }

  /** For one-time KeyPackages once their Welcome has been joined; last-resort ones are kept. */
  wipe(): void {
    wipe(this.initPrivateKey, this.hpkePrivateKey, this.signaturePrivateKey);
  }
}

/** A KeyPackage as published (an MLSMessage), its reference (RFC 9420 §5.2) and the keys to keep. */
export interface GeneratedKeyPackage {
  readonly keyPackage: Uint8Array;
  readonly reference: Uint8Array;
  readonly secrets: KeyPackageSecrets;
}
