import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';

/** Thrown by a handler for a batch that can never succeed (bad data): the job fails at once, without retries. */
export { UnrecoverableError as PermanentEventError };
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import {
  type ConsumerService,
  type EventName,
  type EventOf,
  eventsConsumedBy,
  JOB_CATALOG,
  queuePrefix,
} from './catalog.js';
import { type DeadLetterSink, deadLetterCounter, type RefusedEvent } from './dead-letters.js';
import { assertHandlersMatch } from './handler-check.js';
import { type JobOutcome, JobMetrics, registerQueueDepthGauge } from './queue-metrics.js';
import { traceparentSchema, withConsumerSpan } from './tracing.js';

export interface JobContext {
  jobId: string;
  /** 0 on the first delivery; more on a retry or after a stalled (killed) worker's job came back. */
  attemptsMade: number;
  /**
   * Sets events of this job aside for good (the service's dead-letter sink), so that the rest of
   * the batch can commit. Without a sink the whole job fails at once, as a permanent error.
   */
  deadLetter(refused: readonly RefusedEvent[]): Promise<void>;
}

export interface EventHandler<N extends EventName = EventName> {
  name: N;
  /** Handles one job's batch; throwing makes BullMQ retry the whole batch with backoff. */
  handle(events: EventOf<N>[], context: JobContext): Promise<void>;
}

/** Helps TypeScript tie a handler's events to its name. */
export function handler<N extends EventName>(h: EventHandler<N>): EventHandler<N> {
  return h;
}

export interface WorkerRunnerOptions {
  keyPrefix: string;
  /** Jobs processed at once per queue. */
  concurrency?: number;
  onFailed?: (name: string, jobId: string | undefined, reason: string) => void;
  onError?: (error: Error) => void;
  /**
   * The service's Prometheus registry: job counts, durations and failures per queue
   * (`model_router_queue_jobs_processed_total`, `…_job_duration_seconds`, `…_job_wait_seconds`) and
   * the depth of the consumed queues (`model_router_queue_jobs`).
   */
  registry?: Registry;
  /**
   * Where events that can never be used go (a Postgres table): an event that fails the catalog's
   * schema, or one a handler reports as refused, is stored there and the rest of its job goes on.
   * Without it, such an event fails its whole job (permanent error: no retries).
   */
  deadLetters?: DeadLetterSink;
}

/**
 * Checks a service's handlers against the catalog: every event assigned to `service` has exactly
 * one handler and no handler is for another service's event. Start-up fails otherwise.
 */
export function checkHandlers(service: ConsumerService, handlers: readonly EventHandler[]): void {
  assertHandlersMatch(service, 'event', eventsConsumedBy(service), handlers.map((h) => h.name));
}

// The job's envelope is checked as a whole; its events one by one, so one bad event is set aside
// instead of failing the others (see `process` below).
const envelopeSchemas = new Map<EventName, z.ZodType>();
function envelopeSchema(name: EventName): z.ZodType {
  let schema = envelopeSchemas.get(name);
  if (!schema) {
    const def = JOB_CATALOG[name];
    schema = z.strictObject({
      events: z.array(z.unknown()).min(1).max(def.maxBatch),
      // Trace context of the publishes whose events are in the job (see tracing.ts).
      trace: z.array(traceparentSchema).min(1).max(def.maxBatch).optional(),
    });
    envelopeSchemas.set(name, schema);
  }
  return schema;
}

