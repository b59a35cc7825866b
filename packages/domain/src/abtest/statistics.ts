/**
 * Statistics for A/B tests of model variants. Pure functions over mergeable sufficient statistics;
 * the distributions come from `./distributions.ts` (stdlib.js), the test logic is written here.
 *
 * Sign convention everywhere: arm `a` is the control, arm `b` the treatment, and
 *   diff = estimate_b − estimate_a   (treatment minus control).
 * A positive latency diff means the treatment is slower; a positive success-rate diff means it
 * succeeds more often.
 *
 * Values that cannot be computed (an arm with too few observations, zero variance in both arms)
 * are `null`, never NaN or ±Infinity, so the results serialize to JSON as they are; `significant`
 * is then false.
 */
import { chiSquareUpperTail, normalQuantile, normalTwoSidedP, tQuantile, tTwoSidedP } from './distributions.js';

export type MaybeNumber = number | null;

export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_SRM_THRESHOLD = 0.001;

// ---------------------------------------------------------------------------------------------
// Mergeable moments
// ---------------------------------------------------------------------------------------------

/** Count, sum and sum of squares of a sample: mergeable by addition, so rollups can keep them. */
export interface MomentSums {
  n: number;
  sum: number;
  sum_sq: number;
}

export function mergeMoments(a: MomentSums, b: MomentSums): MomentSums {
  return { n: a.n + b.n, sum: a.sum + b.sum, sum_sq: a.sum_sq + b.sum_sq };
}

export function momentsFromValues(values: ArrayLike<number>): MomentSums {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    sum += x;
    sumSq += x * x;
  }
  return { n: values.length, sum, sum_sq: sumSq };
}

/** The sums of a sample with the given size, mean and sample standard deviation (n − 1). */
export function momentsFromMeanSd(n: number, mean: number, sd: number): MomentSums {
  return { n, sum: n * mean, sum_sq: (n - 1) * sd * sd + n * mean * mean };
}

export function meanOf(m: MomentSums): MaybeNumber {
  return m.n > 0 ? m.sum / m.n : null;
}

/**
 * Sum of squared deviations M2 = Σ(x − x̄)² = Σx² − (Σx)²/n.
 *
 * The subtraction cancels when the spread is small next to the mean, so (Σx)²/n is computed in
 * double-double arithmetic (Dekker's exact product and a corrected division): M2 is then as
 * accurate as the stored sums allow, rather than losing log10(x̄²/s²) further digits to the
 * rounding of (Σx)². A tiny negative result from rounded inputs is clamped to 0.
 */
export function sumSquaredDeviations(m: MomentSums): number {
  if (m.n <= 0) return 0;
  const [hi, lo] = twoProduct(m.sum, m.sum); // (Σx)² = hi + lo exactly
  const q = hi / m.n;
  const [qn, qnErr] = twoProduct(q, m.n); // q·n = qn + qnErr exactly
  const q2 = (hi - qn - qnErr + lo) / m.n; // (Σx)²/n ≈ q + q2
  const m2 = m.sum_sq - q - q2;
  return m2 > 0 ? m2 : 0;
}

/** Sample variance s² = M2 / (n − 1); null below two observations. */
export function varianceOf(m: MomentSums): MaybeNumber {
  return m.n >= 2 ? sumSquaredDeviations(m) / (m.n - 1) : null;
}

// Dekker / Veltkamp exact product: a·b = p + e exactly (no overflow for |a|, |b| < 2^996).
const SPLITTER = 134217729; // 2^27 + 1
function split(a: number): [number, number] {
  const c = SPLITTER * a;
  const hi = c - (c - a);
  return [hi, a - hi];
}
function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  const e = ah * bh - p + ah * bl + al * bh + al * bl;
  return [p, e];
}

// ---------------------------------------------------------------------------------------------
// t test from variance components (shared by Welch and the delta method)
// ---------------------------------------------------------------------------------------------

export interface TTestResult {
  diff: MaybeNumber;
  se: MaybeNumber;
  t: MaybeNumber;
  df: MaybeNumber;
  p_value: MaybeNumber;
  ci_low: MaybeNumber;
  ci_high: MaybeNumber;
  significant: boolean;
}

/**
 * t test of `diff` whose variance is va + vb, where arm j's component vj has dfj degrees of
 * freedom (n_j − 1):
 *   SE = √(va + vb),  t = diff / SE,
 *   df = (va + vb)² / (va²/dfa + vb²/dfb)          (Welch–Satterthwaite),
 *   p  = 2·F_t(−|t|; df)                            (two-sided),
 *   CI = diff ± t_{1−α/2; df}·SE,   significant ⇔ p < α.
 * With SE = 0 the statistic is undefined: t, df, p and the CI are null.
 */
