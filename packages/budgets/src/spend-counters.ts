import type { RedisClient as Redis } from '@model-router/redis';
import { budgetKeys } from './keys.js';

/** A (budget, period) total as Postgres committed it. */
export interface SpendTotalInput {
  budget_id: string;
  period_key: string;
  spent_nanos: number;
  /** How long the counter is kept from now (its period's end plus a grace, by the caller's clock). */
  ttl_ms: number;
}

/**
 * For each key: raise the counter to the given total if it is below it (or missing), and set its
 * time to live. Totals come from Postgres, where the idempotency ledger already counted each event once,
 * so raising to a maximum is what makes the script idempotent and order-free: a redelivered batch,
 * two enforcer replicas finishing out of order, or a reconciliation replaying every current total
 * all leave each counter at the largest committed total, and a Redis that lost everything is
 * rebuilt with nothing counted twice. Amounts stay decimal strings in Redis: Lua's tonumber is
 * exact for integers below 2^53, and the script never formats a number back to text.
 * Returns, per key, 1 when the counter moved and 0 when it already held the total (or more).
 */
const RAISE_TO_TOTALS = `
local moved = {}
for i, key in ipairs(KEYS) do
  local total = ARGV[2 * i - 1]
  local current = redis.call('GET', key)
  if current == false or tonumber(current) < tonumber(total) then
    redis.call('SET', key, total)
    moved[i] = 1
  else
    moved[i] = 0
  end
  redis.call('PEXPIRE', key, ARGV[2 * i])
end
return moved
`;

type RaiseCommand = (numKeys: number, ...args: (string | number)[]) => Promise<number[]>;

/** The budget spend counters in Redis: shared fast state, always a mirror of Postgres' totals. */
export class SpendCounters {
  private readonly keys: ReturnType<typeof budgetKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = budgetKeys(prefix);
    if (!('mrRaiseBudgetSpend' in redis)) redis.defineCommand('mrRaiseBudgetSpend', { lua: RAISE_TO_TOTALS });
  }

  /**
   * Applies a batch's totals, one script per budget (its counters share a hash tag, so a script
   * stays in one cluster slot), all sent at once (one round trip on a single Redis); returns how
   * many counters moved.
   */
  async raise(totals: readonly SpendTotalInput[]): Promise<number> {
    if (totals.length === 0) return 0;
    const byBudget = new Map<string, SpendTotalInput[]>();
    for (const total of totals) {
      const group = byBudget.get(total.budget_id);
      if (group) group.push(total);
      else byBudget.set(total.budget_id, [total]);
    }
    const raise = (this.redis as unknown as { mrRaiseBudgetSpend: RaiseCommand }).mrRaiseBudgetSpend;
    const moved = await Promise.all(
      [...byBudget.values()].map((group) => {
        const keys = group.map((t) => this.keys.spend(t.budget_id, t.period_key));
        const args = group.flatMap((t) => [String(t.spent_nanos), String(Math.max(1, Math.round(t.ttl_ms)))]);
        return raise.call(this.redis, keys.length, ...keys, ...args);
      }),
    );
    return moved.flat().reduce((a, b) => a + b, 0);
  }

  /** The counter of one budget's period in nano-dollars; null when Redis has none. */
  async read(budgetId: string, periodKey: string): Promise<number | null> {
    const value = await this.redis.get(this.keys.spend(budgetId, periodKey));
    return value === null ? null : Number(value);
  }
}
