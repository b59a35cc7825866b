import { expect } from '@jest/globals';
import type { MetricTotals } from '@model-router/database';
import type { RouteTotals } from '@model-router/tests/support';
import type { MetricRecordedEvent, RouteDecidedEvent } from '@model-router/queue';

const MODELS = [
  { model_id: 'gpt-4o', provider: 'openai' },
  { model_id: 'gpt-4o-mini', provider: 'openai' },
  { model_id: 'claude-haiku-4-5', provider: 'anthropic' },
  { model_id: 'gemini-2.5-flash', provider: 'google' },
  { model_id: 'deepseek-chat', provider: 'deepseek' },
] as const;
const STRATEGIES = ['cheapest', 'fastest', 'most_available', 'balanced'] as const;

/** Users 0–39; a user's A/B variant is fixed (as consistent hashing would make it). */
const userOf = (i: number): string | null => (i % 10 === 0 ? null : `user-${i % 40}`);
const variantOf = (user: string): string => (Number(user.slice(5)) % 2 === 0 ? 'control' : 'treatment');

/** A deterministic, varied metric event; `run` keeps event ids of different calls apart. */
export function metricEvent(run: string, i: number, at = new Date()): MetricRecordedEvent {
  const model = MODELS[i % MODELS.length]!;
  const user = userOf(i);
  const inTest = i % 3 === 0 && user !== null;
  return {
    event_id: `${run}-m-${i}`,
    key_id: 'default',
    // Spread over the last ~10 minutes so several minute buckets fill.
    occurred_at: new Date(at.getTime() - (i % 600) * 1000).toISOString(),
    accepted_at: at.toISOString(),
    ...model,
    success: i % 7 !== 0,
    latency_ms: 20 + ((i * 37) % 3000) + 0.25,
    prompt_tokens: 10 + (i % 100),
    completion_tokens: 5 + (i % 50),
    // Some costs above $2: their squares need more than 2^63.
    cost_nanos: i % 100 === 0 ? 3_500_000_000 + i : 1000 + i * 12_345,
    user_id: user,
    request_id: i % 2 === 0 ? `${run}-req-${i}` : null,
    ab_test_id: inTest ? 'ab-checkout' : null,
    variant_id: inTest ? variantOf(user) : null,
  };
}

export function routeEvent(run: string, i: number, at = new Date()): RouteDecidedEvent {
  const model = MODELS[(i * 3) % MODELS.length]!;
  const user = userOf(i);
  const inTest = i % 3 !== 1 && user !== null;
  return {
    event_id: `${run}-r-${i}`,
    key_id: 'default',
    occurred_at: new Date(at.getTime() - (i % 600) * 1000).toISOString(),
    ...model,
    strategy: STRATEGIES[i % STRATEGIES.length]!,
    user_id: user,
    ab_test_id: inTest ? 'ab-checkout' : null,
    variant_id: inTest ? variantOf(user) : null,
    prompt_tokens: 5 + (i % 500),
    max_tokens: 100 + (i % 1000),
    estimated_cost_nanos: 2000 + i * 777,
    estimated_latency_ms: 300 + (i % 900),
  };
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

/** What the rollups must hold for `events`, computed here (costs in BigInt, exact). */
export function expectedMetricTotals(events: readonly MetricRecordedEvent[]): MetricTotals {
  let costSum = 0n;
  let costSumSq = 0n;
  const totals = events.reduce(
    (t, e) => {
      costSum += BigInt(e.cost_nanos);
      costSumSq += BigInt(e.cost_nanos) * BigInt(e.cost_nanos);
      return {
        ...t,
        request_count: t.request_count + 1,
        success_count: t.success_count + (e.success ? 1 : 0),
        latency_sum: t.latency_sum + e.latency_ms,
        latency_sum_sq: t.latency_sum_sq + e.latency_ms * e.latency_ms,
        prompt_tokens_sum: t.prompt_tokens_sum + e.prompt_tokens,
        completion_tokens_sum: t.completion_tokens_sum + e.completion_tokens,
      };
    },
    { request_count: 0, success_count: 0, latency_sum: 0, latency_sum_sq: 0, cost_nanos_sum: 0, cost_nanos_sum_sq: 0, prompt_tokens_sum: 0, completion_tokens_sum: 0 },
  );
  return { ...totals, cost_nanos_sum: Number(costSum), cost_nanos_sum_sq: Number(costSumSq) };
}

export function expectedRouteTotals(events: readonly RouteDecidedEvent[]): RouteTotals {
  return {
    decision_count: events.length,
    estimated_cost_nanos_sum: events.reduce((s, e) => s + e.estimated_cost_nanos, 0),
    prompt_tokens_sum: events.reduce((s, e) => s + e.prompt_tokens, 0),
    max_tokens_sum: events.reduce((s, e) => s + e.max_tokens, 0),
  };
}

/**
 * Integer fields must match exactly; floating-point latency sums may differ in the last bits
 * because they are added in a different order.
 */
export function expectSameMetricTotals(actual: MetricTotals, expected: MetricTotals): void {
  const { latency_sum, latency_sum_sq, ...exact } = actual;
  const { latency_sum: eSum, latency_sum_sq: eSq, ...eExact } = expected;
  expect(exact).toEqual(eExact);
  expect(Math.abs(latency_sum - eSum)).toBeLessThanOrEqual(1e-9 * Math.abs(eSum));
  expect(Math.abs(latency_sum_sq - eSq)).toBeLessThanOrEqual(1e-9 * Math.abs(eSq));
}

