import fc from 'fast-check';
import {
  type AbVariantStats,
  analyze,
  chiSquarePValue,
  deltaMethodTest,
  emptyUserLevelSums,
  mergeMoments,
  mergeUserLevelSums,
  momentsFromMeanSd,
  momentsFromValues,
  normalQuantile,
  normalTwoSidedP,
  pearsonChiSquare2x2,
  ratioEstimate,
  ratioSumsFromUsers,
  srmTest,
  sumSquaredDeviations,
  tQuantile,
  tTwoSidedP,
  twoProportionZTest,
  type UserTotals,
  userLevelSumsDelta,
  userLevelSumsFromTotals,
  varianceOf,
  welchTTest,
  seededRandom,
} from '../src/index.js';

/**
 * Expect `actual` to equal `expected` (given as a decimal string) to as many significant digits
 * as the string has (at least 4): the reference values are quoted that way.
 */
function expectSig(actual: number | null, expected: string): void {
  expect(actual).not.toBeNull();
  const digits = Math.max(4, expected.replace(/^[-+]?0*\.?0*/, '').replace('.', '').length);
  expect(Number((actual as number).toPrecision(digits))).toBe(Number(Number(expected).toPrecision(digits)));
}

function expectRel(actual: number | null, expected: number, rel: number): void {
  expect(actual).not.toBeNull();
  expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(rel * Math.abs(expected));
}

describe('distributions (stdlib) against SciPy 1.17 (scipy.stats t.sf, t.ppf, norm.sf, chi2.sf)', () => {
  it.each([
    [2.324, 5841.74, 0.020159623425767808],
    [2.324, 1e6, 0.020125693363313976],
    [6, 5000, 2.112096283305395e-9],
    [10, 3000, 3.500489057064605e-23],
    [0.5, 1e9, 0.6170750775619943],
  ])('two-sided t p-value: t = %d, df = %d → %d', (t, df, p) => {
    expectRel(tTwoSidedP(t, df), p, 1e-9);
    expectRel(tTwoSidedP(-t, df), p, 1e-9);
  });

  it('t quantiles for fractional df', () => {
    expectRel(tQuantile(0.975, 5841.74), 1.9603701570957996, 1e-12);
    expectRel(tQuantile(0.975, 1988.6), 1.9611576339498664, 1e-12);
    expectRel(tQuantile(0.999, 1e6), 3.09024045631652, 1e-12);
  });

  it('normal and χ² tails far out (no 1 − cdf cancellation)', () => {
    expectRel(normalTwoSidedP(8), 1.244192114854348e-15, 1e-9);
    expectRel(normalQuantile(0.975), 1.959963984540054, 1e-14);
    expectRel(chiSquarePValue(185.23, 1), 3.4961267296654893e-42, 1e-9);
  });
});

describe("Welch's t-test (reference values)", () => {
  it('n=3407, Σx=1396.87, Σx²=52377.9767 vs n=3461, Σx=2422.7, Σx²=134698.29', () => {
    const r = welchTTest({ n: 3407, sum: 1396.87, sum_sq: 52377.9767 }, { n: 3461, sum: 2422.7, sum_sq: 134698.29 });
    expectSig(r.diff, '0.29');
    expectSig(r.se, '0.124784');
    expectSig(r.t, '2.3240');
    expectSig(r.df, '5841.74');
    expectSig(r.p_value, '0.020158');
    expectSig(r.ci_low, '0.04538');
    expectSig(r.ci_high, '0.53462');
    expect(r.significant).toBe(true);
  });

  it('n=1000, mean 820, sd 300 vs n=1000, mean 790, sd 280 (diff = second − first)', () => {
    const r = welchTTest(momentsFromMeanSd(1000, 820, 300), momentsFromMeanSd(1000, 790, 280));
    expectSig(r.diff, '-30');
    expectSig(r.t, '-2.312');
    expectSig(r.df, '1988.6');
    expectSig(r.p_value, '0.02089');
    expectSig(r.ci_low, '-55.45');
    expectSig(r.ci_high, '-4.55');
    expect(r.significant).toBe(true);
  });

  it('swapping the arms flips the sign of diff, t and the CI and keeps p and df', () => {
    const a = momentsFromMeanSd(1000, 820, 300);
    const b = momentsFromMeanSd(1000, 790, 280);
    const ab = welchTTest(a, b);
    const ba = welchTTest(b, a);
    expect(ba.diff).toBeCloseTo(-(ab.diff as number), 12);
    expect(ba.t).toBeCloseTo(-(ab.t as number), 12);
    expect(ba.ci_low).toBeCloseTo(-(ab.ci_high as number), 9);
    expect(ba.p_value).toBeCloseTo(ab.p_value as number, 15);
    expect(ba.df).toBeCloseTo(ab.df as number, 9);
  });

  it('is not significant at α = 0.01 where p = 0.0209, and the CI widens', () => {
    const r = welchTTest(momentsFromMeanSd(1000, 820, 300), momentsFromMeanSd(1000, 790, 280), 0.01);
    expect(r.significant).toBe(false);
    expect(r.ci_low! < 0 && r.ci_high! > 0).toBe(true);
  });

  it('gives nulls, not NaN, when an arm has fewer than two observations or there is no variance', () => {
    const one = welchTTest(momentsFromValues([5]), momentsFromValues([1, 2, 3]));
    expect(one).toMatchObject({ diff: -3, se: null, t: null, df: null, p_value: null, significant: false });
    const flat = welchTTest(momentsFromValues([2, 2, 2]), momentsFromValues([3, 3, 3]));
    expect(flat).toMatchObject({ diff: 1, t: null, p_value: null, ci_low: null, significant: false });
    expect(JSON.parse(JSON.stringify(flat))).toEqual(flat);
    const empty = welchTTest(momentsFromValues([]), momentsFromValues([1, 2]));
    expect(empty.diff).toBeNull();
  });
});

