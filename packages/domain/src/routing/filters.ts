import { keyAllowsModel } from '../keys.js';
import type { Model, ModelRuntime } from '../model.js';
import { UNKNOWN_RUNTIME } from '../model.js';
import type { ExclusionReason, RouteQuery, RoutingSnapshot } from './types.js';

/**
 * Returns the first reason that removes `model` from the decision, or null when it is eligible.
 * The order is the order an operator reads in `?explain=true`: static properties first, then live
 * state, then the caller's own limits. Positional arguments: this runs for every model of every
 * routing decision, so it allocates nothing.
 */
export function exclusionReason(
  model: Model,
  query: RouteQuery,
  runtime: ModelRuntime,
  budgetBlocked: boolean,
  estimatedCost: number,
  estimatedLatencyMs: number,
  rateLimited = false,
): ExclusionReason | null {
  if (!model.enabled) return 'disabled';
  const key = query.key;
  if (key !== undefined && !keyAllowsModel(key, model)) return 'key_not_allowed';
  const providers = query.providers;
  if (providers && providers.length > 0 && !providers.includes(model.provider)) return 'provider_not_allowed';
  const required = query.required_capabilities;
  if (required) {
    for (let i = 0; i < required.length; i++) {
      if (!model.capabilities.includes(required[i]!)) return 'missing_capabilities';
    }
  }
  if (query.prompt_tokens + query.max_tokens > model.context_window) return 'context_window_exceeded';
  if (query.max_tokens > model.max_output_tokens) return 'max_output_tokens_exceeded';
  // A half-open circuit lets its trial requests through; only an open one excludes.
  if (runtime.circuit === 'open') return 'circuit_open';
  if (rateLimited) return 'rate_limited';
  if (budgetBlocked) return 'budget_exceeded';
  if (query.max_cost_usd !== undefined && estimatedCost > query.max_cost_usd) return 'max_cost_exceeded';
  if (query.max_latency_ms !== undefined && estimatedLatencyMs > query.max_latency_ms) return 'max_latency_exceeded';
  return null;
}

export function runtimeOf(snapshot: RoutingSnapshot, modelId: string): ModelRuntime {
  return snapshot.runtime.get(modelId) ?? UNKNOWN_RUNTIME;
}
