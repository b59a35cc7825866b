import { BudgetReservations, SpendCounters, publishBudgetSpend } from '@model-router/budgets';
import { type BudgetAlertRecord, BudgetRepository, ledgerIdentity, type Pool, type PoolClient, type SpendTotal, type StoredBudget, withTransaction } from '@model-router/database';
import { type CostRecord, coveredRecords, nanosToUsd, PeriodCalendar, spendDeltas, thresholdsReached } from '@model-router/domain';
import type { Logger } from '@model-router/logger';
import { type CostRecordedEvent, type JobBoss, sendJob } from '@model-router/queue';
import type { RedisClient as Redis } from '@model-router/redis';
import type { EnforcerMetrics } from './enforcer-metrics.js';
import { type ThresholdCrossedAlert, thresholdCrossedAlert } from './threshold-alerts.js';

// A period's Redis counter outlives its period by a week: late events and status reads still find it.
const COUNTER_GRACE_MS = 7 * 86_400_000;

export interface SpendRecorderOptions {
  pool: Pool;
  redis: Redis;
  keyPrefix: string;
  boss: JobBoss;
  /** Enqueue a webhook delivery per alert (a webhook URL is configured). */
  deliverAlerts: boolean;
  metrics: EnforcerMetrics;
  logger: Logger;
  clock: () => number;
}

export interface RecordResult {
  received: number;
  /** Events some budget covers. */
  covered: number;
  /** Covered events counted for the first time. */
  counted: number;
  totals: SpendTotal[];
  alerts: ThresholdCrossedAlert[];
}

interface Committed {
  budgets: StoredBudget[];
  totals: SpendTotal[];
  alerts: ThresholdCrossedAlert[];
}

/** A cost with the client namespace of its event_id (ids deduplicate per key_id). */
type KeyedCostRecord = CostRecord & { key_id: string };

/** Keeps the first event of each (key_id, event_id): a batch may carry one id twice. */
function uniqueRecords(events: readonly CostRecordedEvent[]): KeyedCostRecord[] {
  const seen = new Set<string>();
  const records: KeyedCostRecord[] = [];
  for (const e of events) {
    const id = ledgerIdentity(e);
    if (seen.has(id)) continue;
    seen.add(id);
    records.push({ ...e, occurred_at_ms: Date.parse(e.occurred_at) });
  }
  return records;
}

/**
 * Counts costs against budgets exactly once.
 *
 * Postgres is the truth. In ONE transaction per batch: the budgets are read; the events some budget
 * covers enter the ledger (ON CONFLICT DO NOTHING RETURNING: only ids not seen before are fresh);
 * the fresh costs are summed per (budget, period) and added to `budget_spend`, which answers the new
 * totals under its row locks; every threshold the totals reach is inserted into `budget_alerts`
 * (its primary key lets each fire once per period) together with its webhook job (the outbox). A
 * batch therefore counts entirely once or not at all, whether it is redelivered, repeated by a
 * client, or cut short by SIGKILL.
 *
 * After the commit, one Lua script raises the Redis counters of the touched periods to those totals
 * (a maximum: idempotent and order-free), and one notice on the budget-state channel tells every
 * API replica. A failure there fails the job; its retry counts nothing again (the ledger) but
 * still reports the totals it touched, so Redis and the replicas catch up. `reconcile` replays every
 * current total the same way: on start, on a schedule, and so after Redis lost everything.
 */
export class SpendRecorder {
  private readonly calendar = new PeriodCalendar();
  private readonly counters: SpendCounters;
  private readonly reservations: BudgetReservations;

  constructor(private readonly options: SpendRecorderOptions) {
    this.counters = new SpendCounters(options.redis, options.keyPrefix);
    this.reservations = new BudgetReservations(options.redis, options.keyPrefix);
  }

  async record(events: readonly CostRecordedEvent[]): Promise<RecordResult> {
    const records = uniqueRecords(events);
    let covered = 0;
    let counted = 0;
    let coveredIds = new Set<string>();
    const committed = await withTransaction(this.options.pool, async (client): Promise<Committed> => {
      const repository = new BudgetRepository(client);
      const budgets = await repository.list();
      const mine = coveredRecords(budgets, records);
      covered = mine.length;
      coveredIds = new Set(mine.map(ledgerIdentity));
      if (mine.length === 0) return { budgets, totals: [], alerts: [] };
      const fresh = await repository.claimEvents(mine);
      counted = fresh.size;
      const deltas = spendDeltas(budgets, mine, this.calendar, (r) => fresh.has(ledgerIdentity(r)));
      const totals = await repository.addSpend(deltas);
      const alerts = await this.recordCrossings(client, repository, budgets, totals);
      return { budgets, totals, alerts };
    });
    const { metrics } = this.options;
    // Outcomes of every event received; a batch may carry an id twice (the second is a duplicate).
    const uncovered = events.reduce((n, e) => (coveredIds.has(ledgerIdentity(e)) ? n : n + 1), 0);
    if (counted) metrics.costEvents.inc({ outcome: 'counted' }, counted);
    if (events.length - counted - uncovered) metrics.costEvents.inc({ outcome: 'duplicate' }, events.length - counted - uncovered);
    if (uncovered) metrics.costEvents.inc({ outcome: 'uncovered' }, uncovered);
    await this.publish(committed, false);
    // The gateway held these costs as reservations until now; the counters raised above hold them
    // from here on. Released after the raise, so for a moment they count twice, never zero times.
    // Only events that say so: a metric reported to /api/v1/metrics holds none, and asking for it
    // cost a Redis GET per event (1,000 commands per 1,000 events, against ~80 for all the rest).
    await this.reservations.release(events.filter((e) => e.reserved === true).map((e) => e.event_id));
    return { received: events.length, covered, counted, totals: committed.totals, alerts: committed.alerts };
  }

