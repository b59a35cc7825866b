/**
 * CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the sensitivity of online controlled
 * experiments by utilizing pre-experiment data") for the user-level ratio metrics (latency and cost
 * per request), with the delta-method linearization the user-level tests already use.
 *
 * User i of an arm has, in the test, n_i requests with sum y_i; before the test started (the
 * pre-period window), m_i requests with sum x_i (m_i = x_i = 0 without history). The in-test ratio
 * R = Σy/Σn moves with the mean of the linearized values L_i = (y_i − R·n_i)/μ_n. The covariate is
 * the same linearization of the pre-period usage, X_i = x_i − R_x·m_i, with R_x = Σx/Σm pooled over
 * both arms (a pre-treatment constant). X is fixed before assignment, so X̄_b − X̄_a has mean 0 and
 * removing θ·(X̄_b − X̄_a) from the difference leaves it unbiased while removing the part of its
 * noise that history predicts:
 *   θ      = Σ_arms Cov(L, X)·(N − 1) / Σ_arms Var(X)·(N − 1)          (pooled within-arm slope)
 *   diff'  = (R_b − R_a) − θ·(X̄_b − X̄_a)
 *   Var_j' = (Var(L) − 2θ·Cov(L, X) + θ²·Var(X)) / N_j,   variance_reduction = 1 − ΣVar'/ΣVar.
 * Every quantity comes from mergeable per-arm sums (CupedSums beside RatioSums), so the read model
 * aggregates them in SQL. Without history in either arm (Var(X) = 0), or when the metric itself does
 * not vary, the unadjusted figures are returned with `applied: false` and a variance reduction of 0.
 */
import { DEFAULT_ALPHA, type MaybeNumber, type RatioSums, tTestFromComponents } from './statistics.js';

/**
 * Per-arm sums linking each user's in-test totals (n_i requests, sum y_i) to their pre-period
 * totals (m_i requests, sum x_i). Users without history contribute zeros (and to `users` only
 * through RatioSums).
 */
export interface CupedSums {
  users_with_history: number;
  sum_x: number;
  sum_x2: number;
  sum_m: number;
  sum_m2: number;
  sum_xm: number;
  sum_yx: number;
  sum_ym: number;
  sum_nx: number;
  sum_nm: number;
}

export function emptyCupedSums(): CupedSums {
  return { users_with_history: 0, sum_x: 0, sum_x2: 0, sum_m: 0, sum_m2: 0, sum_xm: 0, sum_yx: 0, sum_ym: 0, sum_nx: 0, sum_nm: 0 };
}

/** Adds one user (in-test n, y; pre-period m, x) to `c` in place. */
export function addCupedUser(c: CupedSums, n: number, y: number, m: number, x: number): void {
  if (m > 0) c.users_with_history += 1;
  c.sum_x += x;
  c.sum_x2 += x * x;
  c.sum_m += m;
  c.sum_m2 += m * m;
  c.sum_xm += x * m;
  c.sum_yx += y * x;
  c.sum_ym += y * m;
  c.sum_nx += n * x;
  c.sum_nm += n * m;
}

export interface CupedResult {
  diff: MaybeNumber;
  se: MaybeNumber;
  df: MaybeNumber;
  p_value: MaybeNumber;
  significant: boolean;
  /** 1 − adjusted variance / unadjusted variance of the difference (0 when not applied). */
  variance_reduction: number;
  theta: number;
  users_with_history: number;
  /** False when no user of either arm has pre-period history: the figures are the unadjusted ones. */
  applied: boolean;
}

interface ArmMoments {
  users: number;
  ratio: number;
  varL: number;
  meanX: number;
  varX: number;
  covLX: number;
}

function armMoments(s: RatioSums, c: CupedSums, rx: number): ArmMoments | null {
  const N = s.users;
  if (!(N >= 2) || !(s.sum_n > 0)) return null;
  const r = s.sum_y / s.sum_n;
  const muN = s.sum_n / N;
  const residualSq = Math.max(0, s.sum_y2 - 2 * r * s.sum_yn + r * r * s.sum_n2);
  const varL = residualSq / (muN * muN) / (N - 1);
  const sumX = c.sum_x - rx * c.sum_m;
  const sumX2 = c.sum_x2 - 2 * rx * c.sum_xm + rx * rx * c.sum_m2;
  const meanX = sumX / N;
  const varX = Math.max(0, (sumX2 - N * meanX * meanX) / (N - 1));
  // Σ L_i = 0 by the choice of R, so Cov(L, X) = Σ L_i·X_i / (N − 1).
  const sumLX = (c.sum_yx - rx * c.sum_ym - r * c.sum_nx + r * rx * c.sum_nm) / muN;
  return { users: N, ratio: r, varL, meanX, varX, covLX: sumLX / (N - 1) };
}

/** CUPED-adjusted user-level test of R_b − R_a (see the file comment). */
export function cupedTest(a: RatioSums, ca: CupedSums, b: RatioSums, cb: CupedSums, alpha: number = DEFAULT_ALPHA): CupedResult {
  const withHistory = ca.users_with_history + cb.users_with_history;
  const none: CupedResult = { diff: null, se: null, df: null, p_value: null, significant: false, variance_reduction: 0, theta: 0, users_with_history: withHistory, applied: false };
  const totalM = ca.sum_m + cb.sum_m;
  const rx = totalM > 0 ? (ca.sum_x + cb.sum_x) / totalM : 0;
  const ma = armMoments(a, ca, rx);
  const mb = armMoments(b, cb, rx);
  if (!ma || !mb) {
    const diff = a.sum_n > 0 && b.sum_n > 0 ? b.sum_y / b.sum_n - a.sum_y / a.sum_n : null;
    return { ...none, diff };
  }
  const sxx = ma.varX * (ma.users - 1) + mb.varX * (mb.users - 1);
  const sxl = ma.covLX * (ma.users - 1) + mb.covLX * (mb.users - 1);
  const rawVariance = ma.varL / ma.users + mb.varL / mb.users;
  // Nothing to reduce when the metric does not vary (every request costs the same), nor with a
  // covariate that does not (every user's history at one price per request: X_i = 0, and its
  // variance computed from the sums is cancellation noise of ~1e-16·Σx²; below 1e-9 of that scale
  // it counts as none): a slope fitted to rounding noise would only invent a variance.
  const covariateScale = ca.sum_x2 + cb.sum_x2 + rx * rx * (ca.sum_m2 + cb.sum_m2);
  const applied = withHistory > 0 && sxx > 1e-9 * covariateScale && rawVariance > 0;
  const theta = applied ? sxl / sxx : 0;
  const adjustedVar = (m: ArmMoments) => Math.max(0, m.varL - 2 * theta * m.covLX + theta * theta * m.varX) / m.users;
  const va = adjustedVar(ma);
  const vb = adjustedVar(mb);
  const diff = mb.ratio - ma.ratio - theta * (mb.meanX - ma.meanX);
  const t = tTestFromComponents(diff, va, ma.users - 1, vb, mb.users - 1, alpha);
  const reduction = applied && rawVariance > 0 ? 1 - (va + vb) / rawVariance : 0;
  return {
    diff,
    se: t.se,
    df: t.df,
    p_value: t.p_value,
    significant: t.significant,
    variance_reduction: reduction,
    theta,
    users_with_history: withHistory,
    applied,
  };
}
