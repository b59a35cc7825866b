import { randomUUID } from 'node:crypto';
import { callCost, type Model, usdToNanos } from '@model-router/domain';
import { ApiError, DEFAULT_CLIENT_KEY_ID } from '@model-router/http';
import { type CostRecordedEvent, MAX_COST_NANOS, type MetricRecordedEvent } from '@model-router/queue';
import { DEFAULT_EVENT_TIME_WINDOW, type EventTimeWindow, MAX_COST_USD, type MetricInput } from './metric.schema.js';

/** Cost in USD: the reported one, else tokens at the model's list prices. */
export function costOf(metric: MetricInput, model: Model): number {
  if (metric.cost !== undefined) return metric.cost;
  const prompt = metric.prompt_tokens ?? 0;
  const completion = metric.completion_tokens ?? metric.tokens ?? 0;
  return callCost(model, prompt, completion);
}

export interface ToEventsOptions {
  /** The client namespace of the metrics' event_ids: the id of the client key that sent them. */
  keyId?: string;
  window?: EventTimeWindow;
}

const DAY_MS = 86_400_000;
const describeSpan = (ms: number): string =>
  ms % DAY_MS === 0 ? `${ms / DAY_MS} day(s)` : ms % 60_000 === 0 ? `${ms / 60_000} minute(s)` : `${ms / 1000} s`;

/**
 * Turns validated metrics into catalogued events; a metric that cannot be stored rejects the whole
 * request (nothing is accepted), naming the index and field of each bad one: an unknown model; a
 * timestamp outside the window around now (config `ingestion`); a cost above the per-event bound
 * of the catalog ($1,000, so that sums in nano-dollars stay exact) once computed from tokens.
 *
 * What comes out always satisfies the catalog's `metric.recorded` schema (a property test checks
 * it for any valid input), so it is published without a second schema check. Timestamps are
 * normalised to UTC (`toISOString`), the form every consumer reads the same way.
 */
export function toEvents(
  metrics: MetricInput[],
  models: ReadonlyMap<string, Model>,
  now: Date,
  options: ToEventsOptions = {},
): MetricRecordedEvent[] {
  const unknown = metrics.flatMap((m, index) => (models.has(m.model_id) ? [] : [{ index, model_id: m.model_id }]));
  if (unknown.length) {
    throw new ApiError(
      'MODEL_NOT_FOUND',
      `unknown model "${unknown[0]!.model_id}"${unknown.length > 1 ? ` and ${unknown.length - 1} more` : ''}`,
      unknown.map((u) => ({ path: `metrics.${u.index}.model_id`, message: `model "${u.model_id}" does not exist` })),
    );
  }
  const window = options.window ?? DEFAULT_EVENT_TIME_WINDOW;
  const nowMs = now.getTime();
  const details: { path: string; message: string }[] = [];
  metrics.forEach((m, index) => {
    if (m.timestamp === undefined) return;
    const at = Date.parse(m.timestamp);
    if (at < nowMs - window.maxAgeMs) {
      details.push({ path: `metrics.${index}.timestamp`, message: `must be at most ${describeSpan(window.maxAgeMs)} in the past` });
    } else if (at > nowMs + window.maxSkewMs) {
      details.push({ path: `metrics.${index}.timestamp`, message: `must be at most ${describeSpan(window.maxSkewMs)} in the future` });
    }
  });
  const keyId = options.keyId ?? DEFAULT_CLIENT_KEY_ID;
  const acceptedAt = now.toISOString();
  const events = metrics.map((m) => {
    const model = models.get(m.model_id)!;
    return {
      event_id: m.event_id ?? randomUUID(),
      key_id: keyId,
      occurred_at: m.timestamp === undefined ? acceptedAt : new Date(Date.parse(m.timestamp)).toISOString(),
      accepted_at: acceptedAt,
      model_id: m.model_id,
      provider: model.provider,
      success: m.success,
      latency_ms: m.latency_ms,
      prompt_tokens: m.prompt_tokens ?? 0,
      completion_tokens: m.completion_tokens ?? m.tokens ?? 0,
      cost_nanos: usdToNanos(costOf(m, model)),
      user_id: m.user_id ?? null,
      request_id: m.request_id ?? null,
      ab_test_id: m.ab_test_id ?? null,
      variant_id: m.variant_id ?? null,
    };
  });
  events.forEach((e, index) => {
    if (!(e.cost_nanos <= MAX_COST_NANOS)) {
      details.push({
        path: `metrics.${index}.${metrics[index]!.cost === undefined ? 'prompt_tokens' : 'cost'}`,
        message: `the cost is above $${MAX_COST_USD} for one call (tokens × the model's prices)`,
      });
    }
  });
  if (details.length) throw new ApiError('VALIDATION_ERROR', `invalid metric: ${details[0]!.path}: ${details[0]!.message}`, details);
  return events;
}

/** The tokens a metrics request reports (prompt + completion of every metric): what its key's tpm counts. */
export function reportedTokens(events: readonly MetricRecordedEvent[]): number {
  let tokens = 0;
  for (const e of events) tokens += e.prompt_tokens + e.completion_tokens;
  return tokens;
}

/** The cost event of a metric event, for the budget enforcer; none for a call that cost nothing. */
export function costEventOf(e: MetricRecordedEvent, reserved = false): CostRecordedEvent | null {
  if (e.cost_nanos <= 0) return null;
  const cost: CostRecordedEvent = { event_id: e.event_id, key_id: e.key_id, occurred_at: e.occurred_at, model_id: e.model_id, provider: e.provider, user_id: e.user_id, cost_nanos: e.cost_nanos };
  if (reserved) cost.reserved = true;
  return cost;
}

/**
 * The cost of each event that cost something, for the budget enforcer (same event_id); `reserved`:
 * the gateway holds a budget reservation under each id, for the enforcer to release.
 */
export function costEventsOf(events: readonly MetricRecordedEvent[], reserved = false): CostRecordedEvent[] {
  const costs: CostRecordedEvent[] = [];
  for (const e of events) {
    const cost = costEventOf(e, reserved);
    if (cost) costs.push(cost);
  }
  return costs;
}
