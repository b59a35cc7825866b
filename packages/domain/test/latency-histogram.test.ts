import { describe, expect, it } from '@jest/globals';
import { estimateLatencyQuantile, LATENCY_BUCKET_BOUNDS_MS, LATENCY_BUCKET_COUNT, latencyBucketIndex } from '../src/index.js';

describe('latency histogram', () => {
  it('has 42 buckets over log-spaced bounds from 1 ms to 120 s', () => {
    expect(LATENCY_BUCKET_COUNT).toBe(42);
    expect(LATENCY_BUCKET_BOUNDS_MS[0]).toBe(1);
    expect(LATENCY_BUCKET_BOUNDS_MS.at(-1)).toBeCloseTo(120_000, 6);
    for (let k = 1; k < LATENCY_BUCKET_BOUNDS_MS.length; k++) {
      expect(LATENCY_BUCKET_BOUNDS_MS[k]! / LATENCY_BUCKET_BOUNDS_MS[k - 1]!).toBeCloseTo(120_000 ** (1 / 40), 9);
    }
  });

  it('puts a latency in the bucket whose lower bound it reaches', () => {
    expect(latencyBucketIndex(0)).toBe(0);
    expect(latencyBucketIndex(0.999)).toBe(0);
    expect(latencyBucketIndex(1)).toBe(1);
    expect(latencyBucketIndex(LATENCY_BUCKET_BOUNDS_MS[10]!)).toBe(11);
    expect(latencyBucketIndex(LATENCY_BUCKET_BOUNDS_MS[10]! - 1e-9)).toBe(10);
    expect(latencyBucketIndex(119_999)).toBe(40);
    expect(latencyBucketIndex(120_000)).toBe(41);
    expect(latencyBucketIndex(10_000_000)).toBe(41);
  });

  it('estimates quantiles within one bucket of the exact value', () => {
    // 1,000 latencies spread log-uniformly over 10 ms … 10 s.
    const latencies = Array.from({ length: 1000 }, (_, i) => 10 * 1000 ** (i / 999));
    const buckets = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
    for (const l of latencies) buckets[latencyBucketIndex(l)]! += 1;
    const ratio = 120_000 ** (1 / 40);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = latencies[Math.ceil(q * latencies.length) - 1]!;
      const estimate = estimateLatencyQuantile(buckets, q)!;
      expect(estimate / exact).toBeGreaterThan(1 / ratio);
      expect(estimate / exact).toBeLessThan(ratio);
    }
    expect(estimateLatencyQuantile(new Array(LATENCY_BUCKET_COUNT).fill(0), 0.5)).toBeNull();
    expect(estimateLatencyQuantile(buckets, 0.5, { min: 400, max: 450 })).toBeGreaterThanOrEqual(400);
  });
});
