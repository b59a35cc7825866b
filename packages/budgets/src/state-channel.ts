import { subscribeJson } from '@model-router/redis';
import type { RedisClient as Redis } from '@model-router/redis';
import { z } from 'zod';
import { budgetKeys } from './keys.js';

/** One budget's committed spend in one period, as the enforcer announces it. */
export const budgetSpendNoticeSchema = z.object({
  budget_id: z.string().min(1),
  period_key: z.string().min(1),
  spent_nanos: z.number().int().nonnegative(),
});
export type BudgetSpendNotice = z.infer<typeof budgetSpendNoticeSchema>;

const messageSchema = z.object({ spend: z.array(budgetSpendNoticeSchema), at: z.string() });

/** Announces new totals to every API replica (one message per batch). */
export async function publishBudgetSpend(redis: Redis, prefix: string, spend: readonly BudgetSpendNotice[]): Promise<void> {
  if (spend.length === 0) return;
  await redis.publish(budgetKeys(prefix).stateChannel, JSON.stringify({ spend, at: new Date().toISOString() }));
}

/**
 * Calls `onSpend` with each valid notice on the budget-state channel, using `subscriber` (a
 * connection in subscriber mode; it may listen to other channels too). Returns an unsubscribe.
 */
export function subscribeBudgetSpend(
  subscriber: Redis,
  prefix: string,
  onSpend: (spend: BudgetSpendNotice[]) => void,
): Promise<() => Promise<void>> {
  return subscribeJson(subscriber, budgetKeys(prefix).stateChannel, messageSchema, (message) => onSpend(message.spend));
}