  /**
   * Re-syncs from Postgres: every budget's current-period total is raised into Redis and announced
   * to the API replicas (a budget whose period just began is announced by its absence: it counts
   * from zero), and thresholds reached under a lowered limit are alerted. Returns the totals.
   */
  async reconcile(): Promise<SpendTotal[]> {
    const now = this.options.clock();
    const committed = await withTransaction(this.options.pool, async (client): Promise<Committed> => {
      const repository = new BudgetRepository(client);
      const budgets = await repository.list();
      const totals = await repository.currentSpend(now);
      const alerts = await this.recordCrossings(client, repository, budgets, totals);
      return { budgets, totals, alerts };
    });
    await this.publish(committed, true);
    return committed.totals;
  }

  /** Inserts the reached thresholds; those new in the table are this batch's alerts (and jobs). */
  private async recordCrossings(
    client: PoolClient,
    repository: BudgetRepository,
    budgets: readonly StoredBudget[],
    totals: readonly SpendTotal[],
  ): Promise<ThresholdCrossedAlert[]> {
    const byId = new Map(budgets.map((b) => [b.id, b]));
    const reached: BudgetAlertRecord[] = [];
    for (const total of totals) {
      const budget = byId.get(total.budget_id);
      if (!budget) continue;
      for (const threshold of thresholdsReached(budget, total.spent_nanos)) {
        reached.push({ budget_id: budget.id, period_key: total.period_key, threshold, spent_nanos: total.spent_nanos, limit_nanos: budget.limit_nanos });
      }
    }
    if (reached.length === 0) return [];
    // One lock order for every writer: budget, period, threshold.
    reached.sort((a, b) => (a.budget_id < b.budget_id ? -1 : a.budget_id > b.budget_id ? 1 : a.period_key < b.period_key ? -1 : a.period_key > b.period_key ? 1 : a.threshold - b.threshold));
    const fired = await repository.recordAlerts(reached);
    const at = new Date(this.options.clock());
    const totalsByKey = new Map(totals.map((t) => [`${t.budget_id}\u0000${t.period_key}`, t]));
    const alerts = fired.map((f) => thresholdCrossedAlert(byId.get(f.budget_id)!, totalsByKey.get(`${f.budget_id}\u0000${f.period_key}`)!, f.threshold, at));
    if (this.options.deliverAlerts) {
      for (const alert of alerts) await sendJob(this.options.boss, 'alert.webhook', alert, client);
    }
    return alerts;
  }

  /** After the commit: Redis counters, the replicas' notice, the gauge, and the alerts' log lines. */
  private async publish(committed: Committed, resetGauge: boolean): Promise<void> {
    const { totals, alerts, budgets } = committed;
    const { redis, keyPrefix, metrics, logger } = this.options;
    const now = this.options.clock();
    // Kept a week past the period's end (at least an hour, for a late event of a long-gone period).
    await this.counters.raise(totals.map((t) => ({ ...t, ttl_ms: Math.max(3_600_000, t.period_end_ms + COUNTER_GRACE_MS - now) })));
    await publishBudgetSpend(
      redis,
      keyPrefix,
      totals.map((t) => ({ budget_id: t.budget_id, period_key: t.period_key, spent_nanos: t.spent_nanos })),
    );

    if (resetGauge) {
      metrics.spendUsd.reset();
      for (const b of budgets) metrics.spendUsd.set({ budget: b.id }, 0);
    }
    for (const t of totals) {
      if (t.period_start_ms <= now && now < t.period_end_ms) metrics.spendUsd.set({ budget: t.budget_id }, nanosToUsd(t.spent_nanos));
    }
    for (const alert of alerts) {
      metrics.thresholdsCrossed.inc({ budget: alert.budget_id, threshold: String(alert.threshold) });
      const message = alert.threshold >= 1 ? 'budget exceeded' : 'budget threshold crossed';
      logger.warn(message, { ...alert });
    }
  }
}