export function tTestFromComponents(
  diff: number,
  va: number,
  dfa: number,
  vb: number,
  dfb: number,
  alpha: number = DEFAULT_ALPHA,
): TTestResult {
  checkAlpha(alpha);
  const variance = va + vb;
  const se = Math.sqrt(variance);
  if (!(se > 0) || !Number.isFinite(se) || !(dfa > 0) || !(dfb > 0)) {
    return { diff, se: Number.isFinite(se) ? se : null, t: null, df: null, p_value: null, ci_low: null, ci_high: null, significant: false };
  }
  const t = diff / se;
  const df = (variance * variance) / ((va * va) / dfa + (vb * vb) / dfb);
  const pValue = tTwoSidedP(t, df);
  const halfWidth = tQuantile(1 - alpha / 2, df) * se;
  return { diff, se, t, df, p_value: pValue, ci_low: diff - halfWidth, ci_high: diff + halfWidth, significant: pValue < alpha };
}

// ---------------------------------------------------------------------------------------------
// Welch's t-test (request level)
// ---------------------------------------------------------------------------------------------

export interface WelchResult extends TTestResult {
  mean_a: MaybeNumber;
  mean_b: MaybeNumber;
}

/**
 * Welch's unequal-variances t-test of mean_b − mean_a from each arm's {n, Σx, Σx²}:
 *   s_j² = (Σx² − (Σx)²/n_j) / (n_j − 1),
 *   SE = √(s_a²/n_a + s_b²/n_b),  t = (x̄_b − x̄_a) / SE,
 *   df = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)),
 *   p = 2·F_t(−|t|; df),  CI = diff ± t_{1−α/2; df}·SE.
 * Each arm needs n ≥ 2 (else everything but the means is null).
 */
export function welchTTest(a: MomentSums, b: MomentSums, alpha: number = DEFAULT_ALPHA): WelchResult {
  checkAlpha(alpha);
  const meanA = meanOf(a);
  const meanB = meanOf(b);
  const varA = varianceOf(a);
  const varB = varianceOf(b);
  if (meanA === null || meanB === null || varA === null || varB === null) {
    const diff = meanA !== null && meanB !== null ? meanB - meanA : null;
    return { diff, se: null, t: null, df: null, p_value: null, ci_low: null, ci_high: null, significant: false, mean_a: meanA, mean_b: meanB };
  }
  const r = tTestFromComponents(meanB - meanA, varA / a.n, a.n - 1, varB / b.n, b.n - 1, alpha);
  return { ...r, mean_a: meanA, mean_b: meanB };
}

// ---------------------------------------------------------------------------------------------
// Two-proportion z-test
// ---------------------------------------------------------------------------------------------

export interface ProportionCounts {
  /** Trials (requests). */
  n: number;
  /** Successes among them. */
  successes: number;
}

export interface ProportionTestResult {
  diff: MaybeNumber;
  /** Wald interval: diff ± z_{1−α/2}·SE_unpooled. */
  ci_low: MaybeNumber;
  ci_high: MaybeNumber;
  z: MaybeNumber;
  /** Pearson's χ² of the 2×2 table without continuity correction; equals z². */
  chi_square: MaybeNumber;
  p_value: MaybeNumber;
  significant: boolean;
  p_a: MaybeNumber;
  p_b: MaybeNumber;
  se_pooled: MaybeNumber;
  se_unpooled: MaybeNumber;
}

/**
 * Pooled two-proportion z-test of p_b − p_a:
 *   p̂ = (x_a + x_b)/(n_a + n_b),  SE₀ = √(p̂(1 − p̂)(1/n_a + 1/n_b)),  z = (p_b − p_a)/SE₀,
 *   p = 2·Φ(−|z|).
 * z² is exactly Pearson's χ² statistic of the 2×2 table (success/failure × arm) without Yates'
 * continuity correction, with 1 df, so the p-values agree; `chi_square` reports it.
 * The confidence interval is the Wald interval with the unpooled SE (the pooled SE is only
 * right under H0: p_a = p_b):  diff ± z_{1−α/2}·√(p_a(1 − p_a)/n_a + p_b(1 − p_b)/n_b).
 * Near the boundary the test and the interval can disagree in rare cases; `significant`
 * follows the test (p < α).
 */
