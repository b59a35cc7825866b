import type { Config } from '@model-router/config';
import { redisKeys } from '@model-router/redis';
import type { z } from 'zod';
import {
  costRecordedEvent,
  healthProbeEvent,
  metricRecordedEvent,
  modelOutcomesEvent,
  routeDecidedEvent,
} from './events.js';

/** The worker services; each event (and pg-boss job) is consumed by exactly one of them. */
export type ConsumerService = 'metric-aggregator' | 'health-checker' | 'cache-invalidator' | 'budget-enforcer';

export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  /** The BullMQ queue the event's jobs go to. */
  queue: string;
  /** Schema of one event; a job's payload is `{ events: Event[] }`. */
  event: S;
  consumer: ConsumerService;
  /** Most events a producer puts in one job. */
  maxBatch: number;
  attempts: number;
  backoff: { type: 'exponential' | 'fixed'; delay: number };
  /** Bounded retention, so Redis memory stays flat however long the system runs. */
  removeOnComplete: { age: number; count: number };
  removeOnFail: { age: number; count: number };
  /**
   * A repeating job the queue adds by itself (a tick): one scheduler `id` for the whole deployment,
   * every `everyMs(config)` milliseconds; its payload is one event `{ event_id: id, occurred_at }`.
   */
  schedule?: { id: string; everyMs: (config: Config) => number };
}

const HOUR = 3600;
const WEEK = 7 * 24 * HOUR;

/** Bounded retention: an hour of completed jobs, a week of failed ones to inspect. */
const RETENTION = {
  removeOnComplete: { age: HOUR, count: 1000 },
  removeOnFail: { age: WEEK, count: 10_000 },
} as const;

/** Events that must reach Postgres: retry for ~35 minutes, Postgres may be away that long. */
const UNTIL_POSTGRES_RETURNS = {
  attempts: 12,
  backoff: { type: 'exponential', delay: 1000 },
} as const;

/**
 * The typed job catalog: every event name, its schema, queue, consumer, retry policy and retention.
 * Producers can publish only these names with valid events; a worker service must handle exactly
 * the names assigned to it.
 */
export const JOB_CATALOG = {
  'route.decided': {
    queue: 'route-events',
    event: routeDecidedEvent,
    consumer: 'metric-aggregator',
    maxBatch: 1000,
    ...UNTIL_POSTGRES_RETURNS,
    ...RETENTION,
  },
  'metric.recorded': {
    queue: 'metric-events',
    event: metricRecordedEvent,
    consumer: 'metric-aggregator',
    maxBatch: 1000,
    ...UNTIL_POSTGRES_RETURNS,
    ...RETENTION,
  },
  'model.outcomes': {
    queue: 'model-outcomes',
    event: modelOutcomesEvent,
    consumer: 'health-checker',
    maxBatch: 500,
    // Stale outcomes are worth little: a few quick retries, then the next window's summary counts.
    attempts: 3,
    backoff: { type: 'fixed', delay: 200 },
    ...RETENTION,
  },
  'health.probe': {
    queue: 'health-probes',
    event: healthProbeEvent,
    consumer: 'health-checker',
    maxBatch: 1,
    // One schedule for the whole deployment: every replica upserts the same id, so there is one owner.
    schedule: { id: 'health-probe-tick', everyMs: (config) => config.workers.health_checker.probe_interval },
    // A missed probe is replaced by the next tick: no retries.
    attempts: 1,
    backoff: { type: 'fixed', delay: 0 },
    removeOnComplete: { age: HOUR, count: 100 },
    removeOnFail: { age: HOUR, count: 100 },
  },
  'cost.recorded': {
    queue: 'cost-events',
    event: costRecordedEvent,
    consumer: 'budget-enforcer',
    maxBatch: 1000,
    // Spend must not be lost while Postgres is away.
    ...UNTIL_POSTGRES_RETURNS,
    ...RETENTION,
  },
} as const satisfies Record<string, JobDefinition>;

export type EventName = keyof typeof JOB_CATALOG;
export type EventOf<N extends EventName> = z.infer<(typeof JOB_CATALOG)[N]['event']>;
/** An event as a producer may publish it: fields with a default (key_id) may be left out. */
export type EventInputOf<N extends EventName> = z.input<(typeof JOB_CATALOG)[N]['event']>;
export const EVENT_NAMES = Object.keys(JOB_CATALOG) as EventName[];
export const QUEUE_NAMES = [...new Set(EVENT_NAMES.map((name) => JOB_CATALOG[name].queue))];

export function eventsConsumedBy(service: ConsumerService): EventName[] {
  return EVENT_NAMES.filter((name) => JOB_CATALOG[name].consumer === service);
}

/**
 * BullMQ key prefix for a deployment: the key prefix inside a Redis Cluster hash tag, so every key
 * of every queue lands in one slot and multi-key scripts keep working on a cluster.
 */
export function queuePrefix(keyPrefix: string): string {
  return redisKeys(keyPrefix).queuePrefix;
}
