/**
 * The `thompson_sampling` strategy: top-two Thompson sampling (Russo 2020, "Simple Bayesian
 * algorithms for best-arm identification") over the variants, with a minimum share per arm, and
 * the inverse-propensity-weighted estimates that keep an adaptively allocated test analysable.
 *
 * Posteriors (per variant, from the rollups' request counts, successes and cost sums):
 * - success rate p ~ Beta(1 + successes, 1 + failures); higher is better.
 * - cost per success = c / p with p as above and the mean cost per request
 *   c ~ Normal(c̄, s/√n) (s from the cost sums; an arm with fewer than two requests borrows the
 *   pooled mean and spread of all arms, so it is explored rather than ignored); lower is better.
 *
 * Top-two: with probability β the arm whose draw is best (the leader) is played; otherwise a
 * challenger: the best arm of fresh posterior draws that is not the leader. The allocation q is
 * that procedure's probability of playing each arm, from `draws` joint posterior draws (see
 * `topTwoThompsonProbabilities` for how the challenger needs no further draws);
 * the stored assignment probability of arm k is then
 *   π_k = min_share + (1 − K·min_share)·q_k,
 * β defaults to 0.75, not Russo's 0.5: with the usual two variants, β = 0.5 gives every arm half of
 * the leader and half of the challenger role, i.e. a fixed 50/50 split that never earns anything;
 * 0.75 sends about three quarters of new users to the arm that looks best while the other still
 * learns.
 * So every arm keeps at least `min_share` of new users and every π_k > 0 (needed by the weights
 * 1/π below). All randomness comes from the caller's uniform source (a seeded PRNG in tests, one
 * seeded per posterior batch in the API), through stdlib's Beta and normal samplers.
 */
import { createRequire } from 'node:module';
import { normalTwoSidedP } from './distributions.js';
import type { RandomSource } from './assignment.js';
import type { MaybeNumber } from './statistics.js';

// stdlib's samplers cost ~26 MB of memory once imported and only bandit tests draw from them:
// loaded on first use, as distributions.ts does, so a process importing the domain package does
// not pay for them (they are CommonJS, so a synchronous require works).
const require = createRequire(import.meta.url);
let samplers: { beta: typeof import('@stdlib/random-base-beta'); normal: typeof import('@stdlib/random-base-normal') } | undefined;
function stdlibSamplers(): NonNullable<typeof samplers> {
  samplers ??= {
    beta: require('@stdlib/random-base-beta') as typeof import('@stdlib/random-base-beta'),
    normal: require('@stdlib/random-base-normal') as typeof import('@stdlib/random-base-normal'),
  };
  return samplers;
}

export type BanditMetric = 'success_rate' | 'cost_per_success';
export const BANDIT_METRICS: readonly BanditMetric[] = ['success_rate', 'cost_per_success'];

/** What the rollups hold for one arm (request level). */
export interface BanditArmStats {
  requests: number;
  successes: number;
  cost_sum: number;
  cost_sum_sq: number;
}

export interface BanditSettings {
  metric: BanditMetric;
  /** Floor of every arm's share of new users, 0 ≤ min_share ≤ 1/K. */
  min_share: number;
  /** Probability of playing the leader (β of top-two Thompson sampling), default 0.75. */
  top_two_beta?: number;
  /** Joint posterior draws of the Monte Carlo allocation, default 2000. */
  draws?: number;
}

export const DEFAULT_TOP_TWO_BETA = 0.75;

type Sampler = () => Float64Array;

/** A function drawing one joint posterior sample of every arm's score (higher is better). */
export function posteriorSampler(arms: readonly BanditArmStats[], metric: BanditMetric, random: RandomSource): Sampler {
  // stdlib's samplers take the uniform source as `prng` (their type asks for a full PRNG object,
  // with seed and state accessors they never use for a caller's function).
  const { beta: betaRandom, normal: normalRandom } = stdlibSamplers();
  const beta = betaRandom.factory({ prng: random as never });
  const normal = normalRandom.factory({ prng: random as never });
  const k = arms.length;
  const successA = arms.map((a) => 1 + a.successes);
  const failureA = arms.map((a) => 1 + Math.max(0, a.requests - a.successes));
  if (metric === 'success_rate') {
    return () => {
      const out = new Float64Array(k);
      for (let i = 0; i < k; i++) out[i] = beta(successA[i] as number, failureA[i] as number);
      return out;
    };
  }
  const totalN = arms.reduce((s, a) => s + a.requests, 0);
  const totalSum = arms.reduce((s, a) => s + a.cost_sum, 0);
  const totalSq = arms.reduce((s, a) => s + a.cost_sum_sq, 0);
  const pooledMean = totalN > 0 ? totalSum / totalN : 0;
  const pooledSd = totalN > 1 ? Math.sqrt(Math.max(0, (totalSq - totalN * pooledMean * pooledMean) / (totalN - 1))) : Math.max(pooledMean, 1e-9);
  const costMean = arms.map((a) => (a.requests >= 2 ? a.cost_sum / a.requests : pooledMean));
  const costSe = arms.map((a) => {
    if (a.requests < 2) return Math.max(pooledSd, 1e-12);
    const m = a.cost_sum / a.requests;
    const sd = Math.sqrt(Math.max(0, (a.cost_sum_sq - a.requests * m * m) / (a.requests - 1)));
    return Math.max(sd / Math.sqrt(a.requests), 1e-12);
  });
  return () => {
    const out = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const p = beta(successA[i] as number, failureA[i] as number);
      const c = Math.max(0, normal(costMean[i] as number, costSe[i] as number));
      out[i] = -(c / p);
    }
    return out;
  };
}