export function twoProportionZTest(a: ProportionCounts, b: ProportionCounts, alpha: number = DEFAULT_ALPHA): ProportionTestResult {
  checkAlpha(alpha);
  const none: ProportionTestResult = {
    diff: null, ci_low: null, ci_high: null, z: null, chi_square: null, p_value: null, significant: false,
    p_a: null, p_b: null, se_pooled: null, se_unpooled: null,
  };
  if (!(a.n > 0) || !(b.n > 0)) {
    return { ...none, p_a: a.n > 0 ? a.successes / a.n : null, p_b: b.n > 0 ? b.successes / b.n : null };
  }
  const pA = a.successes / a.n;
  const pB = b.successes / b.n;
  const diff = pB - pA;
  const pooled = (a.successes + b.successes) / (a.n + b.n);
  const sePooled = Math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n));
  const seUnpooled = Math.sqrt((pA * (1 - pA)) / a.n + (pB * (1 - pB)) / b.n);
  const zCrit = normalQuantile(1 - alpha / 2);
  const ci = seUnpooled > 0 ? { ci_low: diff - zCrit * seUnpooled, ci_high: diff + zCrit * seUnpooled } : { ci_low: null, ci_high: null };
  if (!(sePooled > 0)) {
    // Every trial in both arms succeeded (or failed): no variation, no test.
    return { ...none, diff, ...ci, p_a: pA, p_b: pB, se_pooled: sePooled, se_unpooled: seUnpooled };
  }
  const z = diff / sePooled;
  const pValue = normalTwoSidedP(z);
  return {
    diff, ...ci, z, chi_square: z * z, p_value: pValue, significant: pValue < alpha,
    p_a: pA, p_b: pB, se_pooled: sePooled, se_unpooled: seUnpooled,
  };
}

/**
 * Pearson's χ² of the 2×2 table [[x_a, n_a − x_a], [x_b, n_b − x_b]] without continuity
 * correction: Σ (O − E)²/E with E = row total · column total / N. (Equals the z² above; kept
 * as an independent computation for the tests.)
 */
export function pearsonChiSquare2x2(a: ProportionCounts, b: ProportionCounts): MaybeNumber {
  const table = [
    [a.successes, a.n - a.successes],
    [b.successes, b.n - b.successes],
  ];
  return pearsonChiSquareTable(table);
}

/** Pearson's χ² statistic of an r×c contingency table (null if a row or column total is 0). */
export function pearsonChiSquareTable(table: readonly (readonly number[])[]): MaybeNumber {
  const rows = table.map((r) => r.reduce((s, x) => s + x, 0));
  const cols = (table[0] ?? []).map((_, j) => table.reduce((s, r) => s + (r[j] ?? 0), 0));
  const total = rows.reduce((s, x) => s + x, 0);
  if (total <= 0 || rows.some((r) => r <= 0) || cols.some((c) => c <= 0)) return null;
  let chi = 0;
  table.forEach((r, i) =>
    r.forEach((o, j) => {
      const e = ((rows[i] as number) * (cols[j] as number)) / total;
      chi += ((o - e) * (o - e)) / e;
    }),
  );
  return chi;
}

/** Upper-tail p-value of a χ² statistic with `df` degrees of freedom. */
export function chiSquarePValue(chiSquare: number, df: number): number {
  return chiSquareUpperTail(chiSquare, df);
}

// ---------------------------------------------------------------------------------------------
// Sample ratio mismatch
// ---------------------------------------------------------------------------------------------

export interface SrmResult {
  chi_square: number;
  df: number;
  p_value: number;
  mismatch: boolean;
}

/**
 * Sample ratio mismatch: χ² goodness of fit of the observed exposures (distinct users per
 * variant) against the configured weights:
 *   N = Σ O_i,  E_i = N·w_i/Σw,  χ² = Σ (O_i − E_i)²/E_i,  df = k − 1,  p = P(χ²_{k−1} ≥ χ²),
 *   mismatch ⇔ p < threshold (0.001: SRM checks run on every look, so a strict threshold).
 * With no exposures at all there is nothing to test: χ² = 0, p = 1.
 */
export function srmTest(observed: readonly number[], weights: readonly number[], threshold: number = DEFAULT_SRM_THRESHOLD): SrmResult {
  if (observed.length !== weights.length) throw new RangeError('srmTest: observed and weights differ in length');
  if (observed.length < 2) throw new RangeError('srmTest: needs at least two variants');
  const total = observed.reduce((s, x) => s + x, 0);
  const weightSum = weights.reduce((s, x) => s + x, 0);
  if (!(weightSum > 0) || weights.some((w) => !(w > 0))) throw new RangeError('srmTest: weights must be > 0');
  const df = observed.length - 1;
  if (total <= 0) return { chi_square: 0, df, p_value: 1, mismatch: false };
  let chi = 0;
  observed.forEach((o, i) => {
    const e = (total * (weights[i] as number)) / weightSum;
    chi += ((o - e) * (o - e)) / e;
  });
  const pValue = chiSquareUpperTail(chi, df);
  return { chi_square: chi, df, p_value: pValue, mismatch: pValue < threshold };
}