const describeIssues = (issues: readonly z.core.$ZodIssue[], prefix: string): string =>
  issues
    .slice(0, 5)
    .map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`)
    .join('; ');

export interface RunningWorkers {
  workers: Worker[];
  queues: Queue[];
  /** Stops taking jobs and waits for running ones up to `deadlineMs`, then abandons them to redelivery. */
  close(deadlineMs: number): Promise<void>;
}

/**
 * Starts one BullMQ worker per queue the service consumes. A job whose payload does not match the
 * catalog fails at once with the reason (UnrecoverableError: no retries), so it never blocks the queue.
 */
export function startWorkers(
  service: ConsumerService,
  handlers: readonly EventHandler[],
  connection: Redis | Cluster,
  options: WorkerRunnerOptions,
): RunningWorkers {
  checkHandlers(service, handlers);
  const byName = new Map<string, EventHandler>(handlers.map((h) => [h.name, h]));
  const queueNames = [...new Set(handlers.map((h) => JOB_CATALOG[h.name].queue))];
  const prefix = queuePrefix(options.keyPrefix);
  const deadLetters = options.registry ? deadLetterCounter(options.registry) : null;

  const process = async (job: Job): Promise<void> => {
    const h = byName.get(job.name);
    if (!h) throw new UnrecoverableError(`no handler for event "${job.name}" in ${service}`);
    const envelope = envelopeSchema(h.name).safeParse(job.data);
    if (!envelope.success) {
      throw new UnrecoverableError(`invalid payload for "${job.name}": ${describeIssues(envelope.error.issues, '')}`);
    }
    const { events: raw, trace } = envelope.data as { events: unknown[]; trace?: string[] };
    const schema = JOB_CATALOG[h.name].event;
    const events: EventOf<EventName>[] = [];
    // A refused event is stored as it was in the job (not as parsed): its fingerprint is the same
    // whichever way it was refused.
    const asInJob = new Map<unknown, unknown>();
    const invalid: RefusedEvent[] = [];
    const invalidIssues: string[] = [];
    raw.forEach((event, index) => {
      const parsed = schema.safeParse(event);
      if (parsed.success) {
        events.push(parsed.data as EventOf<EventName>);
        asInJob.set(parsed.data, event);
      } else {
        invalid.push({ event, error: `schema: ${describeIssues(parsed.error.issues, '')}` });
        invalidIssues.push(describeIssues(parsed.error.issues, `events.${index}`));
      }
    });
    const deadLetter = async (refused: readonly RefusedEvent[]): Promise<void> => {
      if (refused.length === 0) return;
      if (!options.deadLetters) {
        throw new UnrecoverableError(`"${job.name}": ${refused.length} event(s) refused: ${refused.slice(0, 3).map((r) => r.error).join('; ')}`);
      }
      const stored = await options.deadLetters(
        refused.map((r) => ({
          consumer: service,
          queue: job.queueName,
          event_name: h.name,
          job_id: job.id ?? '',
          event: asInJob.get(r.event) ?? r.event,
          error: r.error,
        })),
      );
      if (stored > 0 && deadLetters) deadLetters.inc({ consumer: service, event: h.name }, stored);
    };
    if (invalid.length > 0) {
      if (!options.deadLetters) throw new UnrecoverableError(`invalid payload for "${job.name}": ${invalidIssues.slice(0, 5).join('; ')}`);
      await deadLetter(invalid);
      if (events.length === 0) return;
    }
    const context: JobContext = { jobId: job.id ?? '', attemptsMade: job.attemptsMade, deadLetter };
    await withConsumerSpan(
      {
        queue: job.queueName,
        jobId: context.jobId,
        eventName: job.name,
        eventCount: events.length,
        attempt: job.attemptsMade + 1,
        consumer: service,
        traceparents: trace,
      },
      () => h.handle(events as never, context),
    );
  };

  const metrics = options.registry ? new JobMetrics(options.registry) : null;
  const measured = metrics
    ? async (job: Job): Promise<void> => {
        metrics.started(job);
        const started = performance.now();
        let outcome: JobOutcome = 'completed';
        try {
          await process(job);
        } catch (error) {
          const lastAttempt = error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
          outcome = lastAttempt ? 'failed' : 'retrying';
          throw error;
        } finally {
          metrics.finished(job, outcome, (performance.now() - started) / 1000);
        }
      }
    : process;

  const workers = queueNames.map((queue) => {
    const worker = new Worker(queue, measured, {
      connection,
      prefix,
      concurrency: options.concurrency ?? 4,
      // A killed worker's job comes back after the lock expires; keep it short so recovery is quick.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      // A job that stalls again and again (a poison batch crashing the process) fails after 3 tries.
      maxStalledCount: 3,
    });
    worker.on('failed', (job, error) => options.onFailed?.(job?.name ?? queue, job?.id, error.message));
    worker.on('error', (error) => options.onError?.(error));
    return worker;
  });
  const queues = queueNames.map((queue) => new Queue(queue, { connection, prefix }));
  if (options.registry) registerQueueDepthGauge(options.registry, queues);

  return {
    workers,
    queues,
    async close(deadlineMs) {
      let timer: NodeJS.Timeout | undefined;
      const graceful = Promise.all(workers.map((w) => w.close()));
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), deadlineMs);
      });
      const outcome = await Promise.race([graceful, deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') await Promise.all(workers.map((w) => w.close(true)));
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
