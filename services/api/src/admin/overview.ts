import type { AbTestRollupsReader, DeadLetterSummary, StoredDeadLetter } from '@model-router/database';
import { meanInterval, type Interval, wilsonInterval } from '@model-router/domain';
import { JOB_STATES } from '@model-router/queue';
import type { Queue } from 'bullmq';
import type { SnapshotStore } from '../state/snapshot-store.js';

/** What the operator page shows, as served by GET /admin/api/overview. */
export interface Overview {
  generated_at: string;
  models: ModelView[];
  /** Null when this API has no budget source; otherwise every budget with its current period's spend. */
  budgets: BudgetView[] | null;
  abtests: AbTestView[];
  /** Null when Redis did not answer in time. */
  queues: QueueView[] | null;
  /** Null when this API has no dead-letter source. */
  dead_letters: DeadLetterView | null;
  /** Null when this API has no key source; otherwise the API keys (tenants) with today's usage. */
  keys: KeyView[] | null;
}

/** An API key (tenant) and its usage in the current UTC day. */
export interface KeyView {
  id: string;
  /** The stored key's name; null for a configured client key. */
  name: string | null;
  /** Created with POST /api/v1/keys (else a configured client key, `admin` or `default` seen today). */
  stored: boolean;
  state: 'enabled' | 'disabled' | 'expired' | 'configured';
  allowed_models: string[];
  allowed_providers: string[];
  rpm: number | null;
  tpm: number | null;
  last_used_at: string | null;
  requests_today: number;
  /** Prompt and completion tokens. */
  tokens_today: number;
  cost_today_usd: number;
}

/** Events the workers set aside because they can never be stored (model_router.dead_letter_events). */
export interface DeadLetterView {
  total: number;
  by_consumer: DeadLetterSummary['byConsumer'];
  latest: Array<
    Omit<StoredDeadLetter, 'id' | 'event_json'> & {
      /** The event's JSON, cut short. */
      event_preview: string;
    }
  >;
}

export interface ModelView {
  id: string;
  name: string;
  provider: string;
  enabled: boolean;
  health: string;
  circuit: string;
  samples: number;
  success_rate: number | null;
  p50_latency_ms: number | null;
  /** The budget that currently removes the model from routing, if any. */
  budget_blocked_by: string | null;
}

export interface BudgetView {
  id: string;
  name: string | null;
  scope: string;
  scope_id: string | null;
  period: string;
  action: string;
  limit_usd: number;
  spent_usd: number;
  state: string;
  period_end: string;
}

export interface VariantView {
  variant_id: string;
  model_id: string;
  weight: number;
  requests: number;
  success_rate: Interval;
  latency_ms: Interval;
}

export interface AbTestView {
  id: string;
  name: string;
  strategy: string;
  started_at: string | null;
  /** Confidence level of the intervals (1 − alpha). */
  confidence: number;
  variants: VariantView[];
}

export interface QueueView {
  queue: string;
  counts: Record<(typeof JOB_STATES)[number], number>;
}

export interface OverviewSources {
  snapshots: SnapshotStore;
  events: AbTestRollupsReader;
  queues: readonly Queue[];
  alpha: number;
  budgets?: () => Promise<BudgetView[]>;
  deadLetters?: () => Promise<DeadLetterView>;
  keys?: () => Promise<KeyView[]>;
}

// The page polls every few seconds: Redis that does not answer quickly must not hold it up.
const QUEUE_TIMEOUT_MS = 1000;

async function queueDepths(queues: readonly Queue[]): Promise<QueueView[] | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), QUEUE_TIMEOUT_MS);
  });
  const read = Promise.all(
    queues.map(async (queue) => ({
      queue: queue.name,
      counts: (await queue.getJobCounts(...JOB_STATES)) as QueueView['counts'],
    })),
  ).catch(() => null);
  try {
    return await Promise.race([read, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Everything on the operator page in one read: models with health and circuit from the snapshot
 * (no I/O), running A/B tests with each variant's success rate and latency and their confidence
 * intervals (one rollup query per test), budgets, queue depths, dead letters and API keys.
 */
export async function buildOverview(sources: OverviewSources): Promise<Overview> {
  const snapshot = sources.snapshots.current;
  const models: ModelView[] = snapshot.models.map((model) => {
    const runtime = snapshot.runtime.get(model.id);
    const stats = runtime?.stats ?? null;
    return {
      id: model.id,
      name: model.name,
      provider: model.provider,
      enabled: model.enabled,
      health: runtime?.health ?? 'unknown',
      circuit: runtime?.circuit ?? 'closed',
      samples: stats?.sample_count ?? 0,
      success_rate: stats && stats.sample_count > 0 ? stats.success_count / stats.sample_count : null,
      p50_latency_ms: stats?.p50_latency_ms ?? null,
      budget_blocked_by: snapshot.budget_blocked.get(model.id) ?? null,
    };
  });

  const [abtests, budgets, queues, deadLetters, keys] = await Promise.all([
    Promise.all(
      snapshot.runningTestList.map(async (test): Promise<AbTestView> => {
        const rollups = new Map((await sources.events.abTestVariantRollups(test.id)).map((r) => [r.variant_id, r]));
        return {
          id: test.id,
          name: test.name,
          strategy: test.strategy,
          started_at: test.started_at,
          confidence: 1 - sources.alpha,
          variants: test.variants.map((variant) => {
            const r = rollupOf(rollups.get(variant.id));
            return {
              variant_id: variant.id,
              model_id: variant.model_id,
              weight: variant.weight,
              requests: r.request_count,
              success_rate: wilsonInterval(r.success_count, r.request_count, sources.alpha),
              latency_ms: meanInterval({ n: r.request_count, sum: r.latency_sum, sum_sq: r.latency_sum_sq }, sources.alpha),
            };
          }),
        };
      }),
    ),
    sources.budgets ? sources.budgets() : Promise.resolve(null),
    queueDepths(sources.queues),
    sources.deadLetters ? sources.deadLetters() : Promise.resolve(null),
    sources.keys ? sources.keys() : Promise.resolve(null),
  ]);
  return { generated_at: new Date().toISOString(), models, budgets, abtests, queues, dead_letters: deadLetters, keys };
}

function rollupOf(r: { request_count: number; success_count: number; latency_sum: number; latency_sum_sq: number } | undefined) {
  return r ?? { request_count: 0, success_count: 0, latency_sum: 0, latency_sum_sq: 0 };
}
