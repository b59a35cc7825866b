import { allowPrivateEndpoints } from '@model-router/config';
import { ModelRepository } from '@model-router/database';
import { CircuitStore } from '@model-router/health';
import { JOB_CATALOG, startWorkers, upsertEventSchedules } from '@model-router/queue';
import type { ServiceContext, StartedService } from '@model-router/service-runtime';
import { HealthMetrics } from './health.metrics.js';
import { outcomesHandler } from './outcomes.handler.js';
import { probeHandler } from './probe.handler.js';

export interface HealthCheckerOptions {
  /** Endpoints probed at once. Default 8. */
  probeConcurrency?: number;
  /** For tests: answers probes instead of HTTP (the endpoint policy still applies). */
  fetch?: typeof fetch;
}

export interface StartedHealthChecker extends StartedService {
  store: CircuitStore;
}

/** The probe tick's scheduler id (one schedule for the whole deployment, see the job catalog). */
export const PROBE_SCHEDULER_ID = JOB_CATALOG['health.probe'].schedule.id;

/**
 * The health checker inside the service frame: a store for the circuits, the two handlers on
 * their queues, and the probe schedule.
 */
export async function setupHealthChecker(
  ctx: ServiceContext,
  options: HealthCheckerOptions = {},
): Promise<StartedHealthChecker> {
  const { config, logger } = ctx;
  const settings = config.workers.health_checker;
  const store = new CircuitStore(ctx.redis, { keyPrefix: config.redis.key_prefix, policy: config.circuit_breaker });
  const metrics = new HealthMetrics(ctx.registry);
  const handlers = [
    probeHandler({
      models: new ModelRepository(ctx.pool),
      store,
      metrics,
      logger,
      timeoutMs: settings.probe_timeout,
      concurrency: options.probeConcurrency ?? 8,
      endpointPolicy: { allowPrivateEndpoints: allowPrivateEndpoints(config) },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    }),
    outcomesHandler({ store, metrics }),
  ];
  const workers = startWorkers('health-checker', handlers, ctx.redis, {
    keyPrefix: config.redis.key_prefix,
    onFailed: (name, jobId, reason) => logger.warn('job failed', { event: name, job_id: jobId, reason }),
    onError: (error) => logger.error('worker error', { err: error }),
    registry: ctx.registry,
  });
  try {
    await upsertEventSchedules(workers.queues, config);
  } catch (error) {
    await workers.close(1000);
    await store.close();
    throw error;
  }
  return {
    store,
    async stop(deadlineMs) {
      // The schedule stays: it belongs to the deployment, and another replica takes the ticks.
      await workers.close(deadlineMs);
      await store.close();
    },
  };
}
