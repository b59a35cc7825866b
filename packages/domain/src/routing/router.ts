import { estimateCost } from '../cost.js';
import type { Model, ModelRuntime } from '../model.js';
import { exclusionReason, runtimeOf } from './filters.js';
import type {
  Candidate,
  Exclusion,
  RouteDecision,
  RouteQuery,
  RoutingOptions,
  RoutingSnapshot,
  RoutingStrategy,
} from './types.js';

/** Latency the router expects: the observed p50 once there are enough samples, else nominal. */
export function expectedLatencyMs(model: Model, runtime: ModelRuntime, opts: RoutingOptions): number {
  const stats = runtime.stats;
  if (stats && stats.sample_count >= opts.min_samples && stats.p50_latency_ms !== null) {
    return stats.p50_latency_ms;
  }
  return model.latency_ms;
}

/**
 * Expected success rate, Laplace-smoothed: (successes + 1) / (samples + 2). A model nobody has
 * used yet scores 0.5 and one with 1,000 successes out of 1,000 scores 0.999, so evidence wins
 * over ignorance and no rate is ever exactly 0 or 1.
 */
export function expectedSuccessRate(runtime: ModelRuntime): number {
  const stats = runtime.stats;
  if (!stats) return 0.5;
  return (stats.success_count + 1) / (stats.sample_count + 2);
}

// Keeps a zero-cost or zero-latency model from dividing by zero in the relative scores.
const EPSILON = 1e-12;

/**
 * Scores every eligible candidate in place, in [0, 1], higher is better:
 * - cheapest:       min_cost / cost
 * - fastest:        min_latency / latency
 * - most_available: success_rate / max_success_rate
 * - balanced:       w_cost·cheapest + w_latency·fastest + w_availability·most_available
 *                   (weights from config, default 0.4 / 0.3 / 0.3, normalised to sum to 1)
 */
function score(candidates: Candidate[], strategy: RoutingStrategy, opts: RoutingOptions): void {
  let minCost = Infinity;
  let minLatency = Infinity;
  let maxSuccess = 0;
  for (const c of candidates) {
    if (c.estimated_cost < minCost) minCost = c.estimated_cost;
    if (c.estimated_latency_ms < minLatency) minLatency = c.estimated_latency_ms;
    if (c.success_rate > maxSuccess) maxSuccess = c.success_rate;
  }
  const w = opts.balanced_weights;
  const wSum = w.cost + w.latency + w.availability;
  for (const c of candidates) {
    const costScore = (minCost + EPSILON) / (c.estimated_cost + EPSILON);
    const latencyScore = (minLatency + EPSILON) / (c.estimated_latency_ms + EPSILON);
    const availabilityScore = c.success_rate / maxSuccess;
    switch (strategy) {
      case 'cheapest':
        c.score = costScore;
        break;
      case 'fastest':
        c.score = latencyScore;
        break;
      case 'most_available':
        c.score = availabilityScore;
        break;
      case 'balanced':
        c.score = (w.cost * costScore + w.latency * latencyScore + w.availability * availabilityScore) / wSum;
        break;
    }
  }
}

/**
 * Total order on candidates: the strategy's own measure first (exact, not the rounded score), then
 * score, then cost, then latency, then id, so the same input and snapshot always give the same answer.
 */
function compare(strategy: RoutingStrategy): (a: Candidate, b: Candidate) => number {
  return (a, b) => {
    let d = 0;
    if (strategy === 'cheapest') d = a.estimated_cost - b.estimated_cost;
    else if (strategy === 'fastest') d = a.estimated_latency_ms - b.estimated_latency_ms;
    else if (strategy === 'most_available') d = b.success_rate - a.success_rate;
    if (d !== 0) return d;
    d = b.score - a.score;
    if (d !== 0) return d;
    d = a.estimated_cost - b.estimated_cost;
    if (d !== 0) return d;
    d = a.estimated_latency_ms - b.estimated_latency_ms;
    if (d !== 0) return d;
    return a.model.id < b.model.id ? -1 : a.model.id > b.model.id ? 1 : 0;
  };
}

function describe(strategy: RoutingStrategy, chosen: Candidate, eligible: number): string {
  const of = `among ${eligible} eligible model${eligible === 1 ? '' : 's'}`;
  switch (strategy) {
    case 'cheapest':
      return `Strategy cheapest: lowest estimated cost ($${chosen.estimated_cost}) ${of}`;
    case 'fastest':
      return `Strategy fastest: lowest expected latency (${chosen.estimated_latency_ms}ms) ${of}`;
    case 'most_available':
      return `Strategy most_available: highest expected success rate (${chosen.success_rate.toFixed(4)}) ${of}`;
    case 'balanced':
      return `Strategy balanced: best weighted score of cost, latency and availability (${chosen.score.toFixed(4)}) ${of}`;
  }
}

/** Chooses a model for `query` from `snapshot`. Pure: no I/O, no clock, no randomness. */
export function route(snapshot: RoutingSnapshot, query: RouteQuery, opts: RoutingOptions): RouteDecision {
  const candidates: Candidate[] = [];
  const excluded: Exclusion[] = [];
  for (const model of snapshot.models) {
    const runtime = runtimeOf(snapshot, model.id);
    const cost = estimateCost(model, query.prompt_tokens, query.max_tokens).estimated_cost;
    const latency = expectedLatencyMs(model, runtime, opts);
    const reason = exclusionReason(model, {
      query,
      snapshot,
      runtime,
      estimated_cost: cost,
      estimated_latency_ms: latency,
    });
    if (reason) {
      excluded.push({ model_id: model.id, reason });
      continue;
    }
    candidates.push({
      model,
      score: 0,
      estimated_cost: cost,
      estimated_latency_ms: latency,
      success_rate: expectedSuccessRate(runtime),
    });
  }
  if (candidates.length === 0) return { ok: false, excluded };

  score(candidates, query.strategy, opts);
  candidates.sort(compare(query.strategy));
  const chosen = candidates[0]!;
  const fallbacks: string[] = [];
  for (let i = 1; i < candidates.length && fallbacks.length < opts.max_fallbacks; i++) {
    fallbacks.push(candidates[i]!.model.id);
  }
  return {
    ok: true,
    chosen,
    ranked: candidates,
    fallbacks,
    excluded,
    reason: describe(query.strategy, chosen, candidates.length),
  };
}
