/**
 * The additions to `analyze` (SPEC "A/B test additions"): which p-value `significant` follows,
 * Holm with more than one treatment, CUPED and IPW figures, crossover and guardrails.
 */
import {
  addCupedUser,
  addWeightedUser,
  analyze,
  type AbVariantStats,
  confidenceSequence,
  cupedTest,
  deltaMethodTest,
  emptyCupedSums,
  emptyWeightedRatioSums,
  holmAdjust,
  seededRandom,
  type UserTotals,
  userLevelSumsFromTotals,
} from '../src/index.js';

/** An arm of `users` users; latency shifted by `shift` ms; each user has pre-period history correlated with their latency. */
function arm(id: string, users: number, seed: number, shift = 0, options: { errorRate?: number; probability?: number } = {}): AbVariantStats {
  const random = seededRandom(seed);
  const totals: UserTotals[] = [];
  const cuped = { latency_ms: emptyCupedSums(), cost_per_request: emptyCupedSums() };
  const ipw = { latency_ms: emptyWeightedRatioSums(), cost_per_request: emptyWeightedRatioSums(), success_rate: emptyWeightedRatioSums() };
  let requests = 0;
  let successes = 0;
  let latSum = 0;
  let latSq = 0;
  let costSum = 0;
  let costSq = 0;
  for (let u = 0; u < users; u++) {
    const level = 300 + 1400 * random(); // the user's own latency level, stable over time
    const n = 1 + Math.floor(random() * 4);
    const t: UserTotals = { requests: n, successes: 0, latency_sum_ms: 0, cost_sum: 0 };
    for (let r = 0; r < n; r++) {
      const lat = level + shift + 100 * (random() - 0.5);
      const cost = 0.001 + 0.001 * random();
      const ok = random() < 1 - (options.errorRate ?? 0.05) ? 1 : 0;
      t.latency_sum_ms += lat;
      t.cost_sum += cost;
      t.successes += ok;
      latSum += lat;
      latSq += lat * lat;
      costSum += cost;
      costSq += cost * cost;
    }
    requests += n;
    successes += t.successes;
    totals.push(t);
    const m = 2;
    addCupedUser(cuped.latency_ms, n, t.latency_sum_ms, m, m * (level + 100 * (random() - 0.5)));
    addCupedUser(cuped.cost_per_request, n, t.cost_sum, 0, 0);
    const p = options.probability ?? 0.5;
    addWeightedUser(ipw.latency_ms, n, t.latency_sum_ms, p);
    addWeightedUser(ipw.cost_per_request, n, t.cost_sum, p);
    addWeightedUser(ipw.success_rate, n, t.successes, p);
  }
  return {
    variant_id: id,
    weight: 0.5,
    exposures: users,
    latency_ms: { n: requests, sum: latSum, sum_sq: latSq },
    cost_per_request: { n: requests, sum: costSum, sum_sq: costSq },
    success: { n: requests, successes },
    user_level: userLevelSumsFromTotals(totals),
    cuped,
    ipw,
  };
}

