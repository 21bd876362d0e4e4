export type PolicyState = 'ok' | 'warning' | 'violation' | 'unknown';

export interface AgePolicy {
  maxAgeDays: number;
  warnAgeDays: number;
}

export interface AgeVerdict {
  state: PolicyState;
  ageDays: number | undefined;
  /** Days until the maximum age is reached (negative once past it). */
  daysLeft: number | undefined;
}

const DAY = 86_400_000;

/** Judges a credential's age (time since the store last wrote it) against the policy. */
export function assessAge(updatedAt: Date | undefined, now: Date, policy: AgePolicy): AgeVerdict {
  if (updatedAt === undefined) return { state: 'unknown', ageDays: undefined, daysLeft: undefined };
  const ageDays = Math.max(0, (now.getTime() - updatedAt.getTime()) / DAY);
  const daysLeft = policy.maxAgeDays - ageDays;
  const state = ageDays >= policy.maxAgeDays ? 'violation' : ageDays >= policy.warnAgeDays ? 'warning' : 'ok';
  return { state, ageDays, daysLeft };
}

export const formatDays = (d: number | undefined): string => (d === undefined ? '-' : `${Math.floor(d)}d`);