// ---------------------------------------------------------------------------------------------
// User-level ratio metrics (delta method)
// ---------------------------------------------------------------------------------------------

/**
 * Sufficient statistics of a ratio metric over the users of one arm, for user i with
 * denominator n_i (requests) and numerator y_i (the user's sum of latency, cost or successes):
 *   users = N, sum_n = Σn_i, sum_n2 = Σn_i², sum_y = Σy_i, sum_y2 = Σy_i², sum_yn = Σy_i·n_i.
 * All six add up across users, so a rollup can keep them per variant (see
 * `userLevelSumsDelta` for updating them when a user's totals grow) and the delta-method test
 * is exact without per-user rows at query time.
 */
export interface RatioSums {
  users: number;
  sum_n: number;
  sum_n2: number;
  sum_y: number;
  sum_y2: number;
  sum_yn: number;
}

export function emptyRatioSums(): RatioSums {
  return { users: 0, sum_n: 0, sum_n2: 0, sum_y: 0, sum_y2: 0, sum_yn: 0 };
}

export function mergeRatioSums(a: RatioSums, b: RatioSums): RatioSums {
  return {
    users: a.users + b.users,
    sum_n: a.sum_n + b.sum_n,
    sum_n2: a.sum_n2 + b.sum_n2,
    sum_y: a.sum_y + b.sum_y,
    sum_y2: a.sum_y2 + b.sum_y2,
    sum_yn: a.sum_yn + b.sum_yn,
  };
}

/** Adds one user's totals (denominator `n`, numerator `y`) to `s`, in place. */
export function addRatioUser(s: RatioSums, n: number, y: number): void {
  s.users += 1;
  s.sum_n += n;
  s.sum_n2 += n * n;
  s.sum_y += y;
  s.sum_y2 += y * y;
  s.sum_yn += y * n;
}

/** The ratio sums of per-user denominators `n` and numerators `y` (same length). */
export function ratioSumsFromUsers(n: ArrayLike<number>, y: ArrayLike<number>): RatioSums {
  if (n.length !== y.length) throw new RangeError('ratioSumsFromUsers: n and y differ in length');
  const s = emptyRatioSums();
  for (let i = 0; i < n.length; i++) addRatioUser(s, n[i] as number, y[i] as number);
  return s;
}

export interface RatioEstimate {
  /** R = Σy_i / Σn_i. */
  ratio: number;
  /** Delta-method variance of R (null below two users). */
  variance: MaybeNumber;
  users: number;
}

/**
 * Ratio R = Σy_i/Σn_i and its delta-method variance, the user being the unit of analysis
 * (as in GrowthBook's and Statsig's engines for ratio metrics):
 *   Var(R) ≈ (σ_y² − 2R·σ_yn + R²·σ_n²) / (N·μ_n²),
 * with μ_n = Σn_i/N and σ_y², σ_n², σ_yn the sample (N − 1) variances and covariance over users.
 * Since Σ(y_i − R·n_i) = 0, the numerator is the sample variance of the residuals
 * e_i = y_i − R·n_i, which we compute from the sums as
 *   Σe_i² = Σy_i² − 2R·Σy_i·n_i + R²·Σn_i²  (clamped at 0),
 *   Var(R) = Σe_i² / (N − 1) / (N·μ_n²) = N·Σe_i² / ((N − 1)·(Σn_i)²).
 * With one request per user (n_i = 1) this is s_y²/N, the Welch variance of a mean.
 */
export function ratioEstimate(s: RatioSums): RatioEstimate | null {
  if (!(s.users > 0) || !(s.sum_n > 0)) return null;
  const r = s.sum_y / s.sum_n;
  if (s.users < 2) return { ratio: r, variance: null, users: s.users };
  const residualSq = s.sum_y2 - 2 * r * s.sum_yn + r * r * s.sum_n2;
  const variance = (s.users * Math.max(0, residualSq)) / ((s.users - 1) * s.sum_n * s.sum_n);
  return { ratio: r, variance, users: s.users };
}

export interface UserLevelResult {
  diff: MaybeNumber;
  se: MaybeNumber;
  df: MaybeNumber;
  p_value: MaybeNumber;
  significant: boolean;
  ratio_a: MaybeNumber;
  ratio_b: MaybeNumber;
  t: MaybeNumber;
  ci_low: MaybeNumber;
  ci_high: MaybeNumber;
}

