/**
 * Confidence intervals of one variant on its own (the operator page draws them): the Wilson score
 * interval of a success rate and the Student t interval of a mean. The comparisons between
 * variants (analysis.ts) are what decides a test; these show each variant's uncertainty.
 */
import { normalQuantile, tQuantile } from './distributions.js';
import { meanOf, type MaybeNumber, type MomentSums, varianceOf } from './statistics.js';

export interface Interval {
  estimate: MaybeNumber;
  ci_low: MaybeNumber;
  ci_high: MaybeNumber;
}

const NONE: Interval = { estimate: null, ci_low: null, ci_high: null };

/** Wilson score interval of `successes` out of `n` at level 1 − alpha (well-behaved near 0 and 1 and for small n). */
export function wilsonInterval(successes: number, n: number, alpha = 0.05): Interval {
  if (n <= 0) return NONE;
  const p = successes / n;
  const z = normalQuantile(1 - alpha / 2);
  const z2n = (z * z) / n;
  const center = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  return { estimate: p, ci_low: Math.max(0, center - half), ci_high: Math.min(1, center + half) };
}

/** Student t interval of the mean of `m` at level 1 − alpha; no bounds below two observations. */
export function meanInterval(m: MomentSums, alpha = 0.05): Interval {
  const mean = meanOf(m);
  const variance = varianceOf(m);
  if (mean === null) return NONE;
  if (variance === null) return { estimate: mean, ci_low: null, ci_high: null };
  const half = tQuantile(1 - alpha / 2, m.n - 1) * Math.sqrt(variance / m.n);
  return { estimate: mean, ci_low: mean - half, ci_high: mean + half };
}
