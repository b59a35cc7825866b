import { type BudgetRepository, spendKey, type StoredBudget } from '@model-router/database';
import {
  type BudgetEnforcement,
  type BudgetRoutePlan,
  type BudgetRouteRequest,
  type BudgetStatus,
  type Exclusion,
  budgetCovers,
  budgetStatus,
  budgetsNamed,
  buildBudgetEnforcement,
  type Model,
  nanosToUsd,
  NO_BUDGET_ENFORCEMENT,
  periodWindow,
  planRouteBudgets,
  type RouteDecision,
  withBudgetDetails,
} from '@model-router/domain';
import type { BudgetSpendNotice, ReservationBudget } from '@model-router/budgets';
import type { Logger } from '@model-router/logger';

/** A budget as a refusal names it (the fields are absent for a budget this replica does not know). */
export interface BudgetDescription {
  budget_id: string;
  scope?: BudgetStatus['rule']['scope'];
  scope_id?: string | null;
  action?: BudgetStatus['rule']['action'];
  state?: BudgetStatus['state'];
  limit_usd?: number;
  spent_usd?: number;
  remaining_usd?: number;
  period_end?: string;
}

/** Budgets left a request no model: what the route handler or the gateway answers with. */
export interface BudgetRefusal {
  /** Names the first budget and how many more, e.g. `budget "x" is exceeded ($1 of $1 spent this period)`. */
  message: string;
  budgets: BudgetDescription[];
  excluded: Exclusion[];
  /** Seconds until the earliest of the budgets' periods ends; null when none is known. */
  retry_after_s: number | null;
}

/** The Retry-After header of a budget refusal (none when no period end is known), for both answers' shapes. */
export function refusalRetryAfter(refusal: BudgetRefusal): Record<string, string> | undefined {
  return refusal.retry_after_s === null ? undefined : { 'Retry-After': String(refusal.retry_after_s) };
}

/**
 * This replica's view of every budget and its spend in the current period, and the enforcement
 * routing reads from it. Budgets and spend are loaded from Postgres with every snapshot refresh
 * (a budget change, a reconnect, the refresh timer); in between, the enforcer's spend notices on
 * Redis update it within milliseconds. Spend per (budget, period) only ever grows, so loads and
 * notices merge by maximum in any order. Nothing here does I/O on the route path: a route request
 * reads the precomputed enforcement, rebuilt in memory when the clock passes a period's end (so a
 * new period starts clean at its boundary, in the budget's own time zone).
 */
export class BudgetTracker {
  private budgets: readonly StoredBudget[] = [];
  private models: readonly Model[] = [];
  /** Committed spend by `spendKey(budget, period)`, in nano-dollars. */
  private readonly spend = new Map<string, number>();
  private statuses = new Map<string, BudgetStatus>();
  private enforcement: BudgetEnforcement = NO_BUDGET_ENFORCEMENT;
  private onBlocked: (blocked: ReadonlyMap<string, string>) => void = () => undefined;

  constructor(
    private readonly repository: BudgetRepository,
    private readonly clock: () => number,
    private readonly logger: Logger,
  ) {}

  /**
   * Tells `listener` about the models every request loses to a budget whenever they are rebuilt: the
   * snapshot's `budget_blocked`, which this tracker alone writes (for readers without a request,
   * such as the operator page).
   */
  onBlockedChange(listener: (blocked: ReadonlyMap<string, string>) => void): void {
    this.onBlocked = listener;
  }

  /** Reloads budgets and their current spend for `models` (called by the snapshot refresh). */
  async reload(models: readonly Model[]): Promise<void> {
    const budgets = await this.repository.list();
    const now = this.clock();
    const pairs = budgets.map((b) => ({ budget_id: b.id, period_key: periodWindow(b.period, b.timezone, now).key }));
    const stored = await this.repository.spendOf(pairs);
    for (const [key, total] of stored) this.merge(key, total.spent_nanos);
    this.budgets = budgets;
    this.models = models;
    this.rebuild(now);
  }

  /** Whether any budget exists (loaded with the last snapshot refresh). */
  hasBudgets(): boolean {
    return this.budgets.length > 0;
  }

  /** Applies spend the enforcer committed (the budget-state channel). */
  applySpend(notices: readonly BudgetSpendNotice[]): void {
    let changed = false;
    for (const n of notices) changed = this.merge(spendKey(n.budget_id, n.period_key), n.spent_nanos) || changed;
    if (!changed) return;
    this.rebuild(this.clock());
  }

  /**
   * The budgets' verdict on one route request (pure in-memory work): the one way budgets reach
   * routing, for /api/v1/route and the gateway alike. `blocked` holds the model-wide blocks (the
   * snapshot's `budget_blocked`, the same map when no user, key or downgrade rule applies) plus
   * the request's own.
   */
  plan(models: readonly Model[], request: BudgetRouteRequest): BudgetRoutePlan {
    this.rebuildIfStale();
    return planRouteBudgets(this.enforcement, models, request);
  }

