/**
 * Seeded Monte Carlo simulations that check the A/B statistics do what they claim. Pure functions
 * of their settings (all randomness from `seededRandom(seed)`), so the unit tests run them small
 * and `pnpm bench -- --only experiments` runs them large, with the same code.
 *
 * The population is an LLM router's: users differ a lot in how much they call and how slow or
 * costly their calls are (lognormal per-user means), and a user's requests are summed into the
 * per-user totals the user-level tests see.
 */
import { createRequire } from 'node:module';
import { seededRandom } from '../random.js';
import { addCupedUser, cupedTest, emptyCupedSums } from './cuped.js';
import { addWeightedUser, type BanditSettings, emptyWeightedRatioSums, ipwRatioEstimate, topTwoThompsonProbabilities } from './bandit.js';
import { confidenceSequence } from './sequential.js';
import { addRatioUser as addUser, deltaMethodTest, emptyRatioSums } from './statistics.js';

// Loaded on first use (~26 MB with the Beta sampler): only the tests and the bench simulate.
const require = createRequire(import.meta.url);
const normalRandom = (): typeof import('@stdlib/random-base-normal') => require('@stdlib/random-base-normal') as typeof import('@stdlib/random-base-normal');

const USER_LOG_MEAN = Math.log(800);
const USER_LOG_SD = 0.5;
/** E[user mean] of the lognormal population: the in-test ratio's expectation (n_i independent of it). */
const POPULATION_MEAN = Math.exp(USER_LOG_MEAN + (USER_LOG_SD * USER_LOG_SD) / 2);


/** Requests of a user: 1 + geometric with mean `extra`. */
function requestCount(random: () => number, extra: number): number {
  return 1 + Math.floor(Math.log(1 - random()) / Math.log(extra / (1 + extra)));
}

// ---------------------------------------------------------------------------------------------
// Sequential testing under continuous peeking
// ---------------------------------------------------------------------------------------------

export interface PeekingSettings {
  runs: number;
  /** Users per run (both arms); also the tuning value N of the sequences. */
  users: number;
  /** A look after every this many users. */
  look_every: number;
  alpha: number;
  /** Relative effect of the treatment on the mean (0: A/A). */
  effect: number;
  seed: number;
}

export interface PeekingResult {
  runs: number;
  looks_per_run: number;
  /** Runs in which some look's fixed-horizon p-value was below α. */
  fixed_horizon_rejections: number;
  /** Runs in which some look's always-valid p-value was below α. */
  sequential_rejections: number;
  /** Runs in which the true difference stayed inside the confidence sequence at every look. */
  sequential_covered: number;
  /** Runs in which the true difference stayed inside the fixed-horizon interval at every look. */
  fixed_horizon_covered: number;
  true_diff: number;
}

/**
 * `runs` experiments of `users` users split 50/50, looked at after every `look_every` users: the
 * user-level delta-method test (fixed horizon) and the confidence sequence, at each look.
 */
export function simulatePeeking(s: PeekingSettings): PeekingResult {
  const random = seededRandom(s.seed);
  const normal = normalRandom().factory({ prng: random as never });
  const trueDiff = s.effect * POPULATION_MEAN;
  let fixedRejections = 0;
  let seqRejections = 0;
  let seqCovered = 0;
  let fixedCovered = 0;
  let looks = 0;
  for (let run = 0; run < s.runs; run++) {
    const a = emptyRatioSums();
    const b = emptyRatioSums();
    let fixedHit = false;
    let seqHit = false;
    let seqMiss = false;
    let fixedMiss = false;
    looks = 0;
    for (let u = 1; u <= s.users; u++) {
      const treated = random() < 0.5;
      const n = requestCount(random, 2);
      const mean = Math.exp(USER_LOG_MEAN + USER_LOG_SD * normal(0, 1)) * (treated ? 1 + s.effect : 1);
      addUser(treated ? b : a, n, n * mean);
      if (u % s.look_every !== 0) continue;
      looks++;
      const t = deltaMethodTest(a, b, s.alpha);
      const cs = confidenceSequence(t.diff, t.se, a.users + b.users, s.alpha, s.users);
      if (t.p_value !== null && t.p_value < s.alpha) fixedHit = true;
      if (cs.significant) seqHit = true;
      if (cs.ci_low !== null && cs.ci_high !== null && (trueDiff < cs.ci_low || trueDiff > cs.ci_high)) seqMiss = true;
      if (t.ci_low !== null && t.ci_high !== null && (trueDiff < t.ci_low || trueDiff > t.ci_high)) fixedMiss = true;
    }
    if (fixedHit) fixedRejections++;
    if (seqHit) seqRejections++;
    if (!seqMiss) seqCovered++;
    if (!fixedMiss) fixedCovered++;
  }
  return {
    runs: s.runs,
    looks_per_run: looks,
    fixed_horizon_rejections: fixedRejections,
    sequential_rejections: seqRejections,
    sequential_covered: seqCovered,
    fixed_horizon_covered: fixedCovered,
    true_diff: trueDiff,
  };
}

