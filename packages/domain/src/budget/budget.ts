/** What a budget is, as the rules see it (the API's and Postgres' shapes carry the same fields). */

export const BUDGET_SCOPES = ['global', 'provider', 'model', 'user', 'key'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];

export const BUDGET_PERIODS = ['daily', 'monthly'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export const BUDGET_ACTIONS = ['block', 'downgrade', 'alert_only'] as const;
export type BudgetAction = (typeof BUDGET_ACTIONS)[number];

export const BUDGET_STATES = ['ok', 'warning', 'exceeded'] as const;
export type BudgetState = (typeof BUDGET_STATES)[number];

export const DEFAULT_ALERT_THRESHOLDS: readonly number[] = Object.freeze([0.5, 0.8, 1.0]);

export interface BudgetRule {
  id: string;
  scope: BudgetScope;
  /** The provider, model, user or API key id the budget covers; null for a global budget. */
  scope_id: string | null;
  period: BudgetPeriod;
  /** IANA time zone whose calendar days (or months) are the periods; "UTC" by default. */
  timezone: string;
  /** The limit in nano-dollars (USD × 1e9). */
  limit_nanos: number;
  action: BudgetAction;
  /** Fractions of the limit that raise an alert once per period, ascending (1.0 = the limit). */
  alert_thresholds: readonly number[];
}
