import type { Config } from '@model-router/config';
import type { Job } from 'pg-boss';
import type { Registry } from 'prom-client';
import { BOSS_JOB_CATALOG, type BossJobDefinition, type BossJobName, type BossPayloadOf, bossJobSettings, bossJobsConsumedBy } from './boss-catalog.js';
import type { JobBoss } from './boss.js';
import type { ConsumerService } from './catalog.js';
import { assertHandlersMatch } from './handler-check.js';
import { registerDepthSources } from './queue-metrics.js';

export interface BossJobHandler<N extends BossJobName = BossJobName> {
  name: N;
  /**
   * Handles a batch of jobs' payloads (validated against the catalog); throwing makes pg-boss retry
   * them with the catalog's backoff. Null: the service consumes the job but does not run it in
   * this configuration (e.g. alert delivery without a webhook URL); its jobs wait.
   */
  handle: ((payloads: BossPayloadOf<N>[]) => Promise<unknown>) | null;
}

/** Helps TypeScript tie a handler's payloads to its name. */
export function bossHandler<N extends BossJobName>(h: BossJobHandler<N>): BossJobHandler<N> {
  return h;
}

/** Checks a service's pg-boss handlers against the catalog (exactly one per job it consumes). */
export function checkBossHandlers(service: ConsumerService, handlers: readonly BossJobHandler[]): void {
  assertHandlersMatch(service, 'job', bossJobsConsumedBy(service), handlers.map((h) => h.name));
}

/**
 * Starts `service`'s pg-boss jobs: checks its handlers (start-up fails on a job without a handler or
 * with two), registers the schedules of its scheduled jobs and works each job it runs. Every
 * replica registers the same schedules; pg-boss sends one job per cron slot.
 */
export async function startBossWorkers(
  boss: JobBoss,
  service: ConsumerService,
  handlers: readonly BossJobHandler[],
  options: {
    config?: Config;
    onDone?: (name: BossJobName, result: unknown) => void;
    /** Reports the depth of the consumed queues other services send to (not its own crons) in `model_router_queue_jobs`. */
    registry?: Registry;
  } = {},
): Promise<void> {
  checkBossHandlers(service, handlers);
  if (options.registry) {
    const sent = handlers.map((h) => BOSS_JOB_CATALOG[h.name] as BossJobDefinition).filter((def) => def.schedule === undefined);
    registerDepthSources(options.registry, sent.map((def) => ({ name: def.queue, counts: () => bossQueueCounts(boss, def.queue) })));
  }
  for (const h of handlers) {
    const def: BossJobDefinition = BOSS_JOB_CATALOG[h.name];
    const { cron } = bossJobSettings(h.name, options.config);
    if (cron !== undefined) {
      await boss.schedule(def.queue, cron, null, { tz: 'UTC', ...(def.schedule?.missed ? { missed: def.schedule.missed } : {}) });
    }
    const handle = h.handle;
    if (handle === null) continue;
    const run = async (jobs: Job<unknown>[]): Promise<unknown> => {
      // A payload that does not parse is a bug upstream: the job fails (pg-boss keeps it).
      const payloads = jobs.map((job) => def.payload.parse(job.data)) as BossPayloadOf<typeof h.name>[];
      const result = await handle(payloads);
      options.onDone?.(h.name, result);
      return result;
    };
    if (def.work) await boss.work(def.queue, { batchSize: def.work.batchSize, pollingIntervalSeconds: def.work.pollingIntervalSeconds }, run);
    else await boss.work(def.queue, run);
  }
}

/** A pg-boss queue's jobs in the states `model_router_queue_jobs` reports. */
async function bossQueueCounts(boss: JobBoss, queue: string): Promise<Record<'waiting' | 'prioritized' | 'active' | 'delayed' | 'failed' | 'completed', number>> {
  const q = await boss.getQueue(queue);
  if (!q) return { waiting: 0, prioritized: 0, active: 0, delayed: 0, failed: 0, completed: 0 };
  return {
    waiting: q.queuedCount - q.deferredCount,
    prioritized: 0,
    active: q.activeCount,
    delayed: q.deferredCount,
    failed: q.failedCount,
    completed: Math.max(0, q.totalCount - q.queuedCount - q.activeCount - q.failedCount),
  };
}
