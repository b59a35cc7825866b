import { nanosToUsd, storableId } from '@model-router/domain';
import { MAX_COST_NANOS, MAX_LATENCY_MS, MAX_TOKENS, storableTimestamp } from '@model-router/queue';
import { z } from 'zod';

/*
 * The edge's rules are the event catalog's (packages/queue/src/events.ts): ids Postgres can store
 * and index, counts that fit the columns, costs whose sums stay exact. An event accepted here is
 * one its consumers can write, so a 202 never hands them a value that would fail its batch. The
 * timestamp's window around now is checked in `toEvents`, which knows the time and the config.
 */
const id = storableId;
const tokens = z.number().int().min(0).max(MAX_TOKENS);
/** Largest reported cost in USD: the catalog's per-event bound in nano-dollars. */
export const MAX_COST_USD = nanosToUsd(MAX_COST_NANOS);
const timestamp = storableTimestamp;

/** One call outcome as a client reports it (POST /api/v1/metrics). */
export const metricInputSchema = z
  .strictObject({
    model_id: id,
    success: z.boolean(),
    latency_ms: z.number().finite().min(0).max(MAX_LATENCY_MS),
    prompt_tokens: tokens.optional(),
    completion_tokens: tokens.optional(),
    /** Total tokens when the split is unknown; counted as completion tokens for cost. */
    tokens: tokens.optional(),
    /** USD; computed from the model's prices when absent. */
    cost: z.number().finite().min(0).max(MAX_COST_USD).optional(),
    user_id: id.optional(),
    request_id: id.optional(),
    ab_test_id: id.optional(),
    variant_id: id.optional(),
    /** Makes a retry count once: the same event_id (from the same client) is stored once. */
    event_id: id.optional(),
    /** When the call happened (ISO 8601), within the ingestion window; the time of acceptance when absent. */
    timestamp: timestamp.optional(),
  })
  .refine((m) => !(m.tokens !== undefined && (m.prompt_tokens !== undefined || m.completion_tokens !== undefined)), {
    message: 'give either tokens or prompt_tokens/completion_tokens, not both',
    path: ['tokens'],
  });
export type MetricInput = z.infer<typeof metricInputSchema>;

export const MAX_METRICS_PER_REQUEST = 1000;

/** `{"metrics": [...]}` with 1 to 1,000 metrics (a single metric is accepted on its own too). */
export const metricsBatchSchema = z.strictObject({
  metrics: z.array(metricInputSchema).min(1).max(MAX_METRICS_PER_REQUEST),
});

/** How far from now a metric's timestamp may be (config `ingestion`). */
export interface EventTimeWindow {
  maxAgeMs: number;
  maxSkewMs: number;
}

/** The config's defaults: 7 days back, 5 minutes ahead. */
export const DEFAULT_EVENT_TIME_WINDOW: EventTimeWindow = { maxAgeMs: 7 * 86_400_000, maxSkewMs: 300_000 };