  /**
   * Names the budget behind each `budget_exceeded` exclusion (`detail`, shown by ?explain=true) and
   * notes a downgrade in the reason. When budgets left no model at all, answers the refusal naming
   * them (the caller raises its own error from it: /api/v1/route a 429 BUDGET_EXCEEDED, the gateway
   * OpenAI's insufficient_quota); null when the budgets did not refuse the request.
   */
  applyVerdict(decision: RouteDecision, plan: BudgetRoutePlan): BudgetRefusal | null {
    decision.excluded = withBudgetDetails(decision.excluded, plan.blocked);
    if (decision.ok) {
      if (plan.downgraded_by !== null) {
        decision.reason += `; downgraded by budget "${plan.downgraded_by}" to the cheapest model that fits what is left`;
      }
      return null;
    }
    const named = budgetsNamed(decision.excluded);
    if (named.length === 0) return null;
    const budgets = named.map((id) => this.describe(id));
    const first = budgets[0]!;
    const endMs = Math.min(...named.map((id) => this.statuses.get(id)?.window.end_ms ?? Infinity));
    const why =
      first.action === 'downgrade' && first.state !== 'exceeded'
        ? `no model's estimated cost fits the $${first.remaining_usd} left of budget "${first.budget_id}"`
        : `budget "${first.budget_id}" is exceeded ($${first.spent_usd} of $${first.limit_usd} spent this period)`;
    const more = named.length > 1 ? ` (and ${named.length - 1} more budget${named.length > 2 ? 's' : ''})` : '';
    return {
      message: `${why}${more}`,
      budgets,
      excluded: decision.excluded,
      retry_after_s: Number.isFinite(endMs) ? Math.max(1, Math.ceil((endMs - this.clock()) / 1000)) : null,
    };
  }

  /**
   * The `block` budgets a call to `model` for `userId` with the API key `keyId` counts against, in
   * their current periods: what the gateway reserves against before the call (see
   * @model-router/budgets reservations). Another key's budgets are never among them.
   */
  blockBudgetsFor(model: Model, userId: string | null, keyId: string | null): ReservationBudget[] {
    this.rebuildIfStale();
    const subject = { model_id: model.id, provider: model.provider, user_id: userId, key_id: keyId };
    const budgets: ReservationBudget[] = [];
    for (const s of this.statuses.values()) {
      if (s.rule.action !== 'block' || !budgetCovers(s.rule, subject)) continue;
      budgets.push({ budget_id: s.rule.id, period_key: s.window.key, limit_nanos: s.rule.limit_nanos, known_spent_nanos: s.spent_nanos });
    }
    return budgets;
  }

  /** Rebuilds the enforcement when a budget period has ended since it was built. */
  private rebuildIfStale(): void {
    const now = this.clock();
    if (now >= this.enforcement.valid_until_ms) this.rebuild(now);
  }

  /** A budget's current status as this replica knows it (null for an unknown budget). */
  statusOf(budgetId: string): BudgetStatus | null {
    return this.statuses.get(budgetId) ?? null;
  }

  private describe(budgetId: string): BudgetDescription {
    const s = this.statuses.get(budgetId);
    if (!s) return { budget_id: budgetId };
    return {
      budget_id: budgetId,
      scope: s.rule.scope,
      scope_id: s.rule.scope_id,
      action: s.rule.action,
      state: s.state,
      limit_usd: nanosToUsd(s.rule.limit_nanos),
      spent_usd: nanosToUsd(s.spent_nanos),
      remaining_usd: nanosToUsd(s.remaining_nanos),
      period_end: new Date(s.window.end_ms).toISOString(),
    };
  }

  /** Raises a stored total; true when it moved. */
  private merge(key: string, spentNanos: number): boolean {
    const known = this.spend.get(key);
    if (known !== undefined && known >= spentNanos) return false;
    this.spend.set(key, spentNanos);
    return true;
  }

  private rebuild(now: number): void {
    const statuses = new Map<string, BudgetStatus>();
    const live = new Set<string>();
    for (const budget of this.budgets) {
      let window;
      try {
        window = periodWindow(budget.period, budget.timezone, now);
      } catch (error) {
        this.logger.warn('budget skipped: bad time zone', { budget_id: budget.id, err: error });
        continue;
      }
      const key = spendKey(budget.id, window.key);
      live.add(key);
      statuses.set(budget.id, budgetStatus(budget, window, this.spend.get(key) ?? 0));
    }
    // Forget totals of periods that are over; keep those of periods not begun here yet (another
    // replica's or a client's clock may run slightly ahead).
    for (const key of this.spend.keys()) {
      if (live.has(key)) continue;
      const [budgetId, periodKey] = key.split('\u0000') as [string, string];
      const current = statuses.get(budgetId)?.window.key;
      if (current === undefined || periodKey < current) this.spend.delete(key);
    }
    this.statuses = statuses;
    this.enforcement = buildBudgetEnforcement([...statuses.values()], this.models);
    this.onBlocked(this.enforcement.model_blocked);
  }
}
