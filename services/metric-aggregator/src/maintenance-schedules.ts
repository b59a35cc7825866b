import type { Config } from '@model-router/config';
import { AbTestRepository, type EventMaintenanceRepository, type Pool, withTransaction } from '@model-router/database';
import type { Logger } from '@model-router/logger';
import { BOSS_JOB_CATALOG, type BossJobName, bossHandler, sendConfigChange, startBoss, startBossWorkers } from '@model-router/queue';
import type { AggregatorMetrics } from './aggregator-metrics.js';
import { checkAbTestGuardrails } from './guardrail-checks.js';

/** Daily raw-event partitions exist this many days ahead, so a missed run or two changes nothing. */
export const PARTITION_DAYS_AHEAD = 7;

/** The aggregator's maintenance jobs (pg-boss, UTC cron), as the job catalog declares them. */
const MAINTENANCE_JOB_NAMES = {
  ensurePartitions: 'maintenance.ensure-event-partitions',
  pruneRawEvents: 'maintenance.prune-raw-events',
  compactMinuteRollups: 'maintenance.compact-minute-rollups',
  expireAbTests: 'maintenance.expire-ab-tests',
  checkAbGuardrails: 'maintenance.check-ab-guardrails',
} as const satisfies Record<string, BossJobName>;

/** Queue and cron of each maintenance job (from the catalog). */
export const MAINTENANCE_JOBS = Object.fromEntries(
  Object.entries(MAINTENANCE_JOB_NAMES).map(([key, name]) => [key, { queue: BOSS_JOB_CATALOG[name].queue, cron: BOSS_JOB_CATALOG[name].schedule.cron }]),
) as Record<keyof typeof MAINTENANCE_JOB_NAMES, { queue: string; cron: string }>;

export interface MaintenanceSchedules {
  stop(deadlineMs: number): Promise<void>;
}

/**
 * Starts pg-boss (shared schema, maintenance and cron in this instance) with the aggregator's
 * scheduled jobs: create partitions ahead, drop raw events past retention.raw_events_days, delete
 * minute rollups past retention.minute_rollups_days, complete expired A/B tests, check guardrails.
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
    config,
    onError: (error) => logger.warn('pg-boss error', { err: error.message }),
  });

  const n = MAINTENANCE_JOB_NAMES;
  const handlers = [
    bossHandler({ name: n.ensurePartitions, handle: () => repository.ensurePartitions(PARTITION_DAYS_AHEAD).then((created) => ({ created })) }),
    bossHandler({ name: n.pruneRawEvents, handle: () => repository.pruneRawEvents(config.retention.raw_events_days) }),
    bossHandler({ name: n.compactMinuteRollups, handle: () => repository.compactMinuteRollups(config.retention.minute_rollups_days) }),
    // Completed with their announcements in one transaction (the outbox), like a completion by the API.
    bossHandler({
      name: n.expireAbTests,
      handle: () =>
        withTransaction(pool, async (client) => {
          const completed = await new AbTestRepository(client).completeExpired(new Date());
          for (const id of completed) await sendConfigChange(boss, client, { entity: 'abtest', entity_id: id, action: 'completed' });
          return { completed };
        }),
    }),
    bossHandler({
      name: n.checkAbGuardrails,
      handle: () =>
        checkAbTestGuardrails({ pool, boss, logger, deliverAlerts: config.budgets.webhook_url !== null, alpha: config.abtest.alpha }).then((alerts) => {
          for (const a of alerts) metrics?.guardrailTrips.inc({ ab_test: a.ab_test_id, variant: a.variant_id, metric: a.metric });
          return { tripped: alerts.map((a) => `${a.ab_test_id}/${a.variant_id}/${a.metric}`) };
        }),
    }),
  ];

  try {
    await startBossWorkers(boss, 'metric-aggregator', handlers, {
      config,
      onDone: (name, result) => logger.info('maintenance job done', { job: BOSS_JOB_CATALOG[name].queue, result }),
    });
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
