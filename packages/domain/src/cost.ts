import type { Model } from './model.js';

export interface CostEstimate {
  input_cost: number;
  output_cost: number;
  estimated_cost: number;
}

/** Rounds USD to 1e-9 (a thousandth of a micro-dollar) so float noise never shows in answers. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}

/**
 * The most a request can cost on a model: every prompt token at the input price and the full
 * `max_tokens` at the output price (providers bill completion tokens actually produced, which is at
 * most `max_tokens`).
 */
export function estimateCost(model: Model, promptTokens: number, maxTokens: number): CostEstimate {
  const input = (promptTokens * model.input_price_per_1k) / 1000;
  const output = (maxTokens * model.output_price_per_1k) / 1000;
  return {
    input_cost: roundUsd(input),
    output_cost: roundUsd(output),
    estimated_cost: roundUsd(input + output),
  };
}