describe('moments', () => {
  it('merge by addition and agree with a two-pass variance', () => {
    const xs = [812.5, 790.1, 1500, 333.3, 920.75, 610, 77.7];
    const m = mergeMoments(momentsFromValues(xs.slice(0, 3)), momentsFromValues(xs.slice(3)));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const twoPass = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
    expectRel(varianceOf(m), twoPass, 1e-12);
  });

  it('keep the variance when the mean dwarfs the spread (exact integer sums)', () => {
    // 100 values 9,400,003 + 3k, k = 0..99: Σx and Σx² (< 2^53) are exact doubles, and the true
    // M2 = 9·Σ(k − 49.5)² = 749,925. The plain Σx² − (Σx)²/n rounds (Σx)² ≈ 8.8·10^17 (ulp 128)
    // and answers 749,924; the double-double evaluation keeps every digit.
    const xs = Array.from({ length: 100 }, (_, k) => 9_400_003 + 3 * k);
    const m = momentsFromValues(xs);
    expect(Number.isSafeInteger(m.sum_sq)).toBe(true);
    expect(m.sum_sq - (m.sum * m.sum) / m.n).toBe(749_924);
    expect(sumSquaredDeviations(m)).toBe(749_925);
  });

  it('clamp a tiny negative M2 from rounding to 0', () => {
    const m = momentsFromValues([0.1, 0.1, 0.1]);
    expect(varianceOf(m)).toBeGreaterThanOrEqual(0);
    expect(varianceOf(m)).toBeLessThan(1e-15);
    expect(varianceOf({ n: 2, sum: 2, sum_sq: 1.9999999 })).toBe(0);
  });
});

describe('two-proportion z-test', () => {
  it('920/1000 vs 945/1000 → z 2.2282, χ² 4.9648, p 0.02587 (reference)', () => {
    const r = twoProportionZTest({ n: 1000, successes: 920 }, { n: 1000, successes: 945 });
    expectSig(r.diff, '0.025');
    expectSig(r.z, '2.2282');
    expectSig(r.chi_square, '4.9648');
    expectSig(r.p_value, '0.02587');
    expect(r.significant).toBe(true);
    // Wald interval with the unpooled SE: 0.025 ± 1.959964 × 0.0112060.
    expectSig(r.ci_low, '0.0030366');
    expectSig(r.ci_high, '0.046963');
  });

  it("equals Pearson's χ² without continuity correction (1 df) on any table", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5000 }), fc.integer({ min: 2, max: 5000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (na, nb, fa, fb) => {
        const a = { n: na, successes: Math.round(fa * na) };
        const b = { n: nb, successes: Math.round(fb * nb) };
        const r = twoProportionZTest(a, b);
        const chi = pearsonChiSquare2x2(a, b);
        if (chi === null) {
          expect(r.z).toBeNull();
          return;
        }
        expectRel(r.chi_square, chi, 1e-9);
        expectRel(r.z! * r.z!, chi, 1e-9);
        expect(Math.abs(r.p_value! - chiSquarePValue(chi, 1))).toBeLessThan(1e-12);
      }),
      { numRuns: 500, seed: 3 },
    );
  });

  it('has no test when every request in both arms succeeded', () => {
    const r = twoProportionZTest({ n: 50, successes: 50 }, { n: 60, successes: 60 });
    expect(r).toMatchObject({ diff: 0, z: null, p_value: null, significant: false });
  });
});

