/**
 * The latency histogram of the product: fixed log-spaced bounds, so histograms of any rows (rollups
 * per minute, hour, model or A/B variant) merge by adding counts. The metric-aggregator fills it,
 * Postgres stores it (`latency_buckets`), routing reads its median and A/B guardrails its tail.
 */

/** A histogram: increasing bucket bounds and one count per bucket (see LATENCY_BUCKET_BOUNDS_MS). */
export interface LatencyHistogram {
  bounds: readonly number[];
  counts: readonly number[];
}

/** bound[k] = 120000^(k/40) ms, k = 0..40: 1 ms … 120 s in steps of ×1.3396. */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = Array.from({ length: 41 }, (_, k) => 120_000 ** (k / 40));
/** Bucket 0 is below 1 ms, bucket k (1–40) is [bound[k-1], bound[k]), bucket 41 is 120 s and above. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_MS.length + 1;

/** The histogram bucket of a latency: the number of bounds at or below it. */
export function latencyBucketIndex(latencyMs: number): number {
  let lo = 0;
  let hi = LATENCY_BUCKET_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (LATENCY_BUCKET_BOUNDS_MS[mid]! <= latencyMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Estimates the q-quantile (0 < q < 1) of a latency histogram, interpolating geometrically inside
 * the bucket that holds it (linearly in the first); clamped to [min, max] when they are known.
 * Null for an empty histogram.
 */
export function estimateLatencyQuantile(
  buckets: readonly number[],
  q: number,
  range: { min?: number; max?: number } = {},
): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let cumulative = 0;
  let estimate = LATENCY_BUCKET_BOUNDS_MS.at(-1)!;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i]!;
    if (count === 0 || cumulative + count < rank) {
      cumulative += count;
      continue;
    }
    const fraction = Math.min(1, Math.max(0, (rank - cumulative) / count));
    if (i === 0) estimate = fraction * LATENCY_BUCKET_BOUNDS_MS[0]!;
    else if (i >= LATENCY_BUCKET_BOUNDS_MS.length) estimate = LATENCY_BUCKET_BOUNDS_MS.at(-1)!;
    else {
      const lo = LATENCY_BUCKET_BOUNDS_MS[i - 1]!;
      const hi = LATENCY_BUCKET_BOUNDS_MS[i]!;
      estimate = lo * (hi / lo) ** fraction;
    }
    break;
  }
  if (range.min !== undefined) estimate = Math.max(estimate, range.min);
  if (range.max !== undefined) estimate = Math.min(estimate, range.max);
  return estimate;
}
