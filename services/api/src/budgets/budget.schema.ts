import { BUDGET_ACTIONS, BUDGET_PERIODS, BUDGET_SCOPES, canonicalTimeZone, DEFAULT_ALERT_THRESHOLDS, entityIdSchema, usdToNanos } from '@model-router/domain';
import { z } from 'zod';

export const budgetIdSchema = entityIdSchema;

// Spend sums are exact integers of nano-dollars below 2^53 (≈ $9.007 million) per period.
const MAX_LIMIT_USD = 9_000_000;

const timezone = z.string().transform((value, ctx) => {
  const canonical = canonicalTimeZone(value);
  if (canonical === null) {
    ctx.addIssue({ code: 'custom', message: `unknown time zone "${value}" (use an IANA name such as "UTC" or "Europe/Berlin")` });
    return z.NEVER;
  }
  return canonical;
});

const thresholds = z
  .array(z.number().finite().gt(0, 'must be greater than 0').max(10, 'must be at most 10 (1000 % of the limit)'))
  .max(20)
  .refine((list) => new Set(list).size === list.length, 'thresholds must be distinct')
  .transform((list) => [...list].sort((a, b) => a - b));

const fields = {
  name: z.string().min(1).max(200).nullable().optional(),
  scope: z.enum(BUDGET_SCOPES),
  scope_id: z.string().min(1).max(256).regex(/^[^\u0000]*$/, 'must not contain NUL characters').nullable().optional(),
  period: z.enum(BUDGET_PERIODS),
  timezone: timezone.default('UTC'),
  limit_usd: z
    .number()
    .finite()
    .gt(0, 'must be greater than 0')
    .max(MAX_LIMIT_USD)
    .refine((usd) => usdToNanos(usd) >= 1, 'must be at least $0.000000001'),
  action: z.enum(BUDGET_ACTIONS),
  alert_thresholds: thresholds.default([...DEFAULT_ALERT_THRESHOLDS]),
};

/** A global budget has no scope_id; every other scope needs one. */
function scopeIdFits(b: { scope: string; scope_id?: string | null | undefined }, ctx: z.RefinementCtx): void {
  const has = b.scope_id !== undefined && b.scope_id !== null;
  if (b.scope === 'global' && has) ctx.addIssue({ code: 'custom', path: ['scope_id'], message: 'a global budget has no scope_id' });
  if (b.scope !== 'global' && !has) ctx.addIssue({ code: 'custom', path: ['scope_id'], message: `a ${b.scope} budget needs the ${b.scope} it covers in scope_id` });
}

/** POST /api/v1/budgets (unknown fields are refused). */
export const createBudgetSchema = z.strictObject({ id: budgetIdSchema.optional(), ...fields }).superRefine(scopeIdFits);

/** PUT /api/v1/budgets/:id: every writable field; `id`, when given, must match the path. */
export const replaceBudgetSchema = createBudgetSchema;

export type BudgetBody = z.infer<typeof createBudgetSchema>;