describe('sample ratio mismatch', () => {
  it('5000/5200 at 50/50 → χ² 3.9216, p 0.0477, no mismatch', () => {
    const r = srmTest([5000, 5200], [0.5, 0.5]);
    expectSig(r.chi_square, '3.9216');
    // The reference quotes p to 3 digits (0.0477); SciPy's chi2.sf(200/51, 1) = 0.0476703806561615.
    expect(Number(r.p_value.toPrecision(3))).toBe(0.0477);
    expectRel(r.p_value, 0.0476703806561615, 1e-9);
    expect(r.mismatch).toBe(false);
  });

  it('9463/7681 at 50/50 → χ² 185.23, mismatch', () => {
    const r = srmTest([9463, 7681], [0.5, 0.5]);
    expectSig(r.chi_square, '185.23');
    expect(r.p_value).toBeLessThan(1e-40);
    expect(r.p_value).toBeGreaterThan(0);
    expect(r.mismatch).toBe(true);
  });

  it('1000/3150 at 25/75 → p 0.1788', () => {
    const r = srmTest([1000, 3150], [0.25, 0.75]);
    expectSig(r.p_value, '0.1788');
    expectRel(r.p_value, 0.17884100533041722, 1e-9); // SciPy chi2.sf
    expect(r.mismatch).toBe(false);
  });

  it('three variants: df = 2 (hand computation)', () => {
    // N = 1000, E = (200, 300, 500): χ² = 20²/200 + 20²/300 + 0 = 2 + 1.3333 = 3.3333; p = e^{−χ²/2}.
    const r = srmTest([220, 280, 500], [0.2, 0.3, 0.5]);
    expect(r.df).toBe(2);
    expect(r.chi_square).toBeCloseTo(10 / 3, 12);
    expectRel(r.p_value, Math.exp(-5 / 3), 1e-12);
  });

  it('no exposures yet: nothing to test', () => {
    expect(srmTest([0, 0], [0.5, 0.5])).toEqual({ chi_square: 0, df: 1, p_value: 1, mismatch: false });
  });
});

