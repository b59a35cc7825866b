/**
 * Asymptotic confidence sequences (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, 2023,
 * "Time-uniform central limit theory and asymptotic confidence sequences"), in the two-sided form
 * GrowthBook uses for its sequential testing.
 *
 * A fixed-horizon interval covers the true difference with probability 1 − α at ONE look chosen in
 * advance; a confidence sequence covers it at every look at once, so a dashboard may be read after
 * every request without inflating the false-positive rate. The price is a wider interval, tightest
 * around the planned sample size (the tuning value N, through ρ).
 *
 * With n observations in total, an estimate whose variance is se² (so a per-observation variance
 * s² = se²·n), and ρ tuned for N:
 *   ρ         = √((−2·ln α + ln(−2·ln α + 1)) / N)                          (their eq. 161)
 *   halfwidth = √s² · √(2(nρ² + 1) · ln(√(nρ² + 1)/α) / (nρ)²)               (their eq. 9)
 * and the always-valid p-value is the smallest α whose sequence excludes 0, in closed form
 * (1 / the mixture e-value, their eq. 155):
 *   p = min(1, √(nρ² + 1) · exp(−ρ²·n·diff² / (2·se²·(nρ² + 1)))).
 * p < α exactly when the sequence at level α excludes 0 (with ρ held at its design value).
 */
import type { MaybeNumber } from './statistics.js';

export interface SequentialResult {
  ci_low: MaybeNumber;
  ci_high: MaybeNumber;
  p_value: MaybeNumber;
  significant: boolean;
}

export const NO_SEQUENTIAL: SequentialResult = Object.freeze({ ci_low: null, ci_high: null, p_value: null, significant: false });

/** The mixing parameter ρ for a sequence tightest near N observations in total. */
export function sequentialRho(alpha: number, tuningN: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`sequentialRho: alpha must be in (0, 1), got ${alpha}`);
  if (!(tuningN > 0) || !Number.isFinite(tuningN)) throw new RangeError(`sequentialRho: N must be > 0, got ${tuningN}`);
  const logAlpha = Math.log(alpha);
  return Math.sqrt((-2 * logAlpha + Math.log(-2 * logAlpha + 1)) / tuningN);
}

/** Half-width of the confidence sequence for an estimate with standard error `se` after `n` observations. */
export function sequentialHalfWidth(se: number, n: number, alpha: number, rho: number): number {
  const nRho2 = n * rho * rho;
  const perObservationVariance = se * se * n;
  return Math.sqrt(perObservationVariance) * Math.sqrt((2 * (nRho2 + 1) * Math.log(Math.sqrt(nRho2 + 1) / alpha)) / (n * rho * (n * rho)));
}

/** The always-valid two-sided p-value of `diff` (H0: difference 0), computed in log space. */
export function sequentialPValue(diff: number, se: number, n: number, rho: number): number {
  const nRho2 = n * rho * rho;
  const t2 = (diff * diff) / (se * se);
  // log e-value = ρ²·n·t² / (2(nρ² + 1)) − ½·ln(nρ² + 1), with t² = diff²/se².
  const logE = (nRho2 * t2) / (2 * (nRho2 + 1)) - 0.5 * Math.log(nRho2 + 1);
  return logE <= 0 ? 1 : Math.min(1, Math.exp(-logE));
}

/**
 * The confidence sequence and always-valid p-value of a difference with standard error `se`,
 * after `n` units (users of both arms) of a test planned for `tuningN` units in total.
 * Null figures when the difference or its standard error is not defined (or n < 1).
 */
export function confidenceSequence(
  diff: MaybeNumber,
  se: MaybeNumber,
  n: number,
  alpha: number,
  tuningN: number,
): SequentialResult {
  if (diff === null || se === null || !(se > 0) || !Number.isFinite(se) || !(n >= 1)) return NO_SEQUENTIAL;
  const rho = sequentialRho(alpha, tuningN);
  const half = sequentialHalfWidth(se, n, alpha, rho);
  const p = sequentialPValue(diff, se, n, rho);
  return { ci_low: diff - half, ci_high: diff + half, p_value: p, significant: p < alpha };
}
