import type { Config } from '@model-router/config';
import { z } from 'zod';
import type { ConsumerService } from './catalog.js';
import { configChangedEvent } from './events.js';

/**
 * The pg-boss half of the job catalog: every pg-boss queue and schedule with its payload schema,
 * consumer (the one service whose handler runs it), retries and retention — the same shape as the
 * BullMQ events' catalog (catalog.ts). pg-boss carries what must commit with Postgres rows (the
 * config outbox, alerts) and what runs on a cron (maintenance), once per slot across replicas.
 */

export interface BossJobDefinition<S extends z.ZodType = z.ZodType> {
  /** The pg-boss queue (and job name). */
  queue: string;
  /** Schema of one job's data, checked when it is sent and before its handler runs. */
  payload: S;
  consumer: ConsumerService;
  /** Tries in all (pg-boss retries attempts − 1 times). */
  attempts: number;
  /** Seconds before the first retry; doubled on each later one when `backoff`, up to `maxDelay`. */
  retry: { delay: number; backoff: boolean; maxDelay?: number };
  /** Seconds a job may run before it counts as failed (and is retried). */
  expireInSeconds?: number;
  /** 'stately': at most one job queued and one running, so a slow run never piles up ticks. */
  policy?: 'standard' | 'stately';
  /** Wake the consumer with NOTIFY at once instead of at its next poll. */
  notify?: boolean;
  /** Bounded retention in seconds: completed jobs, and jobs never taken. */
  retention: { completed: number; pending: number };
  /** A cron (UTC) that sends one job per slot; 'once': a slot missed while down runs on return. */
  schedule?: { cron: string; missed?: 'once' };
  /** How the consumer polls: jobs per fetch and seconds between polls. */
  work?: { batchSize: number; pollingIntervalSeconds: number };
  /** Settings the config decides (they replace the ones above). */
  fromConfig?: (config: Config) => { attempts?: number; expireInSeconds?: number; cron?: string };
}

const DAY = 24 * 3600;
/** pg-boss's own defaults, written out: a week of completed jobs, two weeks for a job never taken. */
const RETENTION = { completed: 7 * DAY, pending: 14 * DAY } as const;

/** A maintenance run: a failed one (Postgres away, a lock timeout) is retried within the hour. */
const MAINTENANCE = {
  payload: z.object({}).nullish(),
  attempts: 7,
  retry: { delay: 30, backoff: true },
  expireInSeconds: 3600,
  policy: 'stately',
  retention: RETENTION,
} as const;

/**
 * A maintenance run on a cron (UTC); 'once': a deployment that was down at the scheduled minute
 * still runs it when it comes back.
 */
function scheduledMaintenance(queue: string, consumer: ConsumerService, cron: string) {
  return { ...MAINTENANCE, queue, consumer, schedule: { cron, missed: 'once' as const } };
}

/** An alert POSTed to `budgets.webhook_url`: a JSON object naming its event, with a stable id the receiver dedupes by. */
export const alertPayload = z.looseObject({ event: z.string().min(1), event_id: z.string().min(1), occurred_at: z.string() });

export const BOSS_JOB_CATALOG = {
  /**
   * Config changes committed with the change itself (the transactional outbox); the
   * cache-invalidator drops the caches each concerns and tells every API replica (Redis pub/sub).
   */
  'config.changed': {
    queue: 'config-events',
    payload: configChangedEvent,
    consumer: 'cache-invalidator',
    attempts: 101,
    retry: { delay: 1, backoff: true },
    // NOTIFY wakes the relay at once instead of at its next poll: a change is announced in milliseconds.
    notify: true,
    retention: RETENTION,
    work: { batchSize: 100, pollingIntervalSeconds: 0.5 },
  },
  /**
   * Alerts POSTed to `budgets.webhook_url`: budget thresholds (budget-enforcer) and tripped A/B
   * guardrails (metric-aggregator); delivered by the budget-enforcer, `webhook_attempts` tries with
   * exponential backoff (1 s, 2 s, 4 s … ≤ 5 min).
   */
  'alert.webhook': {
    queue: 'budget-enforcer.threshold-webhook',
    payload: alertPayload,
    consumer: 'budget-enforcer',
    attempts: 10,
    retry: { delay: 1, backoff: true, maxDelay: 300 },
    expireInSeconds: 30,
    retention: RETENTION,
    work: { batchSize: 1, pollingIntervalSeconds: 0.5 },
    fromConfig: (config) => ({
      attempts: config.budgets.webhook_attempts,
      expireInSeconds: Math.max(30, Math.ceil((config.budgets.webhook_timeout * 2) / 1000)),
    }),
  },
  'maintenance.ensure-event-partitions': scheduledMaintenance('metric-aggregator.ensure-event-partitions', 'metric-aggregator', '5 0 * * *'),
  'maintenance.prune-raw-events': scheduledMaintenance('metric-aggregator.prune-raw-events', 'metric-aggregator', '15 0 * * *'),
  'maintenance.compact-minute-rollups': scheduledMaintenance('metric-aggregator.compact-minute-rollups', 'metric-aggregator', '25 0 * * *'),
  // A/B tests whose end_time has passed are completed within a minute.
  'maintenance.expire-ab-tests': scheduledMaintenance('metric-aggregator.expire-ab-tests', 'metric-aggregator', '* * * * *'),
  // Running A/B tests with guardrails are checked every minute, from the rollups the aggregator writes.
  'maintenance.check-ab-guardrails': scheduledMaintenance('metric-aggregator.check-ab-guardrails', 'metric-aggregator', '* * * * *'),
  /** Re-sync Redis and the replicas from Postgres; the cron is `budgets.reconcile_cron`. */
  'budgets.reconcile': {
    ...MAINTENANCE,
    queue: 'budget-enforcer.reconcile',
    consumer: 'budget-enforcer',
    attempts: 4,
    retry: { delay: 5, backoff: false },
    expireInSeconds: 300,
    schedule: { cron: '* * * * *' },
    fromConfig: (config) => ({ cron: config.budgets.reconcile_cron }),
  },
  /** Forget budget ledger entries past raw-event retention. */
  'budgets.prune-ledger': scheduledMaintenance('budget-enforcer.prune-ledger', 'budget-enforcer', '35 0 * * *'),
} as const satisfies Record<string, BossJobDefinition>;

export type BossJobName = keyof typeof BOSS_JOB_CATALOG;
export type BossPayloadOf<N extends BossJobName> = z.infer<(typeof BOSS_JOB_CATALOG)[N]['payload']>;
export const BOSS_JOB_NAMES = Object.keys(BOSS_JOB_CATALOG) as BossJobName[];

export function bossJobsConsumedBy(service: ConsumerService): BossJobName[] {
  return BOSS_JOB_NAMES.filter((name) => BOSS_JOB_CATALOG[name].consumer === service);
}

/** A job's settings under `config` (the catalog's, with the ones the config decides). */
export function bossJobSettings(name: BossJobName, config?: Config) {
  const def: BossJobDefinition = BOSS_JOB_CATALOG[name];
  const overrides = config && def.fromConfig ? def.fromConfig(config) : {};
  return {
    attempts: overrides.attempts ?? def.attempts,
    expireInSeconds: overrides.expireInSeconds ?? def.expireInSeconds,
    cron: overrides.cron ?? def.schedule?.cron,
  };
}