describe('user-level ratio metrics (delta method)', () => {
  // Per-user (requests, latency sum) in two arms; reference from NumPy/SciPy with the textbook
  // formula: Var(R) = (var(y) − 2R·cov(y, n) + R²·var(n)) / (N·mean(n)²), ddof = 1.
  const nA = [1, 3, 12, 2, 7, 1, 25, 4, 9, 2];
  const yA = [800, 2500, 9000, 1500, 6100, 950, 21000, 3000, 7400, 1700];
  const nB = [2, 1, 5, 18, 3, 1, 8, 40, 2, 6, 3];
  const yB = [1500, 700, 4200, 13000, 2600, 720, 6900, 30500, 1600, 4800, 2400];

  it('matches a NumPy/SciPy computation', () => {
    const a = ratioSumsFromUsers(nA, yA);
    const b = ratioSumsFromUsers(nB, yB);
    expectRel(ratioEstimate(a)!.ratio, 817.4242424242424, 1e-14);
    expectRel(ratioEstimate(a)!.variance, 314.5758889317068, 1e-10);
    expectRel(ratioEstimate(b)!.variance, 254.36281117214654, 1e-10);
    const r = deltaMethodTest(a, b);
    expectRel(r.diff, -43.04221995233229, 1e-12);
    expectRel(r.se, 23.852435936479388, 1e-10);
    expectRel(r.df, 18.53331076934072, 1e-10);
    expectRel(r.p_value, 0.08742594820508667, 1e-9);
    expect(r.significant).toBe(false);
  });

  it('with one request per user equals Welch’s t-test on the same values', () => {
    const random = seededRandom(99);
    const xa = Array.from({ length: 300 }, () => 500 + 400 * random());
    const xb = Array.from({ length: 420 }, () => 450 + 600 * random() ** 2);
    const welch = welchTTest(momentsFromValues(xa), momentsFromValues(xb));
    const user = deltaMethodTest(ratioSumsFromUsers(xa.map(() => 1), xa), ratioSumsFromUsers(xb.map(() => 1), xb));
    expectRel(user.diff, welch.diff!, 1e-12);
    expectRel(user.se, welch.se!, 1e-10);
    expectRel(user.df, welch.df!, 1e-9);
    expectRel(user.p_value, welch.p_value!, 1e-9);
    expect(user.significant).toBe(welch.significant);
    // The reference Welch case too, through the user-level path (n_i = 1 ⇒ the sums coincide).
    const ref = deltaMethodTest(
      { users: 3407, sum_n: 3407, sum_n2: 3407, sum_y: 1396.87, sum_y2: 52377.9767, sum_yn: 1396.87 },
      { users: 3461, sum_n: 3461, sum_n2: 3461, sum_y: 2422.7, sum_y2: 134698.29, sum_yn: 2422.7 },
    );
    expectSig(ref.se, '0.124784');
    expectSig(ref.df, '5841.74');
    expectSig(ref.p_value, '0.020158');
  });

  it('is invariant to scaling every user’s request count (R and its SE unchanged)', () => {
    const a = deltaMethodTest(ratioSumsFromUsers(nA, yA), ratioSumsFromUsers(nB, yB));
    const b = deltaMethodTest(ratioSumsFromUsers(nA.map((x) => 3 * x), yA.map((y) => 3 * y)), ratioSumsFromUsers(nB.map((x) => 3 * x), yB.map((y) => 3 * y)));
    expectRel(b.diff, a.diff!, 1e-12);
    expectRel(b.se, a.se!, 1e-9);
  });

  it('incremental updates of the stored sums equal the sums of the final per-user totals', () => {
    const random = seededRandom(5);
    const totals = new Map<string, UserTotals>();
    let stored = emptyUserLevelSums();
    for (let k = 0; k < 5000; k++) {
      const user = `u${Math.floor(random() * 300)}`;
      const before = totals.get(user) ?? null;
      const ok = random() < 0.9 ? 1 : 0;
      const after: UserTotals = {
        requests: (before?.requests ?? 0) + 1,
        successes: (before?.successes ?? 0) + ok,
        latency_sum_ms: (before?.latency_sum_ms ?? 0) + Math.round(200 + 2000 * random()),
        cost_sum: (before?.cost_sum ?? 0) + Math.round(random() * 1e6) / 1e9,
      };
      stored = mergeUserLevelSums(stored, userLevelSumsDelta(before, after));
      totals.set(user, after);
    }
    const fresh = userLevelSumsFromTotals(totals.values());
    for (const metric of ['latency_ms', 'cost_per_request', 'success_rate'] as const) {
      for (const key of ['users', 'sum_n', 'sum_n2', 'sum_y', 'sum_y2', 'sum_yn'] as const) {
        expectRel(stored[metric][key], fresh[metric][key], 1e-9);
      }
    }
    expect(stored.latency_ms.users).toBe(totals.size);
  });

  it('gives nulls below two users per arm', () => {
    const one = ratioSumsFromUsers([3], [900]);
    const r = deltaMethodTest(one, ratioSumsFromUsers(nB, yB));
    expect(r.se).toBeNull();
    expect(r.p_value).toBeNull();
    expect(r.significant).toBe(false);
    expect(deltaMethodTest(ratioSumsFromUsers([], []), one).diff).toBeNull();
  });
});

