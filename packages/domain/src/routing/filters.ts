import type { Model, ModelRuntime } from '../model.js';
import { UNKNOWN_RUNTIME } from '../model.js';
import type { ExclusionReason, RouteQuery, RoutingSnapshot } from './types.js';

export interface FilterContext {
  query: RouteQuery;
  snapshot: RoutingSnapshot;
  runtime: ModelRuntime;
  estimated_cost: number;
  estimated_latency_ms: number;
}

/**
 * Returns the first reason that removes `model` from the decision, or null when it is eligible.
 * The order is the order an operator reads in `?explain=true`: static properties first, then live
 * state, then the caller's own limits.
 */
export function exclusionReason(model: Model, ctx: FilterContext): ExclusionReason | null {
  const { query } = ctx;
  if (!model.enabled) return 'disabled';
  if (query.providers && query.providers.length > 0 && !query.providers.includes(model.provider)) {
    return 'provider_not_allowed';
  }
  if (query.required_capabilities) {
    for (const cap of query.required_capabilities) {
      if (!model.capabilities.includes(cap)) return 'missing_capabilities';
    }
  }
  if (query.prompt_tokens + query.max_tokens > model.context_window) return 'context_window_exceeded';
  if (query.max_tokens > model.max_output_tokens) return 'max_output_tokens_exceeded';
  // A half-open circuit lets its trial requests through; only an open one excludes.
  if (ctx.runtime.circuit === 'open') return 'circuit_open';
  if (ctx.snapshot.budget_blocked.has(model.id)) return 'budget_exceeded';
  if (query.max_cost_usd !== undefined && ctx.estimated_cost > query.max_cost_usd) return 'max_cost_exceeded';
  if (query.max_latency_ms !== undefined && ctx.estimated_latency_ms > query.max_latency_ms) {
    return 'max_latency_exceeded';
  }
  return null;
}

export function runtimeOf(snapshot: RoutingSnapshot, modelId: string): ModelRuntime {
  return snapshot.runtime.get(modelId) ?? UNKNOWN_RUNTIME;
}
