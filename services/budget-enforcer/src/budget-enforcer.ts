import { BudgetRepository, DeadLetterRepository, describeDataError, ensureDatabase, isPermanentDataError, migrate } from '@model-router/database';
import {
  bossHandler,
  commitSplittingRefused,
  handler,
  type JobBoss,
  type RunningWorkers,
  startBoss,
  startBossWorkers,
  startWorkers,
} from '@model-router/queue';
import type { ServiceContext, StartedService } from '@model-router/service-runtime';
import { createEnforcerMetrics } from './enforcer-metrics.js';
import { SpendRecorder } from './spend-recorder.js';
import { alertDelivery } from './threshold-alerts.js';

export const SERVICE_NAME = 'budget-enforcer';

export interface BudgetEnforcerOptions {
  /** The wall clock that says which period is current (tests inject one). */
  clock?: () => number;
}

export interface StartedBudgetEnforcer extends StartedService {
  recorder: SpendRecorder;
}

/**
 * Wires the budget enforcer: migrations, the spend recorder, a first reconciliation (so a Redis
 * that lost its counters is rebuilt before any new cost is counted), the `cost.recorded` worker,
 * the reconcile and prune schedules, and alert delivery.
 */
export async function setupBudgetEnforcer(ctx: ServiceContext, options: BudgetEnforcerOptions = {}): Promise<StartedBudgetEnforcer> {
  const { config, logger, pool, redis, registry } = ctx;
  pool.on('error', (error) => logger.warn('idle Postgres connection lost', { err: error.message }));
  if (config.database.migrate_on_start) {
    await ensureDatabase(config.database.url);
    const applied = await migrate({ databaseUrl: config.database.url });
    if (applied.length) logger.info('migrations applied', { migrations: applied });
  }

  const metrics = createEnforcerMetrics(registry);
  let boss: JobBoss | null = null;
  let workers: RunningWorkers | null = null;
  const stop = async (deadlineMs: number): Promise<void> => {
    // Stop taking batches first: a running one commits or rolls back and is redelivered.
    await workers?.close(deadlineMs);
    await boss?.stop({ graceful: true, timeout: deadlineMs, close: true });
  };

  try {
    boss = await startBoss(config.database.url, {
      background: true,
      config,
      onError: (error) => logger.warn('pg-boss error', { err: error.message }),
    });
    const recorder = new SpendRecorder({
      pool,
      redis,
      keyPrefix: config.redis.key_prefix,
      boss,
      deliverAlerts: config.budgets.webhook_url !== null,
      metrics,
      logger,
      clock: options.clock ?? Date.now,
    });
    const rebuilt = await recorder.reconcile();
    logger.info('budget spend reconciled from Postgres', { periods: rebuilt.length });

    const repository = new BudgetRepository(pool);
    const deadLetters = new DeadLetterRepository(pool);
    await startBossWorkers(
      boss,
      SERVICE_NAME,
      [
        // Re-sync Redis and the replicas from Postgres on `budgets.reconcile_cron`.
        bossHandler({
          name: 'budgets.reconcile',
          handle: async () => {
            const totals = await recorder.reconcile();
            return { periods: totals.length };
          },
        }),
        bossHandler({
          name: 'budgets.prune-ledger',
          handle: async () => {
            const deleted = await repository.pruneProcessedEvents(config.retention.raw_events_days);
            logger.info('budget ledger pruned', { deleted });
            return { deleted };
          },
        }),
        alertDelivery(config, metrics, logger),
      ],
      { config, registry },
    );

    workers = startWorkers(
      SERVICE_NAME,
      [
        handler({
          name: 'cost.recorded',
          // A batch Postgres refuses for its data (e.g. a spend sum past bigint) is split so the
          // other costs count, once each (the ledger); only the refused ones are dead-lettered. Any
          // other error retries the whole batch.
          handle: async (events, context) => {
            const { refused } = await commitSplittingRefused(events, (batch) => recorder.record(batch), isPermanentDataError);
            if (refused.length > 0) {
              metrics.costEvents.inc({ outcome: 'dead_lettered' }, refused.length);
              await context.deadLetter(refused.map((r) => ({ event: r.event, error: describeDataError(r.error) })));
            }
          },
        }),
      ],
      redis,
      {
        keyPrefix: config.redis.key_prefix,
        concurrency: 4,
        // Queue depth and job counts/durations per queue, the same as every worker's.
        registry,
        onFailed: (name, jobId, reason) => logger.warn('event job failed', { event: name, job_id: jobId, reason }),
        onError: (error) => logger.error('queue worker error', { err: error.message }),
        deadLetters: async (letters) => {
          const stored = await deadLetters.record(letters);
          logger.warn('events dead-lettered', { consumer: SERVICE_NAME, event: 'cost.recorded', job_id: letters[0]?.job_id, count: letters.length, new: stored, first_error: letters[0]?.error });
          return stored;
        },
      },
    );
    return { recorder, stop };
  } catch (error) {
    await stop(1000).catch(() => undefined);
    throw error;
  }
}
