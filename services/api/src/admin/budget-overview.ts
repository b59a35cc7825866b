import { type BudgetRepository, spendKey } from '@model-router/database';
import { budgetStatus, nanosToUsd, periodWindow } from '@model-router/domain';
import type { BudgetView } from './overview.js';

/** Every budget with its spend in the current period, as GET /api/v1/budgets/:id/status computes it. */
export function budgetOverview(budgets: BudgetRepository, clock: () => number): () => Promise<BudgetView[]> {
  return async () => {
    const list = await budgets.list();
    const now = clock();
    const windows = new Map(list.map((b) => [b.id, periodWindow(b.period, b.timezone, now)]));
    const spend = await budgets.spendOf(list.map((b) => ({ budget_id: b.id, period_key: windows.get(b.id)!.key })));
    return list.map((budget) => {
      const window = windows.get(budget.id)!;
      const status = budgetStatus(budget, window, spend.get(spendKey(budget.id, window.key))?.spent_nanos ?? 0);
      return {
        id: budget.id,
        name: budget.name,
        scope: budget.scope,
        scope_id: budget.scope_id,
        period: budget.period,
        action: budget.action,
        limit_usd: nanosToUsd(budget.limit_nanos),
        spent_usd: nanosToUsd(status.spent_nanos),
        state: status.state,
        period_end: new Date(window.end_ms).toISOString(),
      };
    });
  };
}
