import { nanosToUsd, usdToNanos } from './budget/money.js';
import type { Model } from './model.js';

export interface CostEstimate {
  input_cost: number;
  output_cost: number;
  estimated_cost: number;
}

/** Rounds USD to 1e-9 (a thousandth of a micro-dollar) so float noise never shows in answers. */
export function roundUsd(usd: number): number {
  return nanosToUsd(usdToNanos(usd));
}

/** The pricing formula: tokens at the model's list prices (per 1,000 tokens), in USD, unrounded. */
function tokensPriceUsd(model: Pick<Model, 'input_price_per_1k' | 'output_price_per_1k'>, promptTokens: number, completionTokens: number): number {
  return (promptTokens * model.input_price_per_1k + completionTokens * model.output_price_per_1k) / 1000;
}

/** What a call with these token counts costs at the model's list prices, in USD (rounded to 1e-9). */
export function callCost(model: Pick<Model, 'input_price_per_1k' | 'output_price_per_1k'>, promptTokens: number, completionTokens: number): number {
  return roundUsd(tokensPriceUsd(model, promptTokens, completionTokens));
}

/**
 * The most a request can cost on a model: every prompt token at the input price and the full
 * `max_tokens` at the output price (providers bill completion tokens actually produced, which is at
 * most `max_tokens`).
 */
export function estimateCost(model: Model, promptTokens: number, maxTokens: number): CostEstimate {
  const input = tokensPriceUsd(model, promptTokens, 0);
  const output = tokensPriceUsd(model, 0, maxTokens);
  return {
    input_cost: roundUsd(input),
    output_cost: roundUsd(output),
    estimated_cost: roundUsd(input + output),
  };
}
