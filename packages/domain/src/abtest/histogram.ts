/**
 * Latency percentiles from a bucketed histogram (mergeable by adding counts, so rollups can keep
 * it per variant).
 *
 * Buckets: `bounds` are increasing upper bounds b_0 < b_1 < … < b_{m−1}; bucket j holds values in
 * (b_{j−1}, b_j], bucket 0 holds [0, b_0]. `counts[j]` is bucket j's count (not cumulative);
 * an optional last count `counts[m]` is the overflow bucket (b_{m−1}, ∞).
 *
 * Quantile q: the rank r = q·N (N the total count) falls in the first bucket j whose cumulative
 * count C_j ≥ r; within it the values are taken as evenly spread, so
 *   value = lo_j + (hi_j − lo_j)·(r − C_{j−1}) / counts[j]
 * (linear interpolation, as Prometheus' histogram_quantile does). A rank in the overflow bucket
 * has no upper bound to interpolate towards and answers the last finite bound b_{m−1}: a lower
 * bound on the true quantile.
 */

/** Default latency bucket upper bounds in milliseconds. */
export const DEFAULT_LATENCY_BUCKETS_MS: readonly number[] = [
  5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000,
  60000, 120000,
];

export interface LatencyHistogram {
  bounds: readonly number[];
  counts: readonly number[];
}

function checkBounds(bounds: readonly number[]): void {
  if (bounds.length === 0) throw new RangeError('histogram: no bucket bounds');
  for (let i = 0; i < bounds.length; i++) {
    const b = bounds[i] as number;
    if (!Number.isFinite(b) || b < 0) throw new RangeError('histogram: bounds must be finite and ≥ 0');
    if (i > 0 && !(b > (bounds[i - 1] as number))) throw new RangeError('histogram: bounds must increase');
  }
}

/** Index of the bucket that holds `value` (bounds.length for the overflow bucket). */
export function histogramBucketIndex(bounds: readonly number[], value: number): number {
  let lo = 0;
  let hi = bounds.length;
  // First index whose bound is ≥ value (binary search).
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((bounds[mid] as number) >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Empty counts for `bounds` (with the overflow bucket). */
export function emptyHistogramCounts(bounds: readonly number[]): number[] {
  return new Array<number>(bounds.length + 1).fill(0);
}

/** Adds bucket-wise; both must have the same bounds. */
export function mergeHistogramCounts(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError('mergeHistogramCounts: different bucket layouts');
  return a.map((x, i) => x + (b[i] as number));
}

/** Quantile q ∈ [0, 1] by linear interpolation within the bucket (null when empty). */
export function histogramQuantile(h: LatencyHistogram, q: number): number | null {
  checkBounds(h.bounds);
  const { bounds, counts } = h;
  if (counts.length !== bounds.length && counts.length !== bounds.length + 1) {
    throw new RangeError('histogramQuantile: counts must have bounds.length or bounds.length + 1 entries');
  }
  if (!(q >= 0 && q <= 1)) throw new RangeError(`histogramQuantile: q must be in [0, 1], got ${q}`);
  let total = 0;
  for (const c of counts) {
    if (!(c >= 0)) throw new RangeError('histogramQuantile: counts must be ≥ 0');
    total += c;
  }
  if (total === 0) return null;
  const rank = q * total;
  let cumulative = 0;
  for (let j = 0; j < counts.length; j++) {
    const c = counts[j] as number;
    if (c === 0) continue;
    if (cumulative + c >= rank) {
      if (j >= bounds.length) return bounds[bounds.length - 1] as number; // overflow bucket
      const lo = j === 0 ? 0 : (bounds[j - 1] as number);
      const hi = bounds[j] as number;
      return lo + ((hi - lo) * Math.max(0, rank - cumulative)) / c;
    }
    cumulative += c;
  }
  return bounds[bounds.length - 1] as number;
}

/** p50 and p95 of a latency histogram. */
export function latencyPercentiles(h: LatencyHistogram): { p50: number | null; p95: number | null } {
  return { p50: histogramQuantile(h, 0.5), p95: histogramQuantile(h, 0.95) };
}
