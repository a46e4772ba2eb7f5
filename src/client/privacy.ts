/**
 * The privacy policy (design brief §1, issue #4) and the state the SDK reports from its carriers' status.
 *
 * - `'mixnet'` (the default) fails closed: requests go through the mixnet carrier or not at all.
 * - `'mixnet-or-direct'` prefers the mixnet and falls back to the direct carrier when it is down.
 * - `'direct'` uses only the direct carrier (content private, metadata visible to the delivery service).
 *
 * The state follows from the carrier that would be used now: `full` when it is the mixnet, `partial` when it
 * is the direct carrier, `none` when the policy allows no carrier that is up — then nothing is sent. The
 * `reason` is for people and comes from the carriers' own status reasons, which never hold user data.
 */
import {
  type Carrier,
  type CarrierKind,
  type CarrierStatus,
  PRIVACY_POLICIES,
  type PrivacyPolicy,
} from '../protocol/carrier.ts';

export type PrivacyLevel = 'full' | 'partial' | 'none';

export interface PrivacyState {
  readonly level: PrivacyLevel;
  /** The carrier requests take now, if any. */
  readonly carrier: CarrierKind | undefined;
  readonly reason: string;
}

export function isPrivacyPolicy(value: unknown): value is PrivacyPolicy {
  return (PRIVACY_POLICIES as readonly unknown[]).includes(value);
}

/** The carriers a policy allows, in order of preference. */
export function allowedCarriers(policy: PrivacyPolicy): readonly CarrierKind[] {
  switch (policy) {
    case 'mixnet':
      return ['mixnet'];
    case 'mixnet-or-direct':
      return ['mixnet', 'direct'];
    case 'direct':
      return ['direct'];
  }
}

function describe(kind: CarrierKind, status: CarrierStatus | undefined): string {
  if (status === undefined) return `no ${kind} carrier configured`;
  return status.state === 'up' ? `${kind} carrier up` : `${kind} carrier ${status.state}: ${status.reason}`;
}

/** The state under `policy` given each carrier's current status. */
export function privacyState(
  policy: PrivacyPolicy,
  carriers: ReadonlyMap<CarrierKind, Carrier>,
): PrivacyState {
  const allowed = allowedCarriers(policy);
  const statuses = new Map(allowed.map((kind) => [kind, carriers.get(kind)?.status()]));
  const chosen = allowed.find((kind) => statuses.get(kind)?.state === 'up');
  if (chosen === 'mixnet') {
    return {
      level: 'full',
      carrier: 'mixnet',
      reason: 'mixnet carrier up: end-to-end encrypted and unlinkable',
    };
  }
  if (chosen === 'direct') {
    const why =
      policy === 'direct'
        ? 'the policy is direct'
        : `fallback: ${describe('mixnet', statuses.get('mixnet'))}`;
    return {
      level: 'partial',
      carrier: 'direct',
      reason: `direct carrier (${why}): end-to-end encrypted, but the delivery service sees who connects`,
    };
  }
  const details = allowed.map((kind) => describe(kind, statuses.get(kind))).join('; ');
  const closed = policy === 'mixnet' ? '; the policy forbids falling back to direct' : '';
  return { level: 'none', carrier: undefined, reason: `${details}${closed}` };
}

export function samePrivacy(a: PrivacyState, b: PrivacyState): boolean {
  return a.level === b.level && a.carrier === b.carrier && a.reason === b.reason;
}
