import type { BudgetRule, BudgetState } from './budget.js';

/** A threshold as an amount: the fraction of the limit, rounded to the nano-dollar. */
export function thresholdNanos(limitNanos: number, threshold: number): number {
  return Math.round(limitNanos * threshold);
}

/** The thresholds `spentNanos` has reached (spend at or above the threshold's amount), ascending. */
export function thresholdsReached(rule: BudgetRule, spentNanos: number): number[] {
  return rule.alert_thresholds.filter((t) => spentNanos >= thresholdNanos(rule.limit_nanos, t));
}

/** The thresholds crossed by spend going from `beforeNanos` to `afterNanos` (each at most once). */
export function thresholdsCrossed(rule: BudgetRule, beforeNanos: number, afterNanos: number): number[] {
  return rule.alert_thresholds.filter((t) => {
    const amount = thresholdNanos(rule.limit_nanos, t);
    return beforeNanos < amount && afterNanos >= amount;
  });
}

/**
 * `exceeded` once spend reaches the limit (nothing is left to spend), `warning` once it reaches the
 * lowest alert threshold below the limit, else `ok`.
 */
export function budgetState(rule: BudgetRule, spentNanos: number): BudgetState {
  if (spentNanos >= rule.limit_nanos) return 'exceeded';
  for (const t of rule.alert_thresholds) {
    if (t < 1 && spentNanos >= thresholdNanos(rule.limit_nanos, t)) return 'warning';
  }
  return 'ok';
}