// ---------------------------------------------------------------------------------------------
// CUPED
// ---------------------------------------------------------------------------------------------

export interface CupedSimulationSettings {
  runs: number;
  users: number;
  /** Relative effect of the treatment on the mean. */
  effect: number;
  /** Share of users with pre-period history. */
  history_share: number;
  /**
   * Log-scale spread of a user's in-test mean around their long-run mean (smaller: history
   * predicts the test better). The pre-period mean has the same spread.
   */
  drift_sd: number;
  alpha: number;
  seed: number;
}

export interface CupedSimulationResult {
  runs: number;
  true_diff: number;
  mean_diff_plain: number;
  mean_diff_cuped: number;
  /** Standard deviation of the CUPED estimate over the runs (its Monte Carlo error is this / √runs). */
  sd_diff_cuped: number;
  sd_diff_plain: number;
  mean_se_plain: number;
  mean_se_cuped: number;
  mean_variance_reduction: number;
  /** Runs whose CUPED interval (±z·se) held the true difference. */
  cuped_covered: number;
}

export function simulateCuped(s: CupedSimulationSettings): CupedSimulationResult {
  const random = seededRandom(s.seed);
  const normal = normalRandom().factory({ prng: random as never });
  const z = 1.959963984540054;
  // The in-test mean is the long-run mean × a mean-one lognormal drift: E stays POPULATION_MEAN × shift.
  const driftShift = (s.drift_sd * s.drift_sd) / 2;
  const trueDiff = s.effect * POPULATION_MEAN;
  const diffsPlain: number[] = [];
  const diffsCuped: number[] = [];
  let sePlain = 0;
  let seCuped = 0;
  let reduction = 0;
  let covered = 0;
  for (let run = 0; run < s.runs; run++) {
    const arms = [
      { r: emptyRatioSums(), c: emptyCupedSums() },
      { r: emptyRatioSums(), c: emptyCupedSums() },
    ];
    for (let u = 0; u < s.users; u++) {
      const treated = random() < 0.5 ? 1 : 0;
      const longRun = Math.exp(USER_LOG_MEAN + USER_LOG_SD * normal(0, 1));
      // A user's activity is steady too: heavy users before the test are heavy users in it
      // (request counts scatter ±30 % around the user's own level in each period).
      const activity = Math.exp(Math.log(3) + 0.8 * normal(0, 1));
      const n = 1 + Math.floor(activity * Math.exp(0.3 * normal(0, 1)));
      const mean = longRun * Math.exp(s.drift_sd * normal(0, 1) - driftShift) * (treated ? 1 + s.effect : 1);
      const hasHistory = random() < s.history_share;
      const m = hasHistory ? 1 + Math.floor(activity * Math.exp(0.3 * normal(0, 1))) : 0;
      const x = hasHistory ? m * longRun * Math.exp(s.drift_sd * normal(0, 1) - driftShift) : 0;
      const arm = arms[treated]!;
      addUser(arm.r, n, n * mean);
      addCupedUser(arm.c, n, n * mean, m, x);
    }
    const plain = deltaMethodTest(arms[0]!.r, arms[1]!.r, s.alpha);
    const cuped = cupedTest(arms[0]!.r, arms[0]!.c, arms[1]!.r, arms[1]!.c, s.alpha);
    if (plain.diff === null || plain.se === null || cuped.diff === null || cuped.se === null) continue;
    diffsPlain.push(plain.diff);
    diffsCuped.push(cuped.diff);
    sePlain += plain.se;
    seCuped += cuped.se;
    reduction += cuped.variance_reduction;
    if (Math.abs(cuped.diff - trueDiff) <= z * cuped.se) covered++;
  }
  const k = diffsCuped.length;
  return {
    runs: k,
    true_diff: trueDiff,
    mean_diff_plain: mean(diffsPlain),
    mean_diff_cuped: mean(diffsCuped),
    sd_diff_plain: sd(diffsPlain),
    sd_diff_cuped: sd(diffsCuped),
    mean_se_plain: sePlain / k,
    mean_se_cuped: seCuped / k,
    mean_variance_reduction: reduction / k,
    cuped_covered: covered,
  };
}

