import { z } from 'zod';

/**
 * The events that travel through the queues, one zod schema each. A job carries a batch of events
 * of one name (see catalog.ts), so a thousand metrics cost one Redis write, not a thousand.
 */

// NUL cannot be stored in Postgres text: refuse it at the edge instead of failing a whole batch.
const id = z.string().min(1).max(256).regex(/^[^\u0000]*$/, 'must not contain NUL characters');
const isoTime = z.iso.datetime({ offset: true });
const nonNegativeInt = z.number().int().nonnegative();

/** One answered POST /api/v1/route. `event_id` is the route's request id. */
export const routeDecidedEvent = z.strictObject({
  event_id: id,
  occurred_at: isoTime,
  model_id: id,
  provider: id,
  strategy: z.enum(['cheapest', 'fastest', 'most_available', 'balanced']),
  user_id: id.nullable(),
  ab_test_id: id.nullable(),
  variant_id: id.nullable(),
  /** Bandit (thompson_sampling) tests: the probability the user's variant had when they were put in it. */
  assignment_probability: z.number().gt(0).lte(1).nullable().optional(),
  prompt_tokens: nonNegativeInt,
  max_tokens: nonNegativeInt,
  /** Estimated cost in nano-dollars (USD × 1e9), an exact integer. */
  estimated_cost_nanos: nonNegativeInt,
  estimated_latency_ms: z.number().nonnegative(),
});
export type RouteDecidedEvent = z.infer<typeof routeDecidedEvent>;

/** One call outcome reported by a client (POST /api/v1/metrics or an A/B test's metrics). */
export const metricRecordedEvent = z.strictObject({
  /** The client's event_id, or one the API made; the same id is counted once. */
  event_id: id,
  occurred_at: isoTime,
  /** When the API accepted it: the start of the ingestion lag. */
  accepted_at: isoTime,
  model_id: id,
  provider: id,
  success: z.boolean(),
  latency_ms: z.number().nonnegative().finite(),
  prompt_tokens: nonNegativeInt,
  completion_tokens: nonNegativeInt,
  /** Cost in nano-dollars (USD × 1e9): exact integer sums. */
  cost_nanos: nonNegativeInt,
  user_id: id.nullable(),
  request_id: id.nullable(),
  ab_test_id: id.nullable(),
  variant_id: id.nullable(),
});
export type MetricRecordedEvent = z.infer<typeof metricRecordedEvent>;

/** A model, A/B test or budget changed; caches concerned must go and replicas must refresh. */
export const configChangedEvent = z.strictObject({
  event_id: id,
  occurred_at: isoTime,
  entity: z.enum(['model', 'abtest', 'budget']),
  entity_id: id,
  action: z.enum(['created', 'updated', 'deleted', 'started', 'paused', 'completed']),
});
export type ConfigChangedEvent = z.infer<typeof configChangedEvent>;

/** The health checker's tick: probe every enabled model's endpoint once. */
export const healthProbeEvent = z.strictObject({
  event_id: id,
  occurred_at: isoTime,
});
export type HealthProbeEvent = z.infer<typeof healthProbeEvent>;

/**
 * Outcomes of calls to one model over a short window, summarised by whoever saw them (the API from
 * reported metrics, or the health checker's probes). Feeds passive health and the circuit breaker
 * without a Redis write per call.
 */
export const modelOutcomesEvent = z.strictObject({
  event_id: id,
  occurred_at: isoTime,
  source: z.enum(['metrics', 'probe']),
  model_id: id,
  successes: nonNegativeInt,
  failures: nonNegativeInt,
  /** Failures after the window's last success (all of them when there was no success). */
  trailing_failures: nonNegativeInt,
  latency_ms_sum: z.number().nonnegative().finite(),
});
export type ModelOutcomesEvent = z.infer<typeof modelOutcomesEvent>;

/**
 * The cost of one reported call outcome, for the budget enforcer (published next to its
 * metric.recorded, with the same event_id, only when the cost is above zero).
 */
export const costRecordedEvent = z.strictObject({
  event_id: id,
  /** When the call happened: it decides the budget period the cost counts in. */
  occurred_at: isoTime,
  model_id: id,
  provider: id,
  user_id: id.nullable(),
  /** Cost in nano-dollars (USD × 1e9). */
  cost_nanos: nonNegativeInt,
});
export type CostRecordedEvent = z.infer<typeof costRecordedEvent>;

/** USD → nano-dollars, rounded to the nearest nano-dollar. */
export function usdToNanos(usd: number): number {
  return Math.round(usd * 1e9);
}

export function nanosToUsd(nanos: number): number {
  return nanos / 1e9;
}
