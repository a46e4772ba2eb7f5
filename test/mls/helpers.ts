// Shared pieces of the MLS tests: an authentication service that knows a fixed set of identities, members
// built through the facade, and the location of the IETF vectors (read in place, never copied).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CryptoProvider } from 'ts-mls';
import { constantTimeEqual, utf8 } from '../../src/bytes.ts';
import { mlsCryptoProvider as nativeProvider } from '../../src/mls/crypto/native.ts';
import { mlsCryptoProvider as portableProvider } from '../../src/mls/crypto/portable.ts';
import type { AuthenticationService, MlsCredential } from '../../src/mls/index.ts';
import { decodeMessage, Mls } from '../../src/mls/index.ts';
import type { OwnKeyPackage } from '../../src/mls/mls.ts';

/**
 * An AS like umbra's client: a directory of handle → signature key bindings. Unknown handles and keys that
 * do not match their handle are refused; `calls` counts questions so tests can see the AS was consulted.
 */
export class DirectoryAuthenticationService implements AuthenticationService {
  readonly #bindings = new Map<string, Uint8Array>();
  calls = 0;

  bind(handle: string, signaturePublicKey: Uint8Array): void {
    this.#bindings.set(handle, signaturePublicKey);
  }

  async validateCredential(credential: MlsCredential, signaturePublicKey: Uint8Array): Promise<boolean> {
    this.calls++;
    if (credential.kind !== 'basic') return false;
    const bound = this.#bindings.get(new TextDecoder().decode(credential.identity));
    return (
      bound !== undefined &&
      bound.length === signaturePublicKey.length &&
      constantTimeEqual(bound, signaturePublicKey)
    );
  }
}

/** For the IETF vectors only: their credentials name no one umbra knows. */
export const acceptAllForVectors: AuthenticationService = { validateCredential: async () => true };

export interface TestMember {
  readonly name: string;
  readonly mls: Mls;
  readonly keyPackage: OwnKeyPackage & { readonly reference: Uint8Array };
  readonly signaturePublicKey: Uint8Array;
}

/** A member whose KeyPackage's signature key is bound to its name in `directory`. */
export async function member(name: string, directory: DirectoryAuthenticationService): Promise<TestMember> {
  const mls = new Mls({ authenticationService: directory });
  const keyPackage = await mls.generateKeyPackage({ identity: utf8(name) });
  const decoded = decodeMessage(keyPackage.keyPackage);
  if (decoded.kind !== 'key-package') throw new Error('expected a KeyPackage');
  directory.bind(name, decoded.signaturePublicKey);
  return { name, mls, keyPackage, signaturePublicKey: decoded.signaturePublicKey };
}

const VECTORS = new URL('../../../shared/vectors/mls/', import.meta.url);

/** The parsed vector file, or undefined when the shared vectors are not on this machine. */
export function readVectors<T>(file: string): T | undefined {
  const path = fileURLToPath(new URL(file, VECTORS));
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
}

export const vectorsPath = fileURLToPath(VECTORS);

/** Both MLS crypto providers (src/mls/crypto), so that the vectors run on each. */
export const providers: readonly (readonly [name: string, provider: CryptoProvider])[] = [
  ['native', nativeProvider],
  ['portable', portableProvider],
];
