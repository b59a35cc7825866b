import { randomUUID } from 'node:crypto';
import { type BudgetInput, BudgetRepository, DuplicateEntityError, spendKey, type StoredBudget } from '@model-router/database';
import { budgetStatus, nanosToUsd, periodWindow, usdToNanos } from '@model-router/domain';
import { ApiError, parseInput as parse } from '@model-router/http';
import express, { type RequestHandler, type Router } from 'express';
import type { ConfigChanges } from '../events/config-changes.js';
import type { SnapshotStore } from '../state/snapshot-store.js';
import { type BudgetBody, budgetIdSchema, createBudgetSchema, replaceBudgetSchema } from './budget.schema.js';

export interface BudgetRoutesDeps {
  budgets: BudgetRepository;
  snapshots: SnapshotStore;
  changes: ConfigChanges;
  clock: () => number;
  requireAdmin: RequestHandler;
  requireReader: RequestHandler;
}

const pathId = (raw: unknown): string => parse(budgetIdSchema, raw, 'budget id');
const notFound = (id: string) => new ApiError('BUDGET_NOT_FOUND', `budget "${id}" does not exist`);

/** A budget as the API shows it: money in USD. */
export function presentBudget(b: StoredBudget) {
  return {
    id: b.id,
    name: b.name,
    scope: b.scope,
    scope_id: b.scope_id,
    period: b.period,
    timezone: b.timezone,
    limit_usd: nanosToUsd(b.limit_nanos),
    action: b.action,
    alert_thresholds: b.alert_thresholds,
    created_at: b.created_at,
    updated_at: b.updated_at,
  };
}

/** /api/v1/budgets: CRUD (writes behind the admin key, through the outbox) and status. */
export function budgetRoutes(deps: BudgetRoutesDeps): Router {
  const router = express.Router();
  const { changes } = deps;

  /**
   * The stored form of a validated body. A model or provider budget must name one the registry
   * knows: a typo would otherwise make a budget that silently never counts anything.
   */
  const toInput = (id: string, body: BudgetBody): BudgetInput => {
    const models = deps.snapshots.current.models;
    if (body.scope === 'model' && !models.some((m) => m.id === body.scope_id)) {
      throw new ApiError('MODEL_NOT_FOUND', `model "${body.scope_id}" does not exist`, [
        { path: 'scope_id', message: `model "${body.scope_id}" does not exist` },
      ]);
    }
    if (body.scope === 'provider' && !models.some((m) => m.provider === body.scope_id)) {
      throw new ApiError('VALIDATION_ERROR', `invalid request body: scope_id: no model of provider "${body.scope_id}" is registered`, [
        { path: 'scope_id', message: `no model of provider "${body.scope_id}" is registered` },
      ]);
    }
    return {
      id,
      name: body.name ?? null,
      scope: body.scope,
      scope_id: body.scope === 'global' ? null : body.scope_id!,
      period: body.period,
      timezone: body.timezone,
      limit_nanos: usdToNanos(body.limit_usd),
      action: body.action,
      alert_thresholds: body.alert_thresholds,
    };
  };

  router.get('/budgets', deps.requireReader, async (_req, res) => {
    res.json({ budgets: (await deps.budgets.list()).map(presentBudget) });
  });

  router.get('/budgets/:id', deps.requireReader, async (req, res) => {
    const id = pathId(req.params.id);
    const budget = await deps.budgets.get(id);
    if (!budget) throw notFound(id);
    res.json(presentBudget(budget));
  });

  router.get('/budgets/:id/status', deps.requireReader, async (req, res) => {
    const id = pathId(req.params.id);
    const budget = await deps.budgets.get(id);
    if (!budget) throw notFound(id);
    const window = periodWindow(budget.period, budget.timezone, deps.clock());
    const [spend, crossed] = await Promise.all([
      deps.budgets.spendOf([{ budget_id: id, period_key: window.key }]),
      deps.budgets.alertsOf(id, window.key),
    ]);
    const status = budgetStatus(budget, window, spend.get(spendKey(id, window.key))?.spent_nanos ?? 0);
    res.json({
      budget_id: id,
      scope: budget.scope,
      scope_id: budget.scope_id,
      action: budget.action,
      period: budget.period,
      timezone: budget.timezone,
      period_key: window.key,
      period_start: new Date(window.start_ms).toISOString(),
      period_end: new Date(window.end_ms).toISOString(),
      limit_usd: nanosToUsd(budget.limit_nanos),
      spent_usd: nanosToUsd(status.spent_nanos),
      remaining_usd: nanosToUsd(status.remaining_nanos),
      utilization: Number((status.spent_nanos / budget.limit_nanos).toFixed(6)),
      state: status.state,
      thresholds_crossed: crossed,
    });
  });

  router.post('/budgets', deps.requireAdmin, async (req, res) => {
    const body = parse(createBudgetSchema, req.body);
    const input = toInput(body.id ?? randomUUID(), body);
    const stored = await changes.commit({ entity: 'budget', entity_id: input.id, action: 'created' }, async (client) => {
      try {
        return await new BudgetRepository(client).insert(input);
      } catch (error) {
        if (error instanceof DuplicateEntityError) throw new ApiError('CONFLICT', error.message);
        throw error;
      }
    });
    res.status(201).location(`/api/v1/budgets/${encodeURIComponent(stored.id)}`).json(presentBudget(stored));
  });

  router.put('/budgets/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    const body = parse(replaceBudgetSchema, req.body);
    if (body.id !== undefined && body.id !== id) {
      throw new ApiError('VALIDATION_ERROR', `body id "${body.id}" does not match the path id "${id}"`, [
        { path: 'id', message: 'must match the path id' },
      ]);
    }
    const input = toInput(id, body);
    const stored = await changes.commit({ entity: 'budget', entity_id: id, action: 'updated' }, async (client) => {
      const replaced = await new BudgetRepository(client).replace(input);
      if (!replaced) throw notFound(id);
      return replaced;
    });
    res.json(presentBudget(stored));
  });

  router.delete('/budgets/:id', deps.requireAdmin, async (req, res) => {
    const id = pathId(req.params.id);
    await changes.commit({ entity: 'budget', entity_id: id, action: 'deleted' }, async (client) => {
      if (!(await new BudgetRepository(client).delete(id))) throw notFound(id);
    });
    res.status(204).end();
  });

  return router;
}
