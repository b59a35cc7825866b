import { estimateCost } from '../cost.js';
import type { Model } from '../model.js';
import type { Exclusion } from '../routing/types.js';
import type { BudgetRule, BudgetState } from './budget.js';
import { usdToNanos } from './money.js';
import type { PeriodWindow } from './period.js';
import { budgetCovers } from './scope.js';
import { budgetState } from './thresholds.js';

/** A budget in its current period. */
export interface BudgetStatus {
  rule: BudgetRule;
  window: PeriodWindow;
  spent_nanos: number;
  /** What is left of the limit, never below 0. */
  remaining_nanos: number;
  state: BudgetState;
}

export function budgetStatus(rule: BudgetRule, window: PeriodWindow, spentNanos: number): BudgetStatus {
  return {
    rule,
    window,
    spent_nanos: spentNanos,
    remaining_nanos: Math.max(0, rule.limit_nanos - spentNanos),
    state: budgetState(rule, spentNanos),
  };
}

/**
 * Everything routing needs to apply budgets, precomputed off the hot path whenever a budget, a
 * spend total or the model list changes. Only `block` and `downgrade` budgets are here:
 * `alert_only` budgets never change a route.
 */
export interface BudgetEnforcement {
  /** Models every request loses: exceeded `block` budgets of global, provider or model scope. */
  model_blocked: ReadonlyMap<string, string>;
  /** Users whose requests all answer 429: exceeded `block` budgets of user scope (user → budget). */
  user_blocked: ReadonlyMap<string, string>;
  /** API keys whose requests all answer 429: exceeded `block` budgets of key scope (key id → budget). */
  key_blocked: ReadonlyMap<string, string>;
  /** `downgrade` budgets of global, provider or model scope. */
  downgrades: readonly BudgetStatus[];
  /** `downgrade` budgets of user scope, by user. */
  user_downgrades: ReadonlyMap<string, readonly BudgetStatus[]>;
  /** `downgrade` budgets of key scope, by key id. */
  key_downgrades: ReadonlyMap<string, readonly BudgetStatus[]>;
  /** The earliest end of a current period: from then on the enforcement must be rebuilt. */
  valid_until_ms: number;
}

export const NO_BUDGET_ENFORCEMENT: BudgetEnforcement = Object.freeze({
  model_blocked: new Map<string, string>(),
  user_blocked: new Map<string, string>(),
  key_blocked: new Map<string, string>(),
  downgrades: [],
  user_downgrades: new Map<string, readonly BudgetStatus[]>(),
  key_downgrades: new Map<string, readonly BudgetStatus[]>(),
  valid_until_ms: Infinity,
});

/** Budgets of one tenant (a user or an API key): they apply to that tenant's requests only. */
const isTenantScope = (scope: BudgetRule['scope']): scope is 'user' | 'key' => scope === 'user' || scope === 'key';

export function buildBudgetEnforcement(statuses: readonly BudgetStatus[], models: readonly Model[]): BudgetEnforcement {
  const modelBlocked = new Map<string, string>();
  const tenantBlocked = { user: new Map<string, string>(), key: new Map<string, string>() };
  const downgrades: BudgetStatus[] = [];
  const tenantDowngrades = { user: new Map<string, BudgetStatus[]>(), key: new Map<string, BudgetStatus[]>() };
  let validUntil = Infinity;
  // Budget ids in order, so the budget named for a model is the same on every replica.
  const ordered = [...statuses].sort((a, b) => (a.rule.id < b.rule.id ? -1 : a.rule.id > b.rule.id ? 1 : 0));
  for (const status of ordered) {
    const { rule } = status;
    if (status.window.end_ms < validUntil) validUntil = status.window.end_ms;
    if (rule.action === 'block' && status.state === 'exceeded') {
      if (isTenantScope(rule.scope)) {
        const blocked = tenantBlocked[rule.scope];
        if (!blocked.has(rule.scope_id!)) blocked.set(rule.scope_id!, rule.id);
        continue;
      }
      for (const model of models) {
        if (!modelBlocked.has(model.id) && budgetCovers(rule, { model_id: model.id, provider: model.provider, user_id: null, key_id: null })) {
          modelBlocked.set(model.id, rule.id);
        }
      }
    } else if (rule.action === 'downgrade') {
      if (isTenantScope(rule.scope)) {
        const byTenant = tenantDowngrades[rule.scope];
        const list = byTenant.get(rule.scope_id!) ?? [];
        list.push(status);
        byTenant.set(rule.scope_id!, list);
      } else {
        downgrades.push(status);
      }
    }
  }
  return {
    model_blocked: modelBlocked,
    user_blocked: tenantBlocked.user,
    key_blocked: tenantBlocked.key,
    downgrades,
    user_downgrades: tenantDowngrades.user,
    key_downgrades: tenantDowngrades.key,
    valid_until_ms: validUntil,
  };
}

