/** Redis names of the budget feature, under the deployment's key prefix. */
export function budgetKeys(prefix: string) {
  return {
    /** A budget's spend in one period, in nano-dollars (a decimal integer string). */
    spend: (budgetId: string, periodKey: string) => `${prefix}:budget:${budgetId}:${periodKey}:spent`,
    /** Every spend counter, for SCAN. */
    spendPattern: `${prefix}:budget:*:spent`,
    /** Where the enforcer announces new spend totals; every API replica listens. */
    stateChannel: `${prefix}:budget-state`,
  };
}
