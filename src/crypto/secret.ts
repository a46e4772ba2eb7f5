/**
 * Misuse resistance for objects that hold secrets: printing them (console.log, util.inspect, JSON.stringify,
 * template strings) shows which object it is and its public parts, never the secret bytes. Every class that
 * holds a secret key, a passphrase-derived key or plaintext state extends `SecretHolder`.
 */

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export abstract class SecretHolder {
  /** Public, non-secret fields that may be shown (e.g. a public key's length, a directory path). */
  protected publicView(): Record<string, unknown> {
    return {};
  }

  toJSON(): Record<string, unknown> {
    return { type: this.constructor.name, ...this.publicView(), secret: '[redacted]' };
  }

  toString(): string {
    return `[${this.constructor.name} (secret redacted)]`;
  }

  [INSPECT](): string {
    const view = Object.entries(this.publicView())
      .map(([key, value]) => `${key}: ${describe(value)}`)
      .join(', ');
    return `${this.constructor.name} { ${view ? `${view}, ` : ''}secret: [redacted] }`;
  }
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return JSON.stringify(value);
}

/** A key pair. The secret key is reachable as a field for the code that needs it, and hidden from printing. */
export class KeyPair extends SecretHolder {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;

  constructor(publicKey: Uint8Array, secretKey: Uint8Array) {
    super();
    this.publicKey = publicKey;
    this.secretKey = secretKey;
  }

  protected override publicView(): Record<string, unknown> {
    return { publicKey: this.publicKey };
  }
}
