/**
 * The `analysis` object of an A/B test's results (SPEC "A/B tests"): SRM check, and for every
 * non-control variant a request-level comparison (Welch for latency and cost per request, pooled
 * two-proportion z for the success rate) and a user-level one (delta method on ratios of per-user
 * sums), plus sample-size warnings. The first variant is the control; diff = variant − control.
 */
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
  p_value: MaybeNumber;
  significant: boolean;
}

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
  | 'multiple_comparisons';

export interface AnalysisWarning {
  code: AnalysisWarningCode;
  message: string;
  variant_id?: string;
  metric?: 'latency_ms' | 'cost_per_request' | 'success_rate';
}

export interface AbAnalysis {
  control_variant_id: string;
  alpha: number;
  srm: { chi_square: number; p_value: number; mismatch: boolean };
  comparisons: VariantComparison[];
  warnings: AnalysisWarning[];
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
}

const METRICS = ['latency_ms', 'cost_per_request', 'success_rate'] as const;

/**
 * The SPEC's `analysis` object for variants in their configured order (the first is the control).
 * Per non-control variant: request-level Welch tests of latency and cost per request, the pooled
 * two-proportion z-test of the success rate, and user-level delta-method tests of the three
 * ratios; each diff is variant − control, each `significant` is p < alpha. Untestable values are
 * null (with an `insufficient_data` warning). Warnings: fewer than `min_users_per_arm` users,
 * n·p or n·(1 − p) below `min_expected_count`, SRM mismatch, more than one comparison.
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
      message: `${variants.length - 1} variants are each compared with the control at α = ${alpha} without correction: the chance of at least one false positive is higher than α`,
    });
  }

  const comparisons = variants.slice(1).map((v): VariantComparison => {
    const latency = welchTTest(control.latency_ms, v.latency_ms, alpha);
    const cost = welchTTest(control.cost_per_request, v.cost_per_request, alpha);
    const success = twoProportionZTest(control.success, v.success, alpha);
    const ul = {
      latency_ms: deltaMethodTest(control.user_level.latency_ms, v.user_level.latency_ms, alpha),
      cost_per_request: deltaMethodTest(control.user_level.cost_per_request, v.user_level.cost_per_request, alpha),
      success_rate: deltaMethodTest(control.user_level.success_rate, v.user_level.success_rate, alpha),
    };
    const comparison: VariantComparison = {
      variant_id: v.variant_id,
      latency_ms: welchShape(latency),
      cost_per_request: welchShape(cost),
      success_rate: { diff: success.diff, ci_low: success.ci_low, ci_high: success.ci_high, z: success.z, p_value: success.p_value, significant: success.significant },
      user_level: {
        latency_ms: userShape(ul.latency_ms),
        cost_per_request: userShape(ul.cost_per_request),
        success_rate: userShape(ul.success_rate),
      },
    };
    for (const m of METRICS) {
      const requestLevel = comparison[m];
      const userLevel = comparison.user_level[m];
      if (requestLevel.p_value === null || userLevel.p_value === null) {
        warnings.push({
          code: 'insufficient_data',
          variant_id: v.variant_id,
          metric: m,
          message: `${m} of variant ${v.variant_id} vs ${control.variant_id} cannot be tested ${levels(requestLevel.p_value, userLevel.p_value)} (too few observations or no variation)`,
        });
      }
    }
    return comparison;
  });

  return {
    control_variant_id: control.variant_id,
    alpha,
    srm: { chi_square: srm.chi_square, p_value: srm.p_value, mismatch: srm.mismatch },
    comparisons,
    warnings,
  };
}

function welchShape(r: ReturnType<typeof welchTTest>): WelchComparison {
  return { diff: r.diff, ci_low: r.ci_low, ci_high: r.ci_high, t: r.t, df: r.df, p_value: r.p_value, significant: r.significant };
}

function userShape(r: ReturnType<typeof deltaMethodTest>): UserLevelComparison {
  return { diff: r.diff, se: r.se, df: r.df, p_value: r.p_value, significant: r.significant };
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
