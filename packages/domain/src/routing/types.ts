import type { KeyGrant } from '../keys.js';
import type { Model, ModelRuntime } from '../model.js';

export const ROUTING_STRATEGIES = ['cheapest', 'fastest', 'most_available', 'balanced'] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

/** Why a model was left out of a decision; the first filter that fails wins. */
export const EXCLUSION_REASONS = [
  'disabled',
  'key_not_allowed',
  'provider_not_allowed',
  'missing_capabilities',
  'context_window_exceeded',
  'max_output_tokens_exceeded',
  'circuit_open',
  'rate_limited',
  'budget_exceeded',
  'max_cost_exceeded',
  'max_latency_exceeded',
] as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

export interface BalancedWeights {
  cost: number;
  latency: number;
  availability: number;
}

export interface RoutingOptions {
  /** Observed stats count only from this many samples on; below it nominal values are used. */
  min_samples: number;
  max_fallbacks: number;
  balanced_weights: BalancedWeights;
}

export const DEFAULT_ROUTING_OPTIONS: RoutingOptions = Object.freeze({
  min_samples: 20,
  max_fallbacks: 3,
  balanced_weights: Object.freeze({ cost: 0.4, latency: 0.3, availability: 0.3 }),
});

/** An immutable view of everything a decision depends on; built off the hot path. */
export interface RoutingSnapshot {
  models: readonly Model[];
  runtime: ReadonlyMap<string, ModelRuntime>;
  /** Models that a budget currently removes, with the budget id that removed each. */
  budget_blocked: ReadonlyMap<string, string>;
  /**
   * Models a provider's rate limit keeps out until its window resets (model → epoch ms of the reset),
   * as every replica shares them. Absent: none.
   */
  rate_limited?: ReadonlyMap<string, number>;
  version: number;
}

export interface RouteQuery {
  prompt_tokens: number;
  max_tokens: number;
  strategy: RoutingStrategy;
  required_capabilities?: readonly string[] | undefined;
  providers?: readonly string[] | undefined;
  max_cost_usd?: number | undefined;
  max_latency_ms?: number | undefined;
  /** The calling key's allowed models and providers (absent or empty lists: every model). */
  key?: Pick<KeyGrant, 'allowed_models' | 'allowed_providers'> | undefined;
}

export interface Candidate {
  model: Model;
  score: number;
  estimated_cost: number;
  estimated_latency_ms: number;
  success_rate: number;
}

export interface Exclusion {
  model_id: string;
  reason: ExclusionReason;
  detail?: string;
}

export type RouteDecision =
  | {
      ok: true;
      chosen: Candidate;
      /**
       * Best first, the chosen one at index 0: every eligible model when the whole ranking was asked
       * for (the default), else just the chosen model and its fallbacks.
       */
      ranked: Candidate[];
      /** Every eligible model, in snapshot order. */
      candidates: Candidate[];
      fallbacks: string[];
      excluded: Exclusion[];
      reason: string;
    }
  | { ok: false; excluded: Exclusion[] };
