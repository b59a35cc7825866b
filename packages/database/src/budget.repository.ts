import type { BudgetAction, BudgetPeriod, BudgetRule, BudgetScope, SpendDelta } from '@model-router/domain';
import type { Queryable } from './model.repository.js';
import { DuplicateEntityError, UNIQUE_VIOLATION } from './duplicate-entity.error.js';

/**
 * Storage of budgets and their spend (migrations/1764190000000_budgets.sql). The budget
 * enforcer's batch methods (`claimEvents`, `addSpend`, `recordAlerts`) are meant to run on one
 * transaction's client, together: a batch either counts entirely, once, or not at all.
 */

export interface StoredBudget extends BudgetRule {
  name: string | null;
  created_at: string;
  updated_at: string;
}

/** A budget as written by the API (ids and timestamps aside). */
export type BudgetInput = Omit<StoredBudget, 'created_at' | 'updated_at'>;

/** A budget's spend in one period. */
export interface SpendTotal {
  budget_id: string;
  period_key: string;
  period_start_ms: number;
  period_end_ms: number;
  spent_nanos: number;
}

export interface BudgetAlertRecord {
  budget_id: string;
  period_key: string;
  threshold: number;
  spent_nanos: number;
  limit_nanos: number;
}


const COLUMNS = `id, name, scope, scope_id, period, timezone, limit_nanos, action, alert_thresholds, created_at, updated_at`;

function toBudget(row: Record<string, unknown>): StoredBudget {
  return {
    id: row.id as string,
    name: (row.name as string | null) ?? null,
    scope: row.scope as BudgetScope,
    scope_id: (row.scope_id as string | null) ?? null,
    period: row.period as BudgetPeriod,
    timezone: row.timezone as string,
    limit_nanos: Number(row.limit_nanos),
    action: row.action as BudgetAction,
    alert_thresholds: (row.alert_thresholds as unknown[]).map(Number),
    created_at: (row.created_at as Date).toISOString(),
    updated_at: (row.updated_at as Date).toISOString(),
  };
}

function values(b: BudgetInput): unknown[] {
  return [b.id, b.name, b.scope, b.scope_id, b.period, b.timezone, b.limit_nanos, b.action, b.alert_thresholds];
}

function toSpend(row: Record<string, unknown>): SpendTotal {
  return {
    budget_id: row.budget_id as string,
    period_key: row.period_key as string,
    period_start_ms: (row.period_start as Date).getTime(),
    period_end_ms: (row.period_end as Date).getTime(),
    spent_nanos: Number(row.spent_nanos),
  };
}

/** The map key of a (budget, period) pair. */
export const spendKey = (budgetId: string, periodKey: string): string => `${budgetId}\u0000${periodKey}`;

// Ids enter the ledger sorted, so two batches sharing ids cannot deadlock on them. An id is new per
// client namespace (key_id): two clients may use the same event_id.
const CLAIM_EVENTS = `
INSERT INTO model_router.budget_processed_events (event_id, key_id)
SELECT i.id, i.key FROM unnest($1::text[], $2::text[]) AS i(id, key) ORDER BY i.id COLLATE "C", i.key COLLATE "C"
ON CONFLICT DO NOTHING
RETURNING event_id, key_id`;

/**
 * A cost event's identity in the ledger: its client namespace and its id. Key ids never hold "/"
 * (keyIdSchema in @model-router/queue), so the first "/" ends the namespace.
 */
export const ledgerIdentity = (e: { key_id: string; event_id: string }): string => `${e.key_id}/${e.event_id}`;

// Rows come sorted by (budget, period) from spendDeltas: concurrent batches lock them in one order.
// A budget deleted meanwhile is skipped (its spend would only be cascaded away).
const ADD_SPEND = `
INSERT INTO model_router.budget_spend AS s (budget_id, period_key, period_start, period_end, spent_nanos, event_count)
SELECT u.budget_id, u.period_key, u.period_start, u.period_end, u.delta, u.n
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[], $6::bigint[])
  WITH ORDINALITY AS u(budget_id, period_key, period_start, period_end, delta, n, ord)
WHERE EXISTS (SELECT 1 FROM model_router.budgets b WHERE b.id = u.budget_id)
ORDER BY u.ord
ON CONFLICT (budget_id, period_key) DO UPDATE SET
  spent_nanos = s.spent_nanos + EXCLUDED.spent_nanos,
  event_count = s.event_count + EXCLUDED.event_count,
  updated_at  = now()
RETURNING budget_id, period_key, period_start, period_end, spent_nanos`;

const RECORD_ALERTS = `
INSERT INTO model_router.budget_alerts (budget_id, period_key, threshold, spent_nanos, limit_nanos)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::bigint[], $5::bigint[])
ON CONFLICT DO NOTHING
RETURNING budget_id, period_key, threshold, spent_nanos, limit_nanos`;

export class BudgetRepository {
  constructor(private readonly db: Queryable) {}

  // --- budgets -------------------------------------------------------------------------------

