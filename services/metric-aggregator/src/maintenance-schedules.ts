import type { Config } from '@model-router/config';
import { randomUUID } from 'node:crypto';
import {
  AbTestRepository,
  BOSS_QUEUES,
  createAlertQueue,
  type EventMaintenanceRepository,
  inTransaction,
  type Pool,
  startBoss,
  withTransaction,
} from '@model-router/database';
import type { Logger } from '@model-router/logger';
import type { AggregatorMetrics } from './aggregator-metrics.js';
import { checkAbTestGuardrails } from './guardrail-checks.js';

/** Daily raw-event partitions exist this many days ahead, so a missed run or two changes nothing. */
export const PARTITION_DAYS_AHEAD = 7;

/** The pg-boss queues of the aggregator's maintenance, each fed by a daily schedule (UTC). */
export const MAINTENANCE_JOBS = {
  ensurePartitions: { queue: 'metric-aggregator.ensure-event-partitions', cron: '5 0 * * *' },
  pruneRawEvents: { queue: 'metric-aggregator.prune-raw-events', cron: '15 0 * * *' },
  compactMinuteRollups: { queue: 'metric-aggregator.compact-minute-rollups', cron: '25 0 * * *' },
  // A/B tests whose end_time has passed are completed within a minute.
  expireAbTests: { queue: 'metric-aggregator.expire-ab-tests', cron: '* * * * *' },
  // Running A/B tests with guardrails are checked every minute, from the rollups this worker writes.
  checkAbGuardrails: { queue: 'metric-aggregator.check-ab-guardrails', cron: '* * * * *' },
} as const;

export interface MaintenanceSchedules {
  stop(deadlineMs: number): Promise<void>;
}

/**
 * Starts pg-boss (shared schema, maintenance and cron in this instance) with the aggregator's daily
 * schedules: create partitions ahead, drop raw events past retention.raw_events_days, delete minute
 * rollups past retention.minute_rollups_days. Every replica registers the same schedules; pg-boss
 * sends one job per tick, and `stately` queues keep at most one queued and one running.
 */
export async function startMaintenanceSchedules(
  config: Config,
  repository: EventMaintenanceRepository,
  logger: Logger,
  pool: Pool,
  metrics?: Pick<AggregatorMetrics, 'guardrailTrips'>,
): Promise<MaintenanceSchedules> {
  const boss = await startBoss(config.database.url, {
    background: true,
    onError: (error) => logger.warn('pg-boss error', { err: error.message }),
  });

  const tasks: Record<keyof typeof MAINTENANCE_JOBS, () => Promise<unknown>> = {
    ensurePartitions: () => repository.ensurePartitions(PARTITION_DAYS_AHEAD).then((created) => ({ created })),
    pruneRawEvents: () => repository.pruneRawEvents(config.retention.raw_events_days),
    compactMinuteRollups: () => repository.compactMinuteRollups(config.retention.minute_rollups_days),
    // Completed with their announcements in one transaction (the outbox), like a completion by the API.
    expireAbTests: () =>
      withTransaction(pool, async (client) => {
        const completed = await new AbTestRepository(client).completeExpired(new Date());
        for (const id of completed) {
          const event = { event_id: randomUUID(), occurred_at: new Date().toISOString(), entity: 'abtest', entity_id: id, action: 'completed' };
          await boss.send(BOSS_QUEUES.configOutbox, event, inTransaction(client));
        }
        return { completed };
      }),
    checkAbGuardrails: () =>
      checkAbTestGuardrails({ pool, boss, logger, deliverAlerts: config.budgets.webhook_url !== null, alpha: config.abtest.alpha }).then((alerts) => {
        for (const a of alerts) metrics?.guardrailTrips.inc({ ab_test: a.ab_test_id, variant: a.variant_id, metric: a.metric });
        return { tripped: alerts.map((a) => `${a.ab_test_id}/${a.variant_id}/${a.metric}`) };
      }),
  };

  try {
    // Guardrail alerts go through the budget alerts' webhook queue (delivered by the budget-enforcer).
    if (config.budgets.webhook_url !== null) {
      await createAlertQueue(boss, { attempts: config.budgets.webhook_attempts, timeoutMs: config.budgets.webhook_timeout });
    }
    for (const [key, job] of Object.entries(MAINTENANCE_JOBS) as [keyof typeof MAINTENANCE_JOBS, (typeof MAINTENANCE_JOBS)[keyof typeof MAINTENANCE_JOBS]][]) {
      await boss.createQueue(job.queue, {
        policy: 'stately',
        // A failed run (Postgres away, a lock timeout) is retried within the hour, well before the next day.
        retryLimit: 6,
        retryDelay: 30,
        retryBackoff: true,
        expireInSeconds: 3600,
      });
      // 'once': a deployment that was down at the scheduled minute still runs it when it comes back.
      await boss.schedule(job.queue, job.cron, null, { tz: 'UTC', missed: 'once' });
      await boss.work(job.queue, async () => {
        const result = await tasks[key]();
        logger.info('maintenance job done', { job: job.queue, result });
        return result;
      });
    }
  } catch (error) {
    await boss.stop({ graceful: false, timeout: 1000 }).catch(() => undefined);
    throw error;
  }

  return {
    async stop(deadlineMs) {
      await boss.stop({ graceful: true, timeout: deadlineMs, close: true });
    },
  };
}
