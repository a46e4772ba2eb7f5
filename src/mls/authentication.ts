/**
 * The MLS authentication service (RFC 9420 §5.3.1): the application's answer to "does this credential really
 * belong to the holder of this signature key?". MLS proves only that a member holds the key its leaf names;
 * binding that key to a person is the AS's job. umbra's client implements it from the delivery service's
 * handle → identity-key registrations. The facade asks it about every credential it meets: KeyPackages it
 * adds or sees added, leaves replaced by Updates and commit paths, every leaf of a tree it joins, and the
 * signer of a Welcome's GroupInfo.
 *
 * ts-mls 1.6.4's own default accepts everything; the facade never uses it. Each operation gets its own
 * recorder around the application's service, so that a failure can be reported as "the AS said no" (or
 * "the AS could not answer") rather than as a generic validation error.
 */
import type { Credential, AuthenticationService as LibraryAuthenticationService } from 'ts-mls';
import { ArgumentError } from '../errors.ts';

/** A member's credential as RFC 9420 §5.3 defines it. umbra issues basic credentials (identity = handle). */
export type MlsCredential =
  | { readonly kind: 'basic'; readonly identity: Uint8Array }
  | { readonly kind: 'x509'; readonly certificates: readonly Uint8Array[] };

export interface AuthenticationService {
  /**
   * Resolves true when `credential` is bound to `signaturePublicKey`. Rejecting (or throwing) refuses the
   * message, Welcome or commit that carried it; nothing is merged.
   */
  validateCredential(credential: MlsCredential, signaturePublicKey: Uint8Array): Promise<boolean>;
}

export function toMlsCredential(credential: Credential): MlsCredential {
  return credential.credentialType === 'basic'
    ? { kind: 'basic', identity: credential.identity }
    : { kind: 'x509', certificates: credential.certificates };
}

export function toLibraryCredential(credential: MlsCredential): Credential {
  return credential.kind === 'basic'
    ? { credentialType: 'basic', identity: credential.identity }
    : { credentialType: 'x509', certificates: [...credential.certificates] };
}

export function assertAuthenticationService(value: unknown): asserts value is AuthenticationService {
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as Partial<AuthenticationService>).validateCredential !== 'function'
  ) {
    throw new ArgumentError(
      'authenticationService',
      'an authentication service with validateCredential(credential, signaturePublicKey) is required',
    );
  }
}

/** Why the AS refused during one operation, if it did. */
export type AuthenticationVerdict =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'rejected' }
  | { readonly kind: 'unverifiable'; readonly detail: string };

/** One operation's view of the AS: forwards every question and remembers the first refusal. */
export class AuthenticationRecorder implements LibraryAuthenticationService {
  readonly #service: AuthenticationService;
  #verdict: AuthenticationVerdict = { kind: 'accepted' };

  constructor(service: AuthenticationService) {
    this.#service = service;
  }

  get verdict(): AuthenticationVerdict {
    return this.#verdict;
  }

  async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    let accepted: boolean;
    try {
      accepted =
        (await this.#service.validateCredential(toMlsCredential(credential), signaturePublicKey)) === true;
    } catch (error) {
      if (this.#verdict.kind === 'accepted') {
        this.#verdict = {
          kind: 'unverifiable',
          detail: error instanceof Error ? error.message : String(error),
        };
      }
      return false;
    }
    if (!accepted && this.#verdict.kind === 'accepted') this.#verdict = { kind: 'rejected' };
    return accepted;
  }
}
