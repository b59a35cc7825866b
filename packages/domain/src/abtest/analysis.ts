/**
 * The `analysis` object of an A/B test's results (SPEC "A/B tests" and its additions): SRM check,
 * and for every non-control variant a request-level comparison (Welch for latency and cost per
 * request, pooled two-proportion z for the success rate) and a user-level one (delta method on
 * ratios of per-user sums) with, per metric, the confidence sequence (`sequential`), CUPED
 * (`cuped`, latency and cost), Holm-adjusted p-values with more than one treatment and the
 * inverse-propensity-weighted comparison of a bandit test (`ipw`); crossover, guardrail checks
 * and warnings. The first variant is the control; diff = variant − control.
 *
 * Which figure decides (`significant` of a user-level metric):
 * - method `sequential` (the default): the always-valid p-value of the confidence sequence, built
 *   on the CUPED-adjusted estimate when CUPED applied, else on the plain one;
 * - method `fixed_horizon`: the CUPED p-value when CUPED applied, else the plain delta-method one;
 * - with more than one treatment, that p-value Holm-adjusted over the treatments (per metric).
 */
import { type CupedResult, type CupedSums, cupedTest } from './cuped.js';
import { type IpwComparison, ipwCompare, ipwRatioEstimate, type WeightedRatioSums } from './bandit.js';
import { crossoverCheck, type CrossoverResult } from './crossover.js';
import { checkGuardrails, type Guardrail, type GuardrailCheck } from './guardrails.js';
import type { LatencyHistogram } from '../latency-histogram.js';
import { holmAdjust } from './multiple-comparisons.js';
import { confidenceSequence, type SequentialResult } from './sequential.js';
import {
  DEFAULT_ALPHA,
  DEFAULT_SRM_THRESHOLD,
  deltaMethodTest,
  type MomentSums,
  type MaybeNumber,
  type ProportionCounts,
  srmTest,
  twoProportionZTest,
  type UserLevelSums,
  welchTTest,
} from './statistics.js';

/** What the rollups hold for one variant. */
export interface AbVariantStats {
  variant_id: string;
  /** Configured weight (for the SRM check). */
  weight: number;
  /** Distinct users assigned to the variant. */
  exposures: number;
  /** Request-level latency: n, Σ latency_ms, Σ latency_ms². */
  latency_ms: MomentSums;
  /** Request-level cost per request: n, Σ cost, Σ cost². */
  cost_per_request: MomentSums;
  /** Request-level successes. */
  success: ProportionCounts;
  /**
   * User-level sufficient statistics (see RatioSums); `user_level.success_rate.users` (users with
   * at least one metric) is the user count the "fewer than 100 users" warning looks at.
   */
  user_level: UserLevelSums;
  /** Pre-period sums for CUPED (users without history contribute zeros); absent: no CUPED. */
  cuped?: { latency_ms: CupedSums; cost_per_request: CupedSums };
  /** 1/π-weighted user sums (bandit tests, π the stored assignment probability). */
  ipw?: { latency_ms: WeightedRatioSums; cost_per_request: WeightedRatioSums; success_rate: WeightedRatioSums };
  /** Request latency histogram and its p95 (for the p95 guardrail). */
  latency_histogram?: LatencyHistogram;
  p95_latency_ms?: MaybeNumber;
}

export interface WelchComparison {
  diff: MaybeNumber;
  ci_low: MaybeNumber;
  ci_high: MaybeNumber;
  t: MaybeNumber;
  df: MaybeNumber;
  p_value: MaybeNumber;
  significant: boolean;
}

export interface ProportionComparison {
  diff: MaybeNumber;
  ci_low: MaybeNumber;
  ci_high: MaybeNumber;
  z: MaybeNumber;
  p_value: MaybeNumber;
  significant: boolean;
}

export interface UserLevelComparison {
  diff: MaybeNumber;
  se: MaybeNumber;
  df: MaybeNumber;
  /** Fixed-horizon p-value of the plain delta-method test. */
  p_value: MaybeNumber;
  /** Follows the method chosen (and Holm with more than one treatment): see the file comment. */
  significant: boolean;
  /** The confidence sequence and its always-valid p-value. */
  sequential: SequentialResult;
  /** CUPED (latency and cost only; null for the success rate or when CUPED is off). */
  cuped: CupedFigures | null;
  /** With more than one treatment: the deciding p-value, Holm-adjusted over the treatments. */
  p_value_holm?: MaybeNumber;
  /** Bandit tests: the inverse-propensity-weighted comparison. */
  ipw?: IpwComparison;
}

