/**
 * Crossover: users seen in more than one variant of the same test (a sticky assignment that
 * expired, a client that sends another user's variant id, a weight change under consistent_hash).
 * Their requests are counted in each variant they reached, so they blur the difference between the
 * arms; a few are harmless, many mean the assignment or the logging is broken — the same kind of
 * alarm as a sample ratio mismatch.
 */
export const CROSSOVER_WARNING_SHARE = 0.001;
export const CROSSOVER_MISMATCH_SHARE = 0.01;

export interface CrossoverResult {
  /** Users seen in more than one variant. */
  users: number;
  /** Their share of the test's distinct users (0 with no users). */
  share: number;
  /** share > 0.1 %: worth a look. */
  warning: boolean;
  /** share > 1 %: flagged like an SRM; the results are not trustworthy until the cause is found. */
  mismatch: boolean;
}

export function crossoverCheck(crossedUsers: number, totalUsers: number): CrossoverResult {
  if (!(crossedUsers >= 0) || !(totalUsers >= 0) || crossedUsers > totalUsers) {
    throw new RangeError(`crossoverCheck: need 0 ≤ crossed (${crossedUsers}) ≤ total (${totalUsers})`);
  }
  const share = totalUsers > 0 ? crossedUsers / totalUsers : 0;
  return { users: crossedUsers, share, warning: share > CROSSOVER_WARNING_SHARE, mismatch: share > CROSSOVER_MISMATCH_SHARE };
}