/**
 * User-level test of a ratio metric: diff = R_b − R_a, se = √(Var(R_a) + Var(R_b)) with the
 * delta-method variances above, Welch–Satterthwaite df from those components with N_a − 1 and
 * N_b − 1, two-sided p from Student's t. With one request per user it is Welch's t-test.
 */
export function deltaMethodTest(a: RatioSums, b: RatioSums, alpha: number = DEFAULT_ALPHA): UserLevelResult {
  checkAlpha(alpha);
  const ea = ratioEstimate(a);
  const eb = ratioEstimate(b);
  const ratioA = ea?.ratio ?? null;
  const ratioB = eb?.ratio ?? null;
  const diff = ratioA !== null && ratioB !== null ? ratioB - ratioA : null;
  if (diff === null || ea?.variance == null || eb?.variance == null) {
    return { diff, se: null, df: null, p_value: null, significant: false, ratio_a: ratioA, ratio_b: ratioB, t: null, ci_low: null, ci_high: null };
  }
  const r = tTestFromComponents(diff, ea.variance, ea.users - 1, eb.variance, eb.users - 1, alpha);
  return { diff, se: r.se, df: r.df, p_value: r.p_value, significant: r.significant, ratio_a: ratioA, ratio_b: ratioB, t: r.t, ci_low: r.ci_low, ci_high: r.ci_high };
}

// ---------------------------------------------------------------------------------------------
// Per-user totals → the three user-level metrics
// ---------------------------------------------------------------------------------------------

/** One user's totals in one variant of one test. */
export interface UserTotals {
  /** n_i: the user's requests (with a metric). */
  requests: number;
  successes: number;
  latency_sum_ms: number;
  cost_sum: number;
}

/** The user-level sufficient statistics of an arm: one RatioSums per metric (denominator = requests). */
export interface UserLevelSums {
  latency_ms: RatioSums;
  cost_per_request: RatioSums;
  success_rate: RatioSums;
}

export function emptyUserLevelSums(): UserLevelSums {
  return { latency_ms: emptyRatioSums(), cost_per_request: emptyRatioSums(), success_rate: emptyRatioSums() };
}

export function mergeUserLevelSums(a: UserLevelSums, b: UserLevelSums): UserLevelSums {
  return {
    latency_ms: mergeRatioSums(a.latency_ms, b.latency_ms),
    cost_per_request: mergeRatioSums(a.cost_per_request, b.cost_per_request),
    success_rate: mergeRatioSums(a.success_rate, b.success_rate),
  };
}

function ratioContribution(n: number, y: number): RatioSums {
  return { users: 1, sum_n: n, sum_n2: n * n, sum_y: y, sum_y2: y * y, sum_yn: y * n };
}

function ratioDifference(after: RatioSums, before: RatioSums): RatioSums {
  return {
    users: after.users - before.users,
    sum_n: after.sum_n - before.sum_n,
    sum_n2: after.sum_n2 - before.sum_n2,
    sum_y: after.sum_y - before.sum_y,
    sum_y2: after.sum_y2 - before.sum_y2,
    sum_yn: after.sum_yn - before.sum_yn,
  };
}

/** One user's contribution to the user-level sums of the arm. */
export function userContribution(u: UserTotals): UserLevelSums {
  return {
    latency_ms: ratioContribution(u.requests, u.latency_sum_ms),
    cost_per_request: ratioContribution(u.requests, u.cost_sum),
    success_rate: ratioContribution(u.requests, u.successes),
  };
}

/** The user-level sums of an arm from its users' totals. */
export function userLevelSumsFromTotals(users: Iterable<UserTotals>): UserLevelSums {
  let s = emptyUserLevelSums();
  for (const u of users) s = mergeUserLevelSums(s, userContribution(u));
  return s;
}

/**
 * What to add to an arm's stored user-level sums when one user's totals change from `before`
 * (null: the user's first metric) to `after`: contribution(after) − contribution(before).
 * An aggregator that upserts per-user totals (returning the old row) keeps the per-variant sums
 * exact this way; with NUMERIC columns the sums stay exact under any number of updates.
 */
export function userLevelSumsDelta(before: UserTotals | null, after: UserTotals): UserLevelSums {
  const a = userContribution(after);
  if (before === null) return a;
  const b = userContribution(before);
  return {
    latency_ms: ratioDifference(a.latency_ms, b.latency_ms),
    cost_per_request: ratioDifference(a.cost_per_request, b.cost_per_request),
    success_rate: ratioDifference(a.success_rate, b.success_rate),
  };
}

function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
}