export interface CupedFigures {
  diff: MaybeNumber;
  se: MaybeNumber;
  p_value: MaybeNumber;
  variance_reduction: number;
  theta: number;
  users_with_history: number;
  applied: boolean;
}

export type AnalysisMethod = 'sequential' | 'fixed_horizon';
export const ANALYSIS_METHODS: readonly AnalysisMethod[] = ['sequential', 'fixed_horizon'];
/** The planned users per arm when a test names none (the sequences' tuning value is this × arms compared). */
export const DEFAULT_PLANNED_USERS = 1000;

export interface VariantComparison {
  variant_id: string;
  latency_ms: WelchComparison;
  cost_per_request: WelchComparison;
  success_rate: ProportionComparison;
  user_level: {
    latency_ms: UserLevelComparison;
    cost_per_request: UserLevelComparison;
    success_rate: UserLevelComparison;
  };
}

export type AnalysisWarningCode =
  | 'few_users'
  | 'few_successes_or_failures'
  | 'insufficient_data'
  | 'srm_mismatch'
  | 'multiple_comparisons'
  | 'crossover'
  | 'crossover_mismatch'
  | 'guardrail_tripped';

export interface AnalysisWarning {
  code: AnalysisWarningCode;
  message: string;
  variant_id?: string;
  metric?: 'latency_ms' | 'cost_per_request' | 'success_rate';
}

export interface AbAnalysis {
  control_variant_id: string;
  alpha: number;
  method: AnalysisMethod;
  planned_users: number;
  srm: { chi_square: number; p_value: number; mismatch: boolean };
  comparisons: VariantComparison[];
  crossover: CrossoverResult;
  guardrails: GuardrailCheck[];
  /** Bandit tests: each variant's 1/π-weighted estimates. */
  ipw?: IpwVariantEstimates[];
  warnings: AnalysisWarning[];
}

export interface IpwVariantEstimates {
  variant_id: string;
  users: number;
  latency_ms: { estimate: MaybeNumber; se: MaybeNumber };
  cost_per_request: { estimate: MaybeNumber; se: MaybeNumber };
  success_rate: { estimate: MaybeNumber; se: MaybeNumber };
}

export interface AnalyzeOptions {
  /** Significance level, default 0.05. */
  alpha?: number;
  /** SRM p-value threshold, default 0.001. */
  srm_threshold?: number;
  /** Users per arm below which a warning is given, default 100. */
  min_users_per_arm?: number;
  /** n·p and n·(1 − p) below which the normal approximation is flagged, default 5. */
  min_expected_count?: number;
  /** What `significant` follows, default sequential. */
  method?: AnalysisMethod;
  /** Planned users per arm: the confidence sequences are tightest there (default 1,000). */
  planned_users?: number;
  /** CUPED on (default) when the variants carry pre-period sums. */
  cuped?: boolean;
  guardrails?: readonly Guardrail[];
  /** Users seen in more than one variant, and the test's distinct users. */
  crossover?: { users: number; total_users: number };
}

const METRICS = ['latency_ms', 'cost_per_request', 'success_rate'] as const;
type Metric = (typeof METRICS)[number];

/**
 * The SPEC's `analysis` object for variants in their configured order (the first is the control).
 * Per non-control variant: request-level Welch tests of latency and cost per request, the pooled
 * two-proportion z-test of the success rate, and user-level delta-method tests of the three
 * ratios with their sequences, CUPED, Holm and IPW figures; each diff is variant − control. A
 * request-level `significant` is p < alpha; a user-level one follows the method (file comment).
 * Untestable values are null (with an `insufficient_data` warning). Warnings: fewer than
 * `min_users_per_arm` users, n·p or n·(1 − p) below `min_expected_count`, SRM mismatch, more than
 * one comparison, crossover, a tripped guardrail.
 */
