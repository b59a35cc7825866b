import { describe, expect, it } from '@jest/globals';
import { meanInterval, momentsFromValues, wilsonInterval } from '../src/index.js';

describe('confidence intervals of one variant', () => {
  it('Wilson score interval of a proportion (reference values)', () => {
    // 8 of 10 at 95 %: [0.4902, 0.9433] (Wilson 1927; e.g. Newcombe 1998, method 3).
    const ci = wilsonInterval(8, 10);
    expect(ci.estimate).toBe(0.8);
    expect(ci.ci_low).toBeCloseTo(0.4902, 4);
    expect(ci.ci_high).toBeCloseTo(0.9433, 4);
    // Stays inside [0, 1] at the edges, and is empty without observations.
    expect(wilsonInterval(0, 20).ci_low).toBe(0);
    expect(wilsonInterval(20, 20).ci_high).toBe(1);
    expect(wilsonInterval(0, 0)).toEqual({ estimate: null, ci_low: null, ci_high: null });
  });

  it('Student t interval of a mean (reference values)', () => {
    // Mean 5, sd √(2.5) of 1..9 step 2; t(0.975, 4) = 2.776445: 5 ± 2.776445 · √(10/5) / … computed below.
    const values = [1, 3, 5, 7, 9];
    const ci = meanInterval(momentsFromValues(values));
    const half = 2.7764451 * Math.sqrt(10 / 5);
    expect(ci.estimate).toBe(5);
    expect(ci.ci_low).toBeCloseTo(5 - half, 5);
    expect(ci.ci_high).toBeCloseTo(5 + half, 5);
    expect(meanInterval(momentsFromValues([4]))).toEqual({ estimate: 4, ci_low: null, ci_high: null });
    expect(meanInterval(momentsFromValues([]))).toEqual({ estimate: null, ci_low: null, ci_high: null });
  });
});
