import type { BudgetRule } from './budget.js';
import type { PeriodCalendar } from './period.js';
import { budgetCovers } from './scope.js';

/** The cost of one call outcome, as the budget enforcer receives it. */
export interface CostRecord {
  event_id: string;
  /** When the call happened: it decides the period the cost counts in. */
  occurred_at_ms: number;
  model_id: string;
  provider: string;
  user_id: string | null;
  /** The API key that reported or made the call (the event's `key_id`). */
  key_id: string | null;
  cost_nanos: number;
}

/** What a batch adds to one budget's period. */
export interface SpendDelta {
  budget_id: string;
  period_key: string;
  period_start_ms: number;
  period_end_ms: number;
  delta_nanos: number;
  /** How many events contributed (the fresh ones). */
  event_count: number;
}

/** The records that at least one budget counts; the others need no bookkeeping at all. */
export function coveredRecords<R extends CostRecord>(rules: readonly BudgetRule[], records: readonly R[]): R[] {
  if (rules.length === 0) return [];
  return records.filter((r) => rules.some((rule) => budgetCovers(rule, r)));
}

/**
 * Sums a batch per (budget, period). Every (budget, period) that a covered record touches gets a
 * delta, also when `isFresh` says none of its records is new (delta 0): a redelivered batch then
 * still reports the totals it touched. Sorted by budget id, then period key: writers lock rows in
 * one global order and cannot deadlock.
 */
export function spendDeltas<R extends CostRecord>(
  rules: readonly BudgetRule[],
  records: readonly R[],
  calendar: PeriodCalendar,
  isFresh: (record: R) => boolean = () => true,
): SpendDelta[] {
  const deltas = new Map<string, SpendDelta>();
  for (const record of records) {
    const fresh = isFresh(record);
    for (const rule of rules) {
      if (!budgetCovers(rule, record)) continue;
      const window = calendar.windowAt(rule.period, rule.timezone, record.occurred_at_ms);
      const key = `${rule.id}\u0000${window.key}`;
      let delta = deltas.get(key);
      if (!delta) {
        delta = {
          budget_id: rule.id,
          period_key: window.key,
          period_start_ms: window.start_ms,
          period_end_ms: window.end_ms,
          delta_nanos: 0,
          event_count: 0,
        };
        deltas.set(key, delta);
      }
      if (fresh) {
        delta.delta_nanos += record.cost_nanos;
        delta.event_count += 1;
      }
    }
  }
  return [...deltas.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
}
