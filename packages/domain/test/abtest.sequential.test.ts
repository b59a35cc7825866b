/**
 * Confidence sequences and always-valid p-values (src/abtest/sequential.ts): the closed forms agree
 * with each other, and under continuous peeking the sequence holds its level where the
 * fixed-horizon test does not (seeded simulation, sized for the unit tier).
 */
import fc from 'fast-check';
import { confidenceSequence, normalQuantile, sequentialHalfWidth, sequentialPValue, sequentialRho, simulatePeeking } from '../src/index.js';

describe('confidence sequence formulas', () => {
  it('ρ follows eq. 161 for α = 0.05 and N = 5000', () => {
    const l = Math.log(0.05);
    expect(sequentialRho(0.05, 5000)).toBeCloseTo(Math.sqrt((-2 * l + Math.log(-2 * l + 1)) / 5000), 15);
    expect(() => sequentialRho(0, 10)).toThrow(RangeError);
    expect(() => sequentialRho(0.05, 0)).toThrow(RangeError);
  });

  it('p < α exactly when the interval at α excludes 0 (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.double({ min: 0.01, max: 5, noNaN: true }),
        fc.integer({ min: 2, max: 1_000_000 }),
        fc.constantFrom(0.01, 0.05, 0.1),
        fc.integer({ min: 10, max: 100_000 }),
        (diff, se, n, alpha, tuning) => {
          const cs = confidenceSequence(diff, se, n, alpha, tuning);
          const excludes = cs.ci_low! > 0 || cs.ci_high! < 0;
          // Away from the boundary itself (rounding), the two agree.
          if (Math.abs(Math.abs(diff) - (cs.ci_high! - diff)) > 1e-9 * (1 + Math.abs(diff))) expect(cs.significant).toBe(excludes);
          expect(cs.p_value!).toBeGreaterThanOrEqual(0);
          expect(cs.p_value!).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('is wider than the fixed-horizon interval and its p-value larger', () => {
    const se = 1;
    for (const n of [100, 1000, 10_000]) {
      const rho = sequentialRho(0.05, 2000);
      expect(sequentialHalfWidth(se, n, 0.05, rho)).toBeGreaterThan(normalQuantile(0.975) * se);
      expect(sequentialPValue(2.5, se, n, rho)).toBeGreaterThan(0.0124); // fixed-horizon p of z = 2.5
    }
  });

  it('is tightest, relative to the fixed interval, near the tuning value N', () => {
    const rho = sequentialRho(0.05, 2000);
    // Per-observation variance 1: se = 1/√n.
    const ratio = (n: number) => sequentialHalfWidth(1 / Math.sqrt(n), n, 0.05, rho) / (normalQuantile(0.975) / Math.sqrt(n));
    expect(ratio(2000)).toBeLessThan(ratio(100));
    expect(ratio(2000)).toBeLessThan(ratio(200_000));
  });

  it('gives nulls when the standard error is not defined', () => {
    expect(confidenceSequence(null, 1, 10, 0.05, 100)).toEqual({ ci_low: null, ci_high: null, p_value: null, significant: false });
    expect(confidenceSequence(1, 0, 10, 0.05, 100).p_value).toBeNull();
    expect(confidenceSequence(1, null, 10, 0.05, 100).significant).toBe(false);
  });
});

describe('continuous peeking (seeded simulation: a look after every 100 users)', () => {
  const ALPHA = 0.05;
  it('A/A, 1,000 runs: sequential false-positive rate ≤ α + 1 %, fixed-horizon far above α', () => {
    const r = simulatePeeking({ runs: 1000, users: 1000, look_every: 100, alpha: ALPHA, effect: 0, seed: 1401 });
    const seq = r.sequential_rejections / r.runs;
    const fixed = r.fixed_horizon_rejections / r.runs;
    console.log(`peeking A/A: ${r.runs} runs × ${r.looks_per_run} looks: fixed-horizon FPR ${(100 * fixed).toFixed(1)} %, sequential FPR ${(100 * seq).toFixed(1)} %`);
    expect(r.looks_per_run).toBe(10);
    expect(seq).toBeLessThanOrEqual(ALPHA + 0.01);
    expect(fixed).toBeGreaterThan(2 * ALPHA);
  });

  it('with a real effect, the 95 % sequence covers the true difference at every look in ≥ 94 % of runs', () => {
    const r = simulatePeeking({ runs: 1000, users: 1000, look_every: 100, alpha: ALPHA, effect: 0.05, seed: 1402 });
    const coverage = r.sequential_covered / r.runs;
    const fixedCoverage = r.fixed_horizon_covered / r.runs;
    console.log(`peeking A/B (+5 %): sequence covers at every look in ${(100 * coverage).toFixed(1)} % of runs; fixed-horizon interval ${(100 * fixedCoverage).toFixed(1)} %`);
    expect(coverage).toBeGreaterThanOrEqual(0.94);
    expect(fixedCoverage).toBeLessThan(0.9);
  });
});
