import type { Config } from '@model-router/config';
import { DeadLetterRepository, ensureDatabase, EventIngestionRepository, EventMaintenanceRepository, migrate } from '@model-router/database';
import type { Logger } from '@model-router/logger';
import { type DeadLetterSink, type RunningWorkers, startWorkers } from '@model-router/queue';
import { type RunningService, type ServiceContext, type StartedService, startService } from '@model-router/service-runtime';
import { createAggregatorMetrics } from './aggregator-metrics.js';
import { eventHandlers } from './event-handlers.js';
import { PARTITION_DAYS_AHEAD, startMaintenanceSchedules } from './maintenance-schedules.js';

/** Stores dead letters and says so in the log (one line per batch of them). */
export function deadLetterSink(repository: DeadLetterRepository, logger: Logger): DeadLetterSink {
  return async (letters) => {
    const stored = await repository.record(letters);
    logger.warn('events dead-lettered', {
      consumer: letters[0]?.consumer,
      event: letters[0]?.event_name,
      job_id: letters[0]?.job_id,
      count: letters.length,
      new: stored,
      first_error: letters[0]?.error,
    });
    return stored;
  };
}

export { MAINTENANCE_JOBS, PARTITION_DAYS_AHEAD } from './maintenance-schedules.js';
export { checkAbTestGuardrails, type GuardrailCheckOptions, type GuardrailTrippedAlert } from './guardrail-checks.js';

export const SERVICE_NAME = 'metric-aggregator';

/**
 * The metric aggregator inside the service frame: consumes route.decided and metric.recorded jobs
 * (each a batch of events) and writes every event exactly once to Postgres; runs the partition,
 * retention and compaction schedules on pg-boss.
 */
export async function setupMetricAggregator(context: ServiceContext): Promise<StartedService> {
  const { config, logger, pool, redis, registry } = context;
  // An idle pooled connection that Postgres (or the network) drops must not crash the process;
  // the next query opens a new one, and failed batches are retried by the queue.
  pool.on('error', (error) => logger.warn('idle Postgres connection lost', { err: error.message }));

  // Any service may start first on a fresh database; migrations take an advisory lock.
  if (config.database.migrate_on_start) {
    await ensureDatabase(config.database.url);
    const applied = await migrate({ databaseUrl: config.database.url });
    if (applied.length) logger.info('migrations applied', { migrations: applied });
  }

  const repository = new EventIngestionRepository(pool);
  const maintenance = new EventMaintenanceRepository(pool);
  await maintenance.ensurePartitions(PARTITION_DAYS_AHEAD);
  const metrics = createAggregatorMetrics(registry);
  const schedules = await startMaintenanceSchedules(config, maintenance, logger, pool, metrics);

  let workers: RunningWorkers;
  try {
    workers = startWorkers(SERVICE_NAME, eventHandlers(repository, metrics), redis, {
      keyPrefix: config.redis.key_prefix,
      concurrency: config.workers.metric_aggregator.concurrency,
      onFailed: (name, jobId, reason) => logger.warn('event job failed', { event: name, job_id: jobId, reason }),
      onError: (error) => logger.error('queue worker error', { err: error.message }),
      registry,
      // Events that can never be stored are set aside there, so they cost no other event.
      deadLetters: deadLetterSink(new DeadLetterRepository(pool), logger),
    });
  } catch (error) {
    await schedules.stop(1000).catch(() => undefined);
    throw error;
  }

  return {
    async stop(deadlineMs) {
      // Stop taking jobs first: a running batch either commits or rolls back and is redelivered.
      await workers.close(deadlineMs);
      await schedules.stop(deadlineMs);
    },
  };
}

export interface MetricAggregatorOptions {
  logger?: Logger;
  /** Port of the ops server (/healthz, /readyz, /metrics); 0 for any free port. Default: config. */
  opsPort?: number;
}

/** Starts the metric aggregator in this process (main.ts and tests). */
export function startMetricAggregator(config: Config, options: MetricAggregatorOptions = {}): Promise<RunningService> {
  return startService({
    name: SERVICE_NAME,
    config,
    ...(options.logger ? { logger: options.logger } : {}),
    opsPort: options.opsPort ?? config.workers.metric_aggregator.ops_port,
    setup: setupMetricAggregator,
  });
}