// ---------------------------------------------------------------------------------------------
// Thompson sampling: regret and inverse-propensity weighting
// ---------------------------------------------------------------------------------------------

export interface BanditSimulationSettings {
  runs: number;
  users: number;
  /** Success probability of each arm (one request per user). */
  rates: readonly number[];
  /** Users between two posterior updates (the `update_every` batches). */
  batch: number;
  bandit: BanditSettings;
  seed: number;
}

export interface BanditSimulationResult {
  runs: number;
  /** Expected regret per run: Σ over users of (best rate − rate of the arm played). */
  mean_regret_thompson: number;
  /** The same for a fixed equal split (exact: users × (best − mean rate)). */
  regret_equal_split: number;
  /** Mean over runs of the Horvitz–Thompson (1/π-weighted) estimate of each arm's rate. */
  mean_ipw_estimate: number[];
  /** Standard deviation over runs of those estimates. */
  sd_ipw_estimate: number[];
  /** Mean over runs of each arm's plain success rate among the users it got. */
  mean_naive_estimate: number[];
  /** Mean over runs of the weighted (Hájek) estimate of ./bandit.ts (the one the results report). */
  mean_hajek_estimate: number[];
  /** Mean share of users per arm. */
  mean_share: number[];
}

export function simulateBandit(s: BanditSimulationSettings): BanditSimulationResult {
  const random = seededRandom(s.seed);
  const k = s.rates.length;
  const best = Math.max(...s.rates);
  const meanRate = s.rates.reduce((a, b) => a + b, 0) / k;
  let regret = 0;
  const ipw = Array.from({ length: k }, () => [] as number[]);
  const naive = Array.from({ length: k }, () => 0);
  const naiveRuns = Array.from({ length: k }, () => 0);
  const hajek = Array.from({ length: k }, () => 0);
  const hajekRuns = Array.from({ length: k }, () => 0);
  const share = Array.from({ length: k }, () => 0);
  for (let run = 0; run < s.runs; run++) {
    const stats = s.rates.map(() => ({ requests: 0, successes: 0, cost_sum: 0, cost_sum_sq: 0 }));
    const weighted = s.rates.map(() => emptyWeightedRatioSums());
    const htSum = Array.from({ length: k }, () => 0);
    let probabilities = s.rates.map(() => 1 / k);
    for (let u = 0; u < s.users; u++) {
      if (u > 0 && u % s.batch === 0) probabilities = topTwoThompsonProbabilities(stats, s.bandit, random);
      const draw = random();
      let arm = 0;
      let cumulative = probabilities[0]!;
      while (draw >= cumulative && arm < k - 1) cumulative += probabilities[++arm]!;
      const success = random() < s.rates[arm]! ? 1 : 0;
      const st = stats[arm]!;
      st.requests += 1;
      st.successes += success;
      regret += best - s.rates[arm]!;
      htSum[arm] = htSum[arm]! + success / probabilities[arm]!;
      addWeightedUser(weighted[arm]!, 1, success, probabilities[arm]!);
    }
    for (let i = 0; i < k; i++) {
      ipw[i]!.push(htSum[i]! / s.users);
      const st = stats[i]!;
      share[i] = share[i]! + st.requests / s.users;
      if (st.requests > 0) {
        naive[i] = naive[i]! + st.successes / st.requests;
        naiveRuns[i] = naiveRuns[i]! + 1;
      }
      const h = ipwRatioEstimate(weighted[i]!).estimate;
      if (h !== null) {
        hajek[i] = hajek[i]! + h;
        hajekRuns[i] = hajekRuns[i]! + 1;
      }
    }
  }
  return {
    runs: s.runs,
    mean_regret_thompson: regret / s.runs,
    regret_equal_split: s.users * (best - meanRate),
    mean_ipw_estimate: ipw.map(mean),
    sd_ipw_estimate: ipw.map(sd),
    mean_naive_estimate: naive.map((x, i) => x / Math.max(1, naiveRuns[i]!)),
    mean_hajek_estimate: hajek.map((x, i) => x / Math.max(1, hajekRuns[i]!)),
    mean_share: share.map((x) => x / s.runs),
  };
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

function sd(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}