function argmax(x: Float64Array, exclude = -1): number {
  let best = -1;
  for (let i = 0; i < x.length; i++) {
    if (i === exclude) continue;
    if (best < 0 || (x[i] as number) > (x[best] as number)) best = i;
  }
  return best;
}

/**
 * The assignment probabilities π of top-two Thompson sampling with a minimum share (see the file
 * comment); they sum to 1. With one arm, [1].
 */
export function topTwoThompsonProbabilities(arms: readonly BanditArmStats[], settings: BanditSettings, random: RandomSource): number[] {
  const k = arms.length;
  if (k === 0) throw new RangeError('topTwoThompsonProbabilities: no arms');
  if (!(settings.min_share >= 0 && settings.min_share * k <= 1 + 1e-12)) {
    throw new RangeError(`topTwoThompsonProbabilities: min_share must be in [0, 1/${k}], got ${settings.min_share}`);
  }
  if (k === 1) return [1];
  const beta = settings.top_two_beta ?? DEFAULT_TOP_TWO_BETA;
  const draws = settings.draws ?? 2000;
  const sample = posteriorSampler(arms, settings.metric, random);
  // One pass of joint draws: how often each arm is best, and which arm is second when it is.
  const best = new Float64Array(k);
  const second = Array.from({ length: k }, () => new Float64Array(k));
  for (let d = 0; d < draws; d++) {
    const x = sample();
    const leader = argmax(x);
    best[leader] = (best[leader] as number) + 1;
    const runnerUp = argmax(x, leader);
    const row = second[leader] as Float64Array;
    row[runnerUp] = (row[runnerUp] as number) + 1;
  }
  // Redrawing until another arm is best makes the challenger of leader i distributed as
  // P(j best) / (1 − P(i best)) over j ≠ i — computed from the same draws instead of redrawing
  // (which costs ~1/(1 − P(i best)) draws each once the posterior concentrates). When no draw put
  // another arm first, the runner-up frequencies of the draws stand in.
  const q = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const pi = (best[i] as number) / draws;
    if (pi === 0) continue;
    q[i] = (q[i] as number) + beta * pi;
    const others = draws - (best[i] as number);
    for (let j = 0; j < k; j++) {
      if (j === i) continue;
      const share = others > 0 ? (best[j] as number) / others : ((second[i] as Float64Array)[j] as number) / (best[i] as number);
      q[j] = (q[j] as number) + (1 - beta) * pi * share;
    }
  }
  const free = 1 - k * settings.min_share;
  return Array.from(q, (x) => settings.min_share + free * x);
}

// ---------------------------------------------------------------------------------------------
// Inverse-propensity-weighted estimates
// ---------------------------------------------------------------------------------------------

/**
 * Sums over an arm's users of a ratio metric (n_i requests, sum y_i) weighted by w_i = 1/π_i, the
 * inverse of the probability with which the user was put in this arm. Mergeable by addition.
 */
export interface WeightedRatioSums {
  users: number;
  sum_w: number;
  sum_wn: number;
  sum_wy: number;
  sum_w2n2: number;
  sum_w2yn: number;
  sum_w2y2: number;
}

export function emptyWeightedRatioSums(): WeightedRatioSums {
  return { users: 0, sum_w: 0, sum_wn: 0, sum_wy: 0, sum_w2n2: 0, sum_w2yn: 0, sum_w2y2: 0 };
}

/** Adds user (n, y) assigned with probability π to `s` in place. */
export function addWeightedUser(s: WeightedRatioSums, n: number, y: number, probability: number): void {
  if (!(probability > 0 && probability <= 1)) throw new RangeError(`addWeightedUser: probability must be in (0, 1], got ${probability}`);
  const w = 1 / probability;
  s.users += 1;
  s.sum_w += w;
  s.sum_wn += w * n;
  s.sum_wy += w * y;
  s.sum_w2n2 += w * w * n * n;
  s.sum_w2yn += w * w * y * n;
  s.sum_w2y2 += w * w * y * y;
}

export interface IpwEstimate {
  estimate: MaybeNumber;
  se: MaybeNumber;
  users: number;
}

/**
 * The weighted (Hájek) ratio Σw·y / Σw·n and its linearized variance
 *   Var ≈ Σ w_i²(y_i − R·n_i)² / (Σ w_i·n_i)².
 * Each user stands for 1/π_i users of the population, so an arm that was starved while it looked
 * bad and a lucky early streak no longer bias the estimate as the plain arm mean does.
 */
export function ipwRatioEstimate(s: WeightedRatioSums): IpwEstimate {
  if (!(s.users > 0) || !(s.sum_wn > 0)) return { estimate: null, se: null, users: s.users };
  const r = s.sum_wy / s.sum_wn;
  if (s.users < 2) return { estimate: r, se: null, users: s.users };
  const residual = Math.max(0, s.sum_w2y2 - 2 * r * s.sum_w2yn + r * r * s.sum_w2n2);
  return { estimate: r, se: Math.sqrt(residual) / s.sum_wn, users: s.users };
}

export interface IpwComparison {
  diff: MaybeNumber;
  se: MaybeNumber;
  p_value: MaybeNumber;
}

/** Treatment − control of two IPW estimates, normal (z) test. */
export function ipwCompare(control: IpwEstimate, treatment: IpwEstimate): IpwComparison {
  if (control.estimate === null || treatment.estimate === null) return { diff: null, se: null, p_value: null };
  const diff = treatment.estimate - control.estimate;
  if (control.se === null || treatment.se === null) return { diff, se: null, p_value: null };
  const se = Math.sqrt(control.se * control.se + treatment.se * treatment.se);
  return { diff, se, p_value: se > 0 ? normalTwoSidedP(diff / se) : null };
}
