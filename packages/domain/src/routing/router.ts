import { callCost } from '../cost.js';
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

/** What a decision needs of each model that does not depend on the request, computed once per snapshot. */
interface Prepared {
  model: Model;
  runtime: ModelRuntime;
  latency: number;
  successRate: number;
}

// Models and runtime maps are immutable once published: the per-model work is done once per
// (models, runtime, options), not per request. Budgets change per request (a user's budget, a
// downgrade's remaining amount), so they are looked up in the loop instead.
const preparedCache = new WeakMap<readonly Model[], WeakMap<ReadonlyMap<string, ModelRuntime>, WeakMap<RoutingOptions, Prepared[]>>>();

function prepare(snapshot: RoutingSnapshot, opts: RoutingOptions): Prepared[] {
  let byRuntime = preparedCache.get(snapshot.models);
  if (!byRuntime) {
    byRuntime = new WeakMap();
    preparedCache.set(snapshot.models, byRuntime);
  }
  let byOptions = byRuntime.get(snapshot.runtime);
  if (!byOptions) {
    byOptions = new WeakMap();
    byRuntime.set(snapshot.runtime, byOptions);
  }
  let prepared = byOptions.get(opts);
  if (!prepared) {
    prepared = snapshot.models.map((model) => {
      const runtime = runtimeOf(snapshot, model.id);
      return { model, runtime, latency: expectedLatencyMs(model, runtime, opts), successRate: expectedSuccessRate(runtime) };
    });
    byOptions.set(opts, prepared);
  }
  return prepared;
}

/** Inserts `c` into `top` (sorted by `cmp`, at most `k` long), dropping what falls off the end. */
function insertTop(top: Candidate[], c: Candidate, k: number, cmp: (a: Candidate, b: Candidate) => number): void {
  if (top.length === k && cmp(c, top[k - 1]!) >= 0) return;
  let i = top.length < k ? top.length : k - 1;
  if (top.length < k) top.push(c);
  while (i > 0 && cmp(c, top[i - 1]!) < 0) {
    top[i] = top[i - 1]!;
    i--;
  }
  top[i] = c;
}

export interface RouteOptions {
  /**
   * Rank every eligible model (for `?explain=true`). Otherwise only the chosen model and its
   * fallbacks are ranked, which is what a decision needs and much cheaper.
   */
  rankAll?: boolean;
}

/** Chooses a model for `query` from `snapshot`. Pure: no I/O, no clock, no randomness. */
export function route(
  snapshot: RoutingSnapshot,
  query: RouteQuery,
  opts: RoutingOptions,
  routeOptions: RouteOptions = { rankAll: true },
): RouteDecision {
  const candidates: Candidate[] = [];
  const excluded: Exclusion[] = [];
  const prompt = query.prompt_tokens;
  const completion = query.max_tokens;
  const budgets = snapshot.budget_blocked.size > 0 ? snapshot.budget_blocked : null;
  const limited = snapshot.rate_limited !== undefined && snapshot.rate_limited.size > 0 ? snapshot.rate_limited : null;
  for (const p of prepare(snapshot, opts)) {
    const model = p.model;
    const cost = callCost(model, prompt, completion);
    const budgetId = budgets?.get(model.id);
    const reason = exclusionReason(model, query, p.runtime, budgetId !== undefined, cost, p.latency, limited !== null && limited.has(model.id));
    if (reason) {
      excluded.push(reason === 'budget_exceeded' ? { model_id: model.id, reason, detail: budgetId! } : { model_id: model.id, reason });
      continue;
    }
    candidates.push({ model, score: 0, estimated_cost: cost, estimated_latency_ms: p.latency, success_rate: p.successRate });
  }
  if (candidates.length === 0) return { ok: false, excluded };

  score(candidates, query.strategy, opts);
  const cmp = compare(query.strategy);
  let ranked: Candidate[];
  if (routeOptions.rankAll) {
    ranked = candidates.slice().sort(cmp);
  } else {
    ranked = [];
    const k = 1 + opts.max_fallbacks;
    for (const c of candidates) insertTop(ranked, c, k, cmp);
  }
  const chosen = ranked[0]!;
  const fallbacks: string[] = [];
  for (let i = 1; i < ranked.length && fallbacks.length < opts.max_fallbacks; i++) {
    fallbacks.push(ranked[i]!.model.id);
  }
  return {
    ok: true,
    chosen,
    ranked,
    candidates,
    fallbacks,
    excluded,
    reason: describe(query.strategy, chosen, candidates.length),
  };
}