export interface BudgetRouteRequest {
  user_id?: string | null | undefined;
  /** The API key making the request (its events' `key_id`): its `key` budgets apply. */
  key_id?: string | null | undefined;
  prompt_tokens: number;
  max_tokens: number;
}

export interface BudgetRoutePlan {
  /** Model → the budget that removes it from this request (the snapshot's `budget_blocked`). */
  blocked: ReadonlyMap<string, string>;
  /** A `downgrade` budget past its first alert threshold: rank cheapest first. Null otherwise. */
  downgraded_by: string | null;
}

/**
 * The budgets' verdict on one route request:
 * - `block`: once exceeded, every model in scope is removed (a user or key budget removes all of
 *   them, for that user's or key's requests only);
 * - `downgrade`: a model in scope stays only while its estimate (prompt tokens at the input price
 *   plus max_tokens at the output price, the estimate /route reports) fits what is left of the
 *   budget, and once the budget is past its first threshold the ranking becomes cheapest first;
 *   when nothing fits (an exceeded budget leaves nothing) the request is refused;
 * - `alert_only`: routes as usual.
 * Returns `enforcement.model_blocked` itself when no per-request rule applies: no allocation.
 */
export function planRouteBudgets(
  enforcement: BudgetEnforcement,
  models: readonly Model[],
  request: BudgetRouteRequest,
): BudgetRoutePlan {
  const userId = request.user_id ?? null;
  const keyId = request.key_id ?? null;
  const userBlock = userId === null ? undefined : enforcement.user_blocked.get(userId);
  const keyBlock = keyId === null ? undefined : enforcement.key_blocked.get(keyId);
  const userDowngrades = userId === null ? undefined : enforcement.user_downgrades.get(userId);
  const keyDowngrades = keyId === null ? undefined : enforcement.key_downgrades.get(keyId);
  if (
    userBlock === undefined &&
    keyBlock === undefined &&
    enforcement.downgrades.length === 0 &&
    userDowngrades === undefined &&
    keyDowngrades === undefined
  ) {
    return { blocked: enforcement.model_blocked, downgraded_by: null };
  }

  const blocked = new Map(enforcement.model_blocked);
  // The user's budget is named first when both a user and a key budget block the request.
  for (const tenantBlock of [userBlock, keyBlock]) {
    if (tenantBlock === undefined) continue;
    for (const model of models) if (!blocked.has(model.id)) blocked.set(model.id, tenantBlock);
  }
  let downgradedBy: string | null = null;
  const apply = (status: BudgetStatus): void => {
    if (status.state !== 'ok') downgradedBy ??= status.rule.id;
    for (const model of models) {
      if (blocked.has(model.id)) continue;
      if (!budgetCovers(status.rule, { model_id: model.id, provider: model.provider, user_id: userId, key_id: keyId })) continue;
      const estimate = usdToNanos(estimateCost(model, request.prompt_tokens, request.max_tokens).estimated_cost);
      if (estimate > status.remaining_nanos) blocked.set(model.id, status.rule.id);
    }
  };
  for (const status of enforcement.downgrades) apply(status);
  if (userDowngrades) for (const status of userDowngrades) apply(status);
  if (keyDowngrades) for (const status of keyDowngrades) apply(status);
  return { blocked, downgraded_by: downgradedBy };
}

/** Names, on each `budget_exceeded` exclusion, the budget that removed the model (`detail`). */
export function withBudgetDetails(excluded: readonly Exclusion[], blocked: ReadonlyMap<string, string>): Exclusion[] {
  return excluded.map((e) => {
    if (e.reason !== 'budget_exceeded') return e;
    const budgetId = blocked.get(e.model_id);
    return budgetId === undefined ? e : { ...e, detail: budgetId };
  });
}

/** The budgets named by `budget_exceeded` exclusions, in order of first appearance. */
export function budgetsNamed(excluded: readonly Exclusion[]): string[] {
  const ids: string[] = [];
  for (const e of excluded) {
    if (e.reason === 'budget_exceeded' && e.detail !== undefined && !ids.includes(e.detail)) ids.push(e.detail);
  }
  return ids;
}
