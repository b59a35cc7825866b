import type { Job, Queue } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The job states `model_router_queue_jobs` reports. */
export const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;

// A scrape must answer even when Redis does not: depths are then left out rather than stale.
const DEPTH_TIMEOUT_MS = 1000;

/** A queue whose depth a scrape reads: its name and its job count per state. */
export interface DepthSource {
  name: string;
  counts(): Promise<Partial<Record<(typeof JOB_STATES)[number], number>>>;
}

const depthSources = new WeakMap<Registry, Map<string, DepthSource>>();

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `model_router_queue_jobs{queue,state}`: jobs per state of `queues` (BullMQ), read at scrape time
 * (one getJobCounts per queue, so nothing runs between scrapes). Several calls on one registry add
 * their queues to the same gauge.
 */
export function registerQueueDepthGauge(registry: Registry, queues: readonly Queue[]): void {
  registerDepthSources(
    registry,
    queues.map((queue) => ({ name: queue.name, counts: () => queue.getJobCounts(...JOB_STATES) })),
  );
}

/** Adds queues of either transport to `model_router_queue_jobs` on `registry`. */
export function registerDepthSources(registry: Registry, sources: readonly DepthSource[]): void {
  let known = depthSources.get(registry);
  if (known) {
    for (const source of sources) known.set(source.name, source);
    return;
  }
  known = new Map(sources.map((source) => [source.name, source]));
  depthSources.set(registry, known);
  const tracked = known;
  new Gauge({
    name: 'model_router_queue_jobs',
    help: 'Jobs in each state of a queue (BullMQ, or pg-boss for the ones carrying work another service sent), read when scraped (absent while its store does not answer).',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        [...tracked.values()].map(async (source) => {
          try {
            const counts = await withTimeout(source.counts(), DEPTH_TIMEOUT_MS);
            for (const state of JOB_STATES) this.set({ queue: source.name, state }, counts[state] ?? 0);
          } catch {
            // Redis or Postgres away: this queue's depths are missing from this scrape.
          }
        }),
      );
    },
  });
}

export type JobOutcome = 'completed' | 'retrying' | 'failed';

/** Job counts, durations and failures per queue, recorded by the worker runner. */
export class JobMetrics {
  private readonly jobs: Counter<'queue' | 'outcome'>;
  private readonly duration: Histogram<'queue' | 'outcome'>;
  private readonly wait: Histogram<'queue'>;

  constructor(registry: Registry) {
    const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
    this.jobs =
      existing<Counter<'queue' | 'outcome'>>('model_router_queue_jobs_processed_total') ??
      new Counter({
        name: 'model_router_queue_jobs_processed_total',
        help: 'Job attempts finished by this service\'s workers, by queue and outcome: completed, retrying (failed, will be retried) or failed (no attempts left, or permanent).',
        labelNames: ['queue', 'outcome'],
        registers: [registry],
      });
    this.duration =
      existing<Histogram<'queue' | 'outcome'>>('model_router_queue_job_duration_seconds') ??
      new Histogram({
        name: 'model_router_queue_job_duration_seconds',
        help: 'Time a worker spent on one job attempt (validation and handler), by queue and outcome.',
        labelNames: ['queue', 'outcome'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      });
    this.wait =
      existing<Histogram<'queue'>>('model_router_queue_job_wait_seconds') ??
      new Histogram({
        name: 'model_router_queue_job_wait_seconds',
        help: 'Time from a job\'s enqueue (plus its delay, if any) to a worker starting its first attempt.',
        labelNames: ['queue'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers: [registry],
      });
  }

  started(job: Job): void {
    // A retry's wait would include the earlier attempts and their backoff.
    if (job.attemptsMade > 0) return;
    const due = job.timestamp + (job.delay ?? 0);
    this.wait.observe({ queue: job.queueName }, Math.max(0, Date.now() - due) / 1000);
  }

  finished(job: Job, outcome: JobOutcome, seconds: number): void {
    this.jobs.inc({ queue: job.queueName, outcome });
    this.duration.observe({ queue: job.queueName, outcome }, seconds);
  }
}
