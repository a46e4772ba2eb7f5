/**
 * Care-team roles, the tier each belongs to, and what each tier may see (issue 16, the recipient insight
 * layer; docs/wellness.md has the table). Visibility is applied on the owner's device before encryption:
 * each tier is one MLS conversation, and the owner posts to it only the insight kinds of its row, so a
 * supporter's client never receives what its tier may not see, however it is modified.
 */

export const SUPPORTER_ROLES = ['friend', 'family', 'colleague', 'coach', 'trainer', 'clinician'] as const;
export type SupporterRole = (typeof SUPPORTER_ROLES)[number];

/** Who sees what: personal circle, coaching, clinical care. One MLS conversation each. */
export const TIERS = ['circle', 'coaching', 'clinical'] as const;
export type Tier = (typeof TIERS)[number];

/** The kinds of derived insight an owner shares; each Observation is of exactly one (fhir.ts). */
export type InsightKind = 'summary' | 'fwi' | 'trend' | 'adherence' | 'pattern';

const TIER_OF: Readonly<Record<SupporterRole, Tier>> = {
  friend: 'circle',
  family: 'circle',
  colleague: 'circle',
  coach: 'coaching',
  trainer: 'coaching',
  clinician: 'clinical',
};

/** The visibility table: the only insight kinds each tier's conversation ever carries. */
export const VISIBLE_TO: Readonly<Record<Tier, readonly InsightKind[]>> = {
  circle: ['summary'],
  coaching: ['fwi', 'trend', 'adherence'],
  clinical: ['fwi', 'trend', 'adherence', 'pattern'],
};

export function isSupporterRole(value: unknown): value is SupporterRole {
  return SUPPORTER_ROLES.includes(value as SupporterRole);
}

export function isTier(value: unknown): value is Tier {
  return TIERS.includes(value as Tier);
}

export function tierOf(role: SupporterRole): Tier {
  return TIER_OF[role];
}

/** Whether members of `tier` may schedule reminders and check-ins for the owner (coaches and clinicians). */
export function maySchedule(tier: Tier): boolean {
  return tier !== 'circle';
}