  async list(): Promise<StoredBudget[]> {
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM model_router.budgets ORDER BY id`);
    return rows.map(toBudget);
  }

  async get(id: string, options: { forUpdate?: boolean } = {}): Promise<StoredBudget | null> {
    const lock = options.forUpdate ? ' FOR UPDATE' : '';
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM model_router.budgets WHERE id = $1${lock}`, [id]);
    return rows[0] ? toBudget(rows[0]) : null;
  }

  async insert(budget: BudgetInput): Promise<StoredBudget> {
    try {
      const { rows } = await this.db.query(
        `INSERT INTO model_router.budgets (id, name, scope, scope_id, period, timezone, limit_nanos, action, alert_thresholds)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
        values(budget),
      );
      return toBudget(rows[0]);
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new DuplicateEntityError('budget', budget.id);
      throw error;
    }
  }

  /** Replaces every writable field; null when there is no such budget. Spend is kept. */
  async replace(budget: BudgetInput): Promise<StoredBudget | null> {
    const { rows } = await this.db.query(
      `UPDATE model_router.budgets SET name = $2, scope = $3, scope_id = $4, period = $5, timezone = $6,
         limit_nanos = $7, action = $8, alert_thresholds = $9, updated_at = now()
       WHERE id = $1 RETURNING ${COLUMNS}`,
      values(budget),
    );
    return rows[0] ? toBudget(rows[0]) : null;
  }

  /** Deletes a budget with its spend and alerts; false when there was none. */
  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM model_router.budgets WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  // --- spend ---------------------------------------------------------------------------------

  /** Spend of each given (budget, period) pair that has any, keyed by `spendKey`. */
  async spendOf(pairs: readonly { budget_id: string; period_key: string }[]): Promise<Map<string, SpendTotal>> {
    if (pairs.length === 0) return new Map();
    const { rows } = await this.db.query(
      `SELECT s.budget_id, s.period_key, s.period_start, s.period_end, s.spent_nanos
       FROM model_router.budget_spend s
       JOIN unnest($1::text[], $2::text[]) AS p(budget_id, period_key) USING (budget_id, period_key)`,
      [pairs.map((p) => p.budget_id), pairs.map((p) => p.period_key)],
    );
    return new Map(rows.map((row) => [spendKey(row.budget_id, row.period_key), toSpend(row)]));
  }

  /** Thresholds already crossed by a budget in a period, ascending. */
  async alertsOf(budgetId: string, periodKey: string): Promise<number[]> {
    const { rows } = await this.db.query(
      'SELECT threshold FROM model_router.budget_alerts WHERE budget_id = $1 AND period_key = $2 ORDER BY threshold',
      [budgetId, periodKey],
    );
    return rows.map((row) => Number(row.threshold));
  }

  /** Spend of every period that holds the instant `atMs`: what reconciliation mirrors to Redis. */
  async currentSpend(atMs: number): Promise<SpendTotal[]> {
    const { rows } = await this.db.query(
      `SELECT budget_id, period_key, period_start, period_end, spent_nanos FROM model_router.budget_spend
       WHERE period_start <= $1 AND period_end > $1 ORDER BY budget_id, period_key`,
      [new Date(atMs)],
    );
    return rows.map(toSpend);
  }

  // --- the enforcer's batch (one transaction) ------------------------------------------------

  /**
   * Enters events in the ledger; returns the `ledgerIdentity` of those that were not there yet
   * (the fresh events).
   */
  async claimEvents(events: readonly { key_id: string; event_id: string }[]): Promise<Set<string>> {
    if (events.length === 0) return new Set();
    const { rows } = await this.db.query<{ event_id: string; key_id: string }>({
      name: 'mr_budget_claim_events',
      text: CLAIM_EVENTS,
      values: [events.map((e) => e.event_id), events.map((e) => e.key_id)],
    });
    return new Set(rows.map(ledgerIdentity));
  }

  /** Adds each delta to its (budget, period) and returns the new totals (for budgets that still exist). */
  async addSpend(deltas: readonly SpendDelta[]): Promise<SpendTotal[]> {
    if (deltas.length === 0) return [];
    const { rows } = await this.db.query({
      name: 'mr_budget_add_spend',
      text: ADD_SPEND,
      values: [
        deltas.map((d) => d.budget_id),
        deltas.map((d) => d.period_key),
        deltas.map((d) => new Date(d.period_start_ms).toISOString()),
        deltas.map((d) => new Date(d.period_end_ms).toISOString()),
        deltas.map((d) => d.delta_nanos),
        deltas.map((d) => d.event_count),
      ],
    });
    return rows.map(toSpend);
  }

  /** Records thresholds as crossed; returns only those crossed for the first time. */
  async recordAlerts(alerts: readonly BudgetAlertRecord[]): Promise<BudgetAlertRecord[]> {
    if (alerts.length === 0) return [];
    const { rows } = await this.db.query(RECORD_ALERTS, [
      alerts.map((a) => a.budget_id),
      alerts.map((a) => a.period_key),
      alerts.map((a) => a.threshold),
      alerts.map((a) => a.spent_nanos),
      alerts.map((a) => a.limit_nanos),
    ]);
    return rows.map((row) => ({
      budget_id: row.budget_id,
      period_key: row.period_key,
      threshold: Number(row.threshold),
      spent_nanos: Number(row.spent_nanos),
      limit_nanos: Number(row.limit_nanos),
    }));
  }

  /** Forgets ledger entries older than `olderThanDays` days (a repeat after that counts again). */
  async pruneProcessedEvents(olderThanDays: number): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM model_router.budget_processed_events WHERE processed_at < now() - make_interval(days => $1::int)`,
      [olderThanDays],
    );
    return rowCount ?? 0;
  }
}