export function analyze(variants: readonly AbVariantStats[], options: AnalyzeOptions = {}): AbAnalysis {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const minUsers = options.min_users_per_arm ?? 100;
  const minExpected = options.min_expected_count ?? 5;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`analyze: alpha must be in (0, 1), got ${alpha}`);
  const control = variants[0];
  if (!control || variants.length < 2) throw new RangeError('analyze: needs at least two variants');

  const warnings: AnalysisWarning[] = [];
  const srm = srmTest(
    variants.map((v) => v.exposures),
    variants.map((v) => v.weight),
    options.srm_threshold ?? DEFAULT_SRM_THRESHOLD,
  );
  if (srm.mismatch) {
    warnings.push({
      code: 'srm_mismatch',
      message: `sample ratio mismatch: exposures do not match the configured weights (χ² = ${fmt(srm.chi_square)}, p = ${fmtP(srm.p_value)}); the results are not trustworthy until the assignment or logging bug is found`,
    });
  }

  for (const v of variants) {
    const users = v.user_level.success_rate.users;
    if (users < minUsers) {
      warnings.push({ code: 'few_users', variant_id: v.variant_id, message: `variant ${v.variant_id} has ${users} users with metrics, fewer than ${minUsers}` });
    }
    const { n, successes } = v.success;
    if (successes < minExpected || n - successes < minExpected) {
      warnings.push({
        code: 'few_successes_or_failures',
        variant_id: v.variant_id,
        metric: 'success_rate',
        message: `variant ${v.variant_id} has n·p = ${successes} successes and n·(1 − p) = ${n - successes} failures; below ${minExpected} the normal approximation of the success-rate test is unreliable`,
      });
    }
  }
  if (variants.length > 2) {
    warnings.push({
      code: 'multiple_comparisons',
      message: `${variants.length - 1} variants are each compared with the control: the user-level \`significant\` follows Holm-adjusted p-values (p_value_holm), the request-level tests are not corrected`,
    });
  }

  const method = options.method ?? 'sequential';
  const plannedUsers = options.planned_users ?? DEFAULT_PLANNED_USERS;
  if (!(plannedUsers > 0)) throw new RangeError(`analyze: planned_users must be > 0, got ${plannedUsers}`);
  // The sequence of one comparison sees the users of two arms: tuned for both arms' planned users.
  const tuningN = 2 * plannedUsers;
  const cupedOn = options.cuped ?? true;

  const comparisons = variants.slice(1).map((v): VariantComparison => {
    const latency = welchTTest(control.latency_ms, v.latency_ms, alpha);
    const cost = welchTTest(control.cost_per_request, v.cost_per_request, alpha);
    const success = twoProportionZTest(control.success, v.success, alpha);
    const users = control.user_level.success_rate.users + v.user_level.success_rate.users;
    const userLevel = (m: Metric): UserLevelComparison => {
      const plain = deltaMethodTest(control.user_level[m], v.user_level[m], alpha);
      const cuped = m !== 'success_rate' && cupedOn && control.cuped && v.cuped
        ? cupedShape(cupedTest(control.user_level[m], control.cuped[m], v.user_level[m], v.cuped[m], alpha))
        : null;
      const useCuped = cuped !== null && cuped.applied;
      const sequential = confidenceSequence(useCuped ? cuped.diff : plain.diff, useCuped ? cuped.se : plain.se, users, alpha, tuningN);
      const deciding = method === 'sequential' ? sequential.p_value : useCuped ? cuped.p_value : plain.p_value;
      const out: UserLevelComparison = {
        diff: plain.diff,
        se: plain.se,
        df: plain.df,
        p_value: plain.p_value,
        significant: deciding !== null && deciding < alpha,
        sequential,
        cuped,
      };
      if (control.ipw && v.ipw) out.ipw = ipwCompare(ipwRatioEstimate(control.ipw[m]), ipwRatioEstimate(v.ipw[m]));
      return out;
    };
    const comparison: VariantComparison = {
      variant_id: v.variant_id,
      latency_ms: welchShape(latency),
      cost_per_request: welchShape(cost),
      success_rate: { diff: success.diff, ci_low: success.ci_low, ci_high: success.ci_high, z: success.z, p_value: success.p_value, significant: success.significant },
      user_level: {
        latency_ms: userLevel('latency_ms'),
        cost_per_request: userLevel('cost_per_request'),
        success_rate: userLevel('success_rate'),
      },
    };
    for (const m of METRICS) {
      const requestLevel = comparison[m];
      const ul = comparison.user_level[m];
      if (requestLevel.p_value === null || ul.p_value === null) {
        warnings.push({
          code: 'insufficient_data',
          variant_id: v.variant_id,
          metric: m,
          message: `${m} of variant ${v.variant_id} vs ${control.variant_id} cannot be tested ${levels(requestLevel.p_value, ul.p_value)} (too few observations or no variation)`,
        });
      }
    }
    return comparison;
  });

  // Holm over the treatments, per metric, on the p-value that decides.
  if (comparisons.length > 1) {
    for (const m of METRICS) {
      const deciding = comparisons.map((c) => {
        const ul = c.user_level[m];
        if (method === 'sequential') return ul.sequential.p_value;
        return ul.cuped?.applied ? ul.cuped.p_value : ul.p_value;
      });
      const adjusted = holmAdjust(deciding);
      comparisons.forEach((c, i) => {
        const p = adjusted[i] ?? null;
        c.user_level[m].p_value_holm = p;
        c.user_level[m].significant = p !== null && p < alpha;
      });
    }
  }

  const crossover = crossoverCheck(options.crossover?.users ?? 0, options.crossover?.total_users ?? 0);
  if (crossover.mismatch) {
    warnings.push({
      code: 'crossover_mismatch',
      message: `${crossover.users} users (${fmtPct(crossover.share)}) were seen in more than one variant, above 1 %: like a sample ratio mismatch, the assignment or the logging is broken and the results are not trustworthy`,
    });
  } else if (crossover.warning) {
    warnings.push({
      code: 'crossover',
      message: `${crossover.users} users (${fmtPct(crossover.share)}) were seen in more than one variant (above 0.1 %): their requests count in each variant they reached`,
    });
  }

  const guardrails = (options.guardrails ?? []).length
    ? variants.slice(1).flatMap((v, i) => {
        const c = comparisons[i]!;
        const ul = c.user_level;
        const costDiff = ul.cost_per_request.cuped?.applied ? ul.cost_per_request.cuped : ul.cost_per_request;
        return checkGuardrails(
          options.guardrails!,
          {
            variant_id: v.variant_id,
            users: control.user_level.success_rate.users + v.user_level.success_rate.users,
            success_rate: { control: ratioOf(control.user_level.success_rate), diff: ul.success_rate.diff, se: ul.success_rate.se },
            cost_per_request: { control: ratioOf(control.user_level.cost_per_request), diff: costDiff.diff, se: costDiff.se },
            latency: { control_p95: control.p95_latency_ms ?? null, treatment: v.latency_histogram ?? null },
          },
          { alpha, tuning_n: tuningN, treatment_p95: v.p95_latency_ms ?? null },
        );
      })
    : [];
  for (const g of guardrails) {
    if (g.tripped) {
      warnings.push({
        code: 'guardrail_tripped',
        variant_id: g.variant_id,
        message: `guardrail ${g.metric} (tolerance ${fmtPct(g.tolerance)}) tripped: variant ${g.variant_id} is significantly worse than ${control.variant_id} by the sequential test`,
      });
    }
  }

  const analysis: AbAnalysis = {
    control_variant_id: control.variant_id,
    alpha,
    method,
    planned_users: plannedUsers,
    srm: { chi_square: srm.chi_square, p_value: srm.p_value, mismatch: srm.mismatch },
    comparisons,
    crossover,
    guardrails,
    warnings,
  };
  if (variants.every((v) => v.ipw)) {
    analysis.ipw = variants.map((v) => {
      const est = (m: Metric) => {
        const e = ipwRatioEstimate(v.ipw![m]);
        return { estimate: e.estimate, se: e.se };
      };
      return { variant_id: v.variant_id, users: v.ipw!.success_rate.users, latency_ms: est('latency_ms'), cost_per_request: est('cost_per_request'), success_rate: est('success_rate') };
    });
  }
  return analysis;
}

function ratioOf(s: { sum_y: number; sum_n: number }): MaybeNumber {
  return s.sum_n > 0 ? s.sum_y / s.sum_n : null;
}

function cupedShape(r: CupedResult): CupedFigures {
  return { diff: r.diff, se: r.se, p_value: r.p_value, variance_reduction: r.variance_reduction, theta: r.theta, users_with_history: r.users_with_history, applied: r.applied };
}

function fmtPct(x: number): string {
  return `${Number((100 * x).toPrecision(3))} %`;
}

function welchShape(r: ReturnType<typeof welchTTest>): WelchComparison {
  return { diff: r.diff, ci_low: r.ci_low, ci_high: r.ci_high, t: r.t, df: r.df, p_value: r.p_value, significant: r.significant };
}

function levels(requestP: MaybeNumber, userP: MaybeNumber): string {
  if (requestP === null && userP === null) return 'at either level';
  return requestP === null ? 'at the request level' : 'at the user level';
}

function fmt(x: number): string {
  return Number(x.toPrecision(5)).toString();
}

function fmtP(p: number): string {
  return p < 1e-4 ? p.toExponential(2) : fmt(p);
}
