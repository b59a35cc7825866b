import { redisKeys } from '@model-router/redis';

/** Redis names of the budget feature, under the deployment's key prefix (built in @model-router/redis). */
export function budgetKeys(prefix: string) {
  const k = redisKeys(prefix);
  return {
    /** A budget's spend in one period, in nano-dollars (a decimal integer string); tagged by budget. */
    spend: k.budgetSpend,
    /** Every spend counter, for SCAN. */
    spendPattern: k.budgetSpendPattern,
    /** Where the enforcer announces new spend totals; every API replica listens. */
    stateChannel: k.budgetStateChannel,
  };
}