describe('analyze', () => {
  function arm(id: string, weight: number, users: number, seed: number, latencyShift = 0): AbVariantStats {
    const random = seededRandom(seed);
    const totals: UserTotals[] = [];
    const latencies: number[] = [];
    const costs: number[] = [];
    let successes = 0;
    for (let u = 0; u < users; u++) {
      const n = 1 + Math.floor(random() * 6);
      const t: UserTotals = { requests: n, successes: 0, latency_sum_ms: 0, cost_sum: 0 };
      for (let r = 0; r < n; r++) {
        const lat = 600 + latencyShift + 400 * random();
        const cost = 0.001 + 0.002 * random();
        const ok = random() < 0.93 ? 1 : 0;
        latencies.push(lat);
        costs.push(cost);
        successes += ok;
        t.successes += ok;
        t.latency_sum_ms += lat;
        t.cost_sum += cost;
      }
      totals.push(t);
    }
    return {
      variant_id: id,
      weight,
      exposures: users,
      latency_ms: momentsFromValues(latencies),
      cost_per_request: momentsFromValues(costs),
      success: { n: latencies.length, successes },
      user_level: userLevelSumsFromTotals(totals),
    };
  }

  it('has exactly the SPEC shape and the numbers of the underlying tests', () => {
    const control = arm('control', 0.5, 1000, 1);
    const treatment = arm('treatment', 0.5, 1020, 2, 25);
    const a = analyze([control, treatment]);
    expect(Object.keys(a).sort()).toEqual(['alpha', 'comparisons', 'control_variant_id', 'crossover', 'guardrails', 'method', 'planned_users', 'srm', 'warnings']);
    expect(a.method).toBe('sequential');
    expect(a.control_variant_id).toBe('control');
    expect(a.alpha).toBe(0.05);
    expect(Object.keys(a.srm).sort()).toEqual(['chi_square', 'mismatch', 'p_value']);
    expect(a.comparisons).toHaveLength(1);
    const c = a.comparisons[0]!;
    expect(Object.keys(c).sort()).toEqual(['cost_per_request', 'latency_ms', 'success_rate', 'user_level', 'variant_id']);
    const welchKeys = ['ci_high', 'ci_low', 'df', 'diff', 'p_value', 'significant', 't'];
    expect(Object.keys(c.latency_ms).sort()).toEqual(welchKeys);
    expect(Object.keys(c.cost_per_request).sort()).toEqual(welchKeys);
    expect(Object.keys(c.success_rate).sort()).toEqual(['ci_high', 'ci_low', 'diff', 'p_value', 'significant', 'z']);
    expect(Object.keys(c.user_level).sort()).toEqual(['cost_per_request', 'latency_ms', 'success_rate']);
    for (const m of ['latency_ms', 'cost_per_request', 'success_rate'] as const) {
      // No pre-period sums given: cuped is null; one treatment: no Holm; no bandit: no ipw.
      expect(Object.keys(c.user_level[m]).sort()).toEqual(['cuped', 'df', 'diff', 'p_value', 'se', 'sequential', 'significant']);
      expect(c.user_level[m].cuped).toBeNull();
    }
    const welch = welchTTest(control.latency_ms, treatment.latency_ms);
    expect(c.latency_ms.t).toBe(welch.t);
    expect(c.latency_ms.p_value).toBe(welch.p_value);
    expect(c.success_rate.z).toBe(twoProportionZTest(control.success, treatment.success).z);
    expect(c.user_level.latency_ms.p_value).toBe(deltaMethodTest(control.user_level.latency_ms, treatment.user_level.latency_ms).p_value);
    // A 25 ms shift on ~3,500 requests per arm with sd ≈ 115 is detected at both levels, and by
    // the sequence (the user-level `significant` follows it by default).
    expect(c.latency_ms.significant).toBe(true);
    expect(c.user_level.latency_ms.sequential.significant).toBe(true);
    expect(c.user_level.latency_ms.significant).toBe(true);
    expect(c.latency_ms.diff! > 0).toBe(true);
    expect(a.warnings).toEqual([]);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('warns about few users, few failures, SRM and multiple comparisons', () => {
    const control = arm('control', 0.5, 60, 1);
    const b = arm('b', 0.25, 300, 2);
    const c = arm('c', 0.25, 40, 3);
    c.success = { n: 120, successes: 117 };
    const a = analyze([control, b, c], { alpha: 0.1 });
    expect(a.alpha).toBe(0.1);
    expect(a.comparisons.map((x) => x.variant_id)).toEqual(['b', 'c']);
    const codes = a.warnings.map((w) => `${w.code}:${w.variant_id ?? ''}`);
    expect(codes).toEqual(expect.arrayContaining(['few_users:control', 'few_users:c', 'few_successes_or_failures:c', 'srm_mismatch:', 'multiple_comparisons:']));
    expect(codes).not.toContain('few_users:b');
    expect(a.srm.mismatch).toBe(true);
  });

  it('reports untestable metrics with nulls and an insufficient_data warning', () => {
    const control = arm('control', 0.5, 1, 1);
    const treatment = arm('treatment', 0.5, 1, 2);
    const a = analyze([control, treatment]);
    expect(a.comparisons[0]!.user_level.latency_ms.p_value).toBeNull();
    expect(a.warnings.some((w) => w.code === 'insufficient_data' && w.metric === 'latency_ms')).toBe(true);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('rejects fewer than two variants and a bad alpha', () => {
    expect(() => analyze([arm('only', 1, 10, 1)])).toThrow(RangeError);
    expect(() => analyze([arm('a', 0.5, 10, 1), arm('b', 0.5, 10, 2)], { alpha: 0 })).toThrow(RangeError);
  });
});
