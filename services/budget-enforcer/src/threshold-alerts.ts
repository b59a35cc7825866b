import type { Config } from '@model-router/config';
import type { SpendTotal, StoredBudget } from '@model-router/database';
import { budgetState, nanosToUsd } from '@model-router/domain';
import type { Logger } from '@model-router/logger';
import { type BossJobHandler, bossHandler } from '@model-router/queue';
import type { EnforcerMetrics } from './enforcer-metrics.js';

/** What a `budget.threshold_crossed` alert says (the webhook's JSON body). */
export type ThresholdCrossedAlert = {
  event: 'budget.threshold_crossed';
  /** Stable per budget, period and threshold: a receiver can drop repeats of a retried delivery. */
  event_id: string;
  occurred_at: string;
  budget_id: string;
  budget_name: string | null;
  scope: string;
  scope_id: string | null;
  action: string;
  period: string;
  timezone: string;
  period_key: string;
  period_start: string;
  period_end: string;
  threshold: number;
  limit_usd: number;
  spent_usd: number;
  state: string;
};

export function thresholdCrossedAlert(budget: StoredBudget, total: SpendTotal, threshold: number, at: Date): ThresholdCrossedAlert {
  return {
    event: 'budget.threshold_crossed',
    event_id: `${budget.id}:${total.period_key}:${threshold}`,
    occurred_at: at.toISOString(),
    budget_id: budget.id,
    budget_name: budget.name,
    scope: budget.scope,
    scope_id: budget.scope_id,
    action: budget.action,
    period: budget.period,
    timezone: budget.timezone,
    period_key: total.period_key,
    period_start: new Date(total.period_start_ms).toISOString(),
    period_end: new Date(total.period_end_ms).toISOString(),
    threshold,
    limit_usd: nanosToUsd(budget.limit_nanos),
    spent_usd: nanosToUsd(total.spent_nanos),
    state: budgetState(budget, total.spent_nanos),
  };
}

/**
 * Delivers alert jobs (the catalog's `alert.webhook`, one per batch): POSTs each to
 * `budgets.webhook_url`; anything but a 2xx answer (or no answer within `budgets.webhook_timeout`)
 * fails the job, and pg-boss tries again later. Without a URL no alert is sent, and none delivered.
 */
export function alertDelivery(config: Config, metrics: EnforcerMetrics, logger: Logger): BossJobHandler<'alert.webhook'> {
  const url = config.budgets.webhook_url;
  if (url === null) return bossHandler({ name: 'alert.webhook', handle: null });
  const deliver = async (alert: { event_id: string }): Promise<void> => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': alert.event_id },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(config.budgets.webhook_timeout),
      });
    } catch (error) {
      metrics.webhookDeliveries.inc({ outcome: 'failed' });
      logger.warn('budget alert webhook unreachable; will retry', { event_id: alert.event_id, err: (error as Error).message });
      throw error;
    }
    await response.body?.cancel().catch(() => undefined);
    if (!response.ok) {
      metrics.webhookDeliveries.inc({ outcome: 'failed' });
      logger.warn('budget alert webhook refused; will retry', { event_id: alert.event_id, status: response.status });
      throw new Error(`webhook answered ${response.status}`);
    }
    metrics.webhookDeliveries.inc({ outcome: 'delivered' });
  };
  // The catalog polls this queue one job at a time.
  return bossHandler({ name: 'alert.webhook', handle: ([alert]) => deliver(alert!) });
}
