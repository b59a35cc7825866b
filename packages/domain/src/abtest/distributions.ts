/**
 * The probability distributions the A/B statistics need, from the stdlib.js project
 * (`@stdlib/*`: ports of Cephes / Boost algorithms, accurate to ~1e-15 relative error in the
 * tails as well as the body; checked against SciPy in test/abtest.statistics.test.ts).
 *
 * Tail probabilities are always computed from the tail itself (t CDF at −|t|, the upper
 * regularized incomplete gamma for χ²) — never as `1 − cdf`, which loses every digit below
 * ~1e-16 and would print p = 0 for a large SRM.
 */
import { createRequire } from 'node:module';

interface Stdlib {
  gammainc: typeof import('@stdlib/math-base-special-gammainc');
  normalCdf: typeof import('@stdlib/stats-base-dists-normal-cdf');
  normalQuantileStd: typeof import('@stdlib/stats-base-dists-normal-quantile');
  tCdf: typeof import('@stdlib/stats-base-dists-t-cdf');
  tQuantileStd: typeof import('@stdlib/stats-base-dists-t-quantile');
}

// These modules cost ~20 MB of memory once imported, and only A/B results use them (the API, on
// request); every process importing the domain package would pay it with static imports. Loaded
// together on first use instead, synchronously (they are CommonJS).
const require = createRequire(import.meta.url);
let loaded: Stdlib | undefined;
function stdlib(): Stdlib {
  loaded ??= {
    gammainc: require('@stdlib/math-base-special-gammainc') as Stdlib['gammainc'],
    normalCdf: require('@stdlib/stats-base-dists-normal-cdf') as Stdlib['normalCdf'],
    normalQuantileStd: require('@stdlib/stats-base-dists-normal-quantile') as Stdlib['normalQuantileStd'],
    tCdf: require('@stdlib/stats-base-dists-t-cdf') as Stdlib['tCdf'],
    tQuantileStd: require('@stdlib/stats-base-dists-t-quantile') as Stdlib['tQuantileStd'],
  };
  return loaded;
}

/** Two-sided p-value of a Student t statistic: P(|T_df| ≥ |t|) = 2·F_df(−|t|). */
export function tTwoSidedP(t: number, df: number): number {
  return Math.min(1, 2 * stdlib().tCdf(-Math.abs(t), df));
}

/** Quantile of Student's t with `df` degrees of freedom (df may be fractional, as Welch's is). */
export function tQuantile(p: number, df: number): number {
  return stdlib().tQuantileStd(p, df);
}

/** Two-sided p-value of a standard normal statistic: P(|Z| ≥ |z|) = 2·Φ(−|z|). */
export function normalTwoSidedP(z: number): number {
  return Math.min(1, 2 * stdlib().normalCdf(-Math.abs(z), 0, 1));
}

/** Standard normal quantile Φ⁻¹(p). */
export function normalQuantile(p: number): number {
  return stdlib().normalQuantileStd(p, 0, 1);
}

/**
 * Upper tail of the χ² distribution with k degrees of freedom: P(X ≥ x) = Q(k/2, x/2), the upper
 * regularized incomplete gamma function.
 */
export function chiSquareUpperTail(x: number, k: number): number {
  if (x <= 0) return 1;
  return stdlib().gammainc(x / 2, k / 2, true, true);
}
