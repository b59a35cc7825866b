// Builders shared by the domain tests. Not a test file itself (jest only runs *.test.ts).
import type { Model, ModelRuntime, ModelStats, RouteQuery, RoutingOptions, RoutingSnapshot } from '../src/index.js';

/** USD per 1k tokens from a USD-per-million list price, the way price pages quote them. */
export const perMillion = (usdPerMillion: number): number => usdPerMillion / 1000;

export function model(id: string, overrides: Partial<Model> = {}): Model {
  return {
    id,
    name: `Model ${id}`,
    provider: 'openai',
    input_price_per_1k: perMillion(1),
    output_price_per_1k: perMillion(2),
    context_window: 128_000,
    max_output_tokens: 16_384,
    capabilities: ['chat', 'tools', 'json_mode', 'streaming'],
    enabled: true,
    latency_ms: 500,
    endpoint: null,
    ...overrides,
  };
}

export function stats(sample_count: number, success_count: number, p50_latency_ms: number | null): ModelStats {
  return { sample_count, success_count, p50_latency_ms };
}

export function runtime(overrides: Partial<ModelRuntime> = {}): ModelRuntime {
  return { health: 'healthy', circuit: 'closed', stats: null, ...overrides };
}

export function snapshot(
  models: Model[],
  runtimes: Record<string, ModelRuntime> = {},
  budgetBlocked: Record<string, string> = {},
  rateLimited: Record<string, number> = {},
): RoutingSnapshot {
  return {
    models,
    runtime: new Map(Object.entries(runtimes)),
    budget_blocked: new Map(Object.entries(budgetBlocked)),
    rate_limited: new Map(Object.entries(rateLimited)),
    version: 1,
  };
}

export function query(overrides: Partial<RouteQuery> = {}): RouteQuery {
  return { prompt_tokens: 1000, max_tokens: 500, strategy: 'cheapest', ...overrides };
}

export function options(overrides: Partial<RoutingOptions> = {}): RoutingOptions {
  return {
    min_samples: 20,
    max_fallbacks: 3,
    balanced_weights: { cost: 0.4, latency: 0.3, availability: 0.3 },
    ...overrides,
  };
}
