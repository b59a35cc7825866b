import { AbTestRepository, AbTestResultsReader, AbTestRollupsReader, type Pool, type StoredAbTest, withTransaction } from '@model-router/database';
import type { GuardrailCheck } from '@model-router/domain';
import type { Logger } from '@model-router/logger';
import { type JobBoss, sendConfigChange, sendJob } from '@model-router/queue';

/** What an `abtest.guardrail_tripped` alert says (the webhook's JSON body, beside budget alerts). */
export type GuardrailTrippedAlert = {
  event: 'abtest.guardrail_tripped';
  /** Stable per test and trip: a receiver can drop repeats of a retried delivery. */
  event_id: string;
  occurred_at: string;
  ab_test_id: string;
  ab_test_name: string;
  variant_id: string;
  control_variant_id: string;
  metric: GuardrailCheck['metric'];
  tolerance: number;
  /** Relative change of the treatment against the control. */
  observed_change: number | null;
  sequential_ci_low: number | null;
  sequential_ci_high: number | null;
  sequential_p_value: number | null;
  paused_reason: string;
};

export interface GuardrailCheckOptions {
  pool: Pool;
  boss: JobBoss;
  logger: Logger;
  /** Enqueue the alert for webhook delivery (`budgets.webhook_url` is set). */
  deliverAlerts: boolean;
  /** The config's `abtest.alpha`, for tests that store none. */
  alpha: number;
  clock?: () => number;
}

/**
 * One guardrail pass (run every minute by a pg-boss schedule of the metric-aggregator, the worker
 * that writes the rollups the checks read): every running test with guardrails is analysed, and a
 * test with a tripped guardrail is paused with `paused_reason`, announced on the config outbox
 * (so routing stops assigning at once) and, when a webhook is configured, alerted through the
 * budget alerts' queue — all in one transaction, so a pause is never without its alert. The pause
 * is conditional: a test paused or completed meanwhile is left alone and alerts nothing.
 */
export async function checkAbTestGuardrails(options: GuardrailCheckOptions): Promise<GuardrailTrippedAlert[]> {
  const { pool, boss, logger } = options;
  const clock = options.clock ?? Date.now;
  const tests = (await new AbTestRepository(pool).listRunning()).filter((t) => t.guardrails.length > 0);
  const reader = new AbTestResultsReader(pool, new AbTestRollupsReader(pool));
  const alerts: GuardrailTrippedAlert[] = [];
  for (const test of tests) {
    const { analysis } = await reader.read(test, { alpha: options.alpha });
    const tripped = analysis.guardrails.filter((g) => g.tripped);
    if (tripped.length === 0) continue;
    const reason = tripped
      .map((g) => `guardrail ${g.metric} tripped: variant ${g.variant_id} is worse than ${analysis.control_variant_id} beyond the tolerance of ${g.tolerance} (sequential test, α = ${analysis.alpha})`)
      .join('; ');
    const at = new Date(clock());
    const fired = await withTransaction(pool, async (client) => {
      const paused = await new AbTestRepository(client).pauseWithReason(test.id, reason);
      if (!paused) return [];
      await sendConfigChange(boss, client, { entity: 'abtest', entity_id: test.id, action: 'paused' }, at);
      const made = tripped.map((g) => guardrailAlert(test, analysis.control_variant_id, g, reason, at));
      if (options.deliverAlerts) for (const alert of made) await sendJob(boss, 'alert.webhook', alert, client);
      return made;
    });
    for (const alert of fired) {
      logger.warn('abtest.guardrail_tripped', { ...alert });
      alerts.push(alert);
    }
  }
  return alerts;
}

function guardrailAlert(test: StoredAbTest, controlId: string, g: GuardrailCheck, reason: string, at: Date): GuardrailTrippedAlert {
  return {
    event: 'abtest.guardrail_tripped',
    event_id: `${test.id}:${g.variant_id}:${g.metric}:${at.getTime()}`,
    occurred_at: at.toISOString(),
    ab_test_id: test.id,
    ab_test_name: test.name,
    variant_id: g.variant_id,
    control_variant_id: controlId,
    metric: g.metric,
    tolerance: g.tolerance,
    observed_change: g.observed,
    sequential_ci_low: g.sequential.ci_low,
    sequential_ci_high: g.sequential.ci_high,
    sequential_p_value: g.sequential.p_value,
    paused_reason: reason,
  };
}
