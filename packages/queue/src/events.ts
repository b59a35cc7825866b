import { keyIdSchema, DEFAULT_KEY_ID, storableId } from '@model-router/domain';
import { z } from 'zod';

/**
 * The events that travel through the queues, one zod schema each. A job carries a batch of events
 * of one name (see catalog.ts), so a thousand metrics cost one Redis write, not a thousand.
 */

// ---------------------------------------------------------------------------------------------
// What Postgres and the budget arithmetic can store. The API's edge schemas build on these same
// rules (and add a window around now), so an event the edge accepts is one a consumer can write:
// a value Postgres refuses would otherwise fail the whole batch it travels in.

/** Most tokens one reported call may have (per field). */
export const MAX_TOKENS = 100_000_000;
/** Longest latency one event may report: an hour. */
export const MAX_LATENCY_MS = 3_600_000;
/**
 * Largest cost of one event in nano-dollars ($1,000). A batch carries at most 1,000 events, so
 * one batch's sum stays below 10^15 < 2^53 (exact in a JS number), and a bigint sum (budget spend,
 * rollups) needs more than 9 million such events in one row to overflow.
 */
export const MAX_COST_NANOS = 1_000_000_000_000;
/** Event times Postgres and the period arithmetic handle: from 2000 to 9000 (UTC). */
export const EARLIEST_EVENT_MS = Date.UTC(2000, 0, 1);
export const LATEST_EVENT_MS = Date.UTC(9000, 0, 1);
/** Largest UTC offset of a timestamp; Postgres refuses some larger ones. */
const MAX_OFFSET_MINUTES = 14 * 60;

const OFFSET = /(?:Z|([+-])(\d{2}):?(\d{2})?)$/i;

/** Why an ISO 8601 timestamp (already well-formed) cannot be stored, or null when it can. */
export function unstorableTimeReason(iso: string): string | null {
  // Fast path for the UTC form every producer here writes (toISOString): the year decides.
  if (iso.charCodeAt(iso.length - 1) === 90 /* Z */ && iso.charCodeAt(4) === 45 /* - */) {
    const year = iso.slice(0, 4);
    return year >= '2000' && year < '9000' ? null : 'must be between the years 2000 and 9000';
  }
  const offset = OFFSET.exec(iso);
  if (offset?.[1] !== undefined && Number(offset[2]) * 60 + Number(offset[3] ?? 0) > MAX_OFFSET_MINUTES) {
    return 'the UTC offset must be at most ±14:00';
  }
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms) || ms < EARLIEST_EVENT_MS || ms >= LATEST_EVENT_MS) return 'must be between the years 2000 and 9000';
  return null;
}

/** An ISO 8601 time with offset that Postgres and the period arithmetic can store. */
export const storableTimestamp = z.iso.datetime({ offset: true }).superRefine((value, ctx) => {
  const reason = unstorableTimeReason(value);
  if (reason) ctx.addIssue({ code: 'custom', message: reason });
});

const id = storableId;
const isoTime = storableTimestamp;
const nonNegativeInt = z.number().int().nonnegative();
const tokenCount = nonNegativeInt.max(MAX_TOKENS);
const costNanos = nonNegativeInt.max(MAX_COST_NANOS);
const keyId = keyIdSchema.default(DEFAULT_KEY_ID);

/** One answered POST /api/v1/route. `event_id` is the route's request id. */
export const routeDecidedEvent = z.strictObject({
  event_id: id,
  key_id: keyId,
  occurred_at: isoTime,
  model_id: id,
  provider: id,
  strategy: z.enum(['cheapest', 'fastest', 'most_available', 'balanced']),
  user_id: id.nullable(),
  ab_test_id: id.nullable(),
  variant_id: id.nullable(),
  /** Bandit (thompson_sampling) tests: the probability the user's variant had when they were put in it. */
  assignment_probability: z.number().gt(0).lte(1).nullable().optional(),
  prompt_tokens: tokenCount,
  max_tokens: tokenCount,
  /** Estimated cost in nano-dollars (USD × 1e9), an exact integer. */
  estimated_cost_nanos: nonNegativeInt,
  estimated_latency_ms: z.number().nonnegative().finite(),
});
export type RouteDecidedEvent = z.infer<typeof routeDecidedEvent>;

/** One call outcome reported by a client (POST /api/v1/metrics or an A/B test's metrics). */
export const metricRecordedEvent = z.strictObject({
  /** The client's event_id, or one the API made; the same id is counted once. */
  event_id: id,
  key_id: keyId,
  occurred_at: isoTime,
  /** When the API accepted it: the start of the ingestion lag. */
  accepted_at: isoTime,
  model_id: id,
  provider: id,
  success: z.boolean(),
  latency_ms: z.number().nonnegative().max(MAX_LATENCY_MS),
  prompt_tokens: tokenCount,
  completion_tokens: tokenCount,
  /** Cost in nano-dollars (USD × 1e9): exact integer sums. */
  cost_nanos: costNanos,
  user_id: id.nullable(),
  request_id: id.nullable(),
  ab_test_id: id.nullable(),
  variant_id: id.nullable(),
  // Set by the gateway (which made the call itself), absent on client reports.
  /** Who saw the call: the gateway, or a client's report (absent: a client's report). */
  source: z.enum(['client', 'gateway']).optional(),
  /** Time to the first token (streamed) or the first byte of the answer, in ms. */
  ttft_ms: z.number().nonnegative().max(MAX_LATENCY_MS).nullable().optional(),
  /** The provider sent no usage: tokens were counted from the streamed text with the tokenizer. */
  tokens_estimated: z.boolean().optional(),
});
export type MetricRecordedEvent = z.infer<typeof metricRecordedEvent>;

/**
 * A model, A/B test, budget or API key changed; caches concerned must go and replicas must
 * refresh. The one schema of the fact: written to the outbox with the change, and the notice every
 * replica hears.
 */
export const configChangedEvent = z.strictObject({
  event_id: id,
  occurred_at: isoTime,
  entity: z.enum(['model', 'abtest', 'budget', 'key']),
  entity_id: id,
  action: z.enum(['created', 'updated', 'deleted', 'started', 'paused', 'completed', 'rotated']),
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
  key_id: keyId,
  /** When the call happened: it decides the budget period the cost counts in. */
  occurred_at: isoTime,
  model_id: id,
  provider: id,
  user_id: id.nullable(),
  /** Cost in nano-dollars (USD × 1e9). */
  cost_nanos: costNanos,
  /**
   * The gateway held a budget reservation under this event's id (packages/budgets/src/reservations.ts):
   * the budget enforcer releases it once the cost is counted. Absent: nothing to release.
   */
  reserved: z.literal(true).optional(),
});
export type CostRecordedEvent = z.infer<typeof costRecordedEvent>;