describe('analyze: method, CUPED, Holm, IPW', () => {
  const control = arm('a', 1000, 1);
  const treatment = arm('b', 1000, 2, 30);

  it('builds the sequence on the CUPED estimate and lets `significant` follow the method', () => {
    const seq = analyze([control, treatment]).comparisons[0]!.user_level.latency_ms;
    const fixed = analyze([control, treatment], { method: 'fixed_horizon' }).comparisons[0]!.user_level.latency_ms;
    const c = cupedTest(control.user_level.latency_ms, control.cuped!.latency_ms, treatment.user_level.latency_ms, treatment.cuped!.latency_ms);
    expect(seq.cuped).toMatchObject({ applied: true, users_with_history: 2000 });
    expect(seq.cuped!.variance_reduction).toBeGreaterThan(0.5);
    expect(seq.cuped!.diff).toBeCloseTo(c.diff!, 12);
    expect(seq.sequential).toEqual(confidenceSequence(c.diff, c.se, 2000, 0.05, 2000));
    expect(seq.significant).toBe(seq.sequential.p_value! < 0.05);
    expect(fixed.significant).toBe(c.p_value! < 0.05);
    // The plain figures are kept beside.
    expect(seq.p_value).toBe(deltaMethodTest(control.user_level.latency_ms, treatment.user_level.latency_ms).p_value);
    // Nobody has cost history: CUPED falls back.
    expect(analyze([control, treatment]).comparisons[0]!.user_level.cost_per_request.cuped).toMatchObject({ applied: false, variance_reduction: 0 });
    // CUPED off: no figures, and the sequence uses the plain estimate.
    const off = analyze([control, treatment], { cuped: false }).comparisons[0]!.user_level.latency_ms;
    expect(off.cuped).toBeNull();
    expect(off.sequential).toEqual(confidenceSequence(off.diff, off.se, 2000, 0.05, 2000));
  });

  it('tunes the sequence to planned_users', () => {
    const a = analyze([control, treatment], { planned_users: 5000, cuped: false }).comparisons[0]!.user_level.latency_ms;
    expect(a.sequential).toEqual(confidenceSequence(a.diff, a.se, 2000, 0.05, 10_000));
    expect(() => analyze([control, treatment], { planned_users: 0 })).toThrow(RangeError);
  });

  it('with more than one treatment, adds Holm-adjusted p-values and `significant` follows them', () => {
    const variants = [control, arm('b', 1000, 2, 30), arm('c', 1000, 3, 0), arm('d', 1000, 4, 12)];
    for (const method of ['sequential', 'fixed_horizon'] as const) {
      const a = analyze(variants, { method });
      const deciding = a.comparisons.map((c) => (method === 'sequential' ? c.user_level.latency_ms.sequential.p_value : c.user_level.latency_ms.cuped!.p_value));
      const holm = holmAdjust(deciding);
      a.comparisons.forEach((c, i) => {
        expect(c.user_level.latency_ms.p_value_holm).toBe(holm[i]);
        expect(c.user_level.latency_ms.significant).toBe(holm[i]! < 0.05);
      });
    }
    expect(analyze([control, treatment]).comparisons[0]!.user_level.latency_ms).not.toHaveProperty('p_value_holm');
  });

  it('reports IPW estimates per variant and per comparison when every variant has weighted sums', () => {
    const a = analyze([arm('a', 500, 5, 0, { probability: 0.3 }), arm('b', 500, 6, 0, { probability: 0.7 })]);
    expect(a.ipw).toHaveLength(2);
    expect(a.ipw![0]!.latency_ms.estimate).toBeCloseTo(a.ipw![0]!.latency_ms.estimate!, 12);
    expect(a.comparisons[0]!.user_level.success_rate.ipw!.diff).toBeCloseTo(a.ipw![1]!.success_rate.estimate! - a.ipw![0]!.success_rate.estimate!, 12);
    const { ipw: _, ...noIpw } = control;
    expect(analyze([noIpw, treatment]).ipw).toBeUndefined();
  });
});

describe('analyze: crossover and guardrails', () => {
  const control = arm('a', 1000, 1);
  it('reports crossover with a warning above 0.1 % and a mismatch above 1 %', () => {
    const t = arm('b', 1000, 2);
    expect(analyze([control, t]).crossover).toEqual({ users: 0, share: 0, warning: false, mismatch: false });
    const some = analyze([control, t], { crossover: { users: 5, total_users: 2000 } });
    expect(some.crossover).toMatchObject({ users: 5, share: 0.0025, warning: true, mismatch: false });
    expect(some.warnings.map((w) => w.code)).toContain('crossover');
    const many = analyze([control, t], { crossover: { users: 40, total_users: 2000 } });
    expect(many.warnings.map((w) => w.code)).toContain('crossover_mismatch');
  });

  it('trips the error-rate guardrail of a clearly worse treatment only', () => {
    const worse = arm('b', 1000, 2, 0, { errorRate: 0.2 });
    const same = arm('c', 1000, 3, 0, { errorRate: 0.05 });
    const a = analyze([control, worse, same], { guardrails: [{ metric: 'error_rate', tolerance: 0.1 }] });
    expect(a.guardrails.map((g) => [g.variant_id, g.metric, g.tripped])).toEqual([
      ['b', 'error_rate', true],
      ['c', 'error_rate', false],
    ]);
    expect(a.warnings.filter((w) => w.code === 'guardrail_tripped').map((w) => w.variant_id)).toEqual(['b']);
  });
});
