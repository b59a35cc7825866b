/**
 * The probability distributions the A/B statistics need, from the stdlib.js project
 * (`@stdlib/*`: ports of Cephes / Boost algorithms, accurate to ~1e-15 relative error in the
 * tails as well as the body; checked against SciPy in test/abtest.statistics.test.ts).
 *
 * Tail probabilities are always computed from the tail itself (t CDF at −|t|, the upper
 * regularized incomplete gamma for χ²) — never as `1 − cdf`, which loses every digit below
 * ~1e-16 and would print p = 0 for a large SRM.
 */
import gammainc from '@stdlib/math-base-special-gammainc';
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantileStd from '@stdlib/stats-base-dists-normal-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantileStd from '@stdlib/stats-base-dists-t-quantile';

/** Two-sided p-value of a Student t statistic: P(|T_df| ≥ |t|) = 2·F_df(−|t|). */
export function tTwoSidedP(t: number, df: number): number {
  return Math.min(1, 2 * tCdf(-Math.abs(t), df));
}

/** Quantile of Student's t with `df` degrees of freedom (df may be fractional, as Welch's is). */
export function tQuantile(p: number, df: number): number {
  return tQuantileStd(p, df);
}

/** Two-sided p-value of a standard normal statistic: P(|Z| ≥ |z|) = 2·Φ(−|z|). */
export function normalTwoSidedP(z: number): number {
  return Math.min(1, 2 * normalCdf(-Math.abs(z), 0, 1));
}

/** Standard normal quantile Φ⁻¹(p). */
export function normalQuantile(p: number): number {
  return normalQuantileStd(p, 0, 1);
}

/**
 * Upper tail of the χ² distribution with k degrees of freedom: P(X ≥ x) = Q(k/2, x/2), the upper
 * regularized incomplete gamma function.
 */
export function chiSquareUpperTail(x: number, k: number): number {
  if (x <= 0) return 1;
  return gammainc(x / 2, k / 2, true, true);
}
