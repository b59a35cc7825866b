/**
 * Top-two Thompson sampling and inverse-propensity weighting (src/abtest/bandit.ts), and by seeded
 * simulation: less regret than a fixed 50/50 split, and a weighted estimate without bias.
 */
import fc from 'fast-check';
import {
  addWeightedUser,
  emptyWeightedRatioSums,
  ipwCompare,
  ipwRatioEstimate,
  posteriorSampler,
  seededRandom,
  simulateBandit,
  topTwoThompsonProbabilities,
} from '../src/index.js';

const arm = (requests: number, successes: number, cost = 0, costSq = 0) => ({ requests, successes, cost_sum: cost, cost_sum_sq: costSq });

describe('top-two Thompson sampling probabilities', () => {
  it('sum to 1 and keep every arm at or above min_share (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 2, maxLength: 5 }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.constantFrom('success_rate' as const, 'cost_per_success' as const),
        fc.integer(),
        (arms, minShare, metric, seed) => {
          const stats = arms.map(([n, p]) => arm(n, Math.round(n * p), n * 0.002, n * 0.002 * 0.002 * 1.5));
          const pi = topTwoThompsonProbabilities(stats, { metric, min_share: minShare, draws: 100 }, seededRandom(seed));
          expect(pi.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9);
          for (const x of pi) expect(x).toBeGreaterThanOrEqual(minShare - 1e-12);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('are the same for the same seed (randomness only from the source given)', () => {
    const stats = [arm(100, 80), arm(100, 85), arm(50, 40)];
    const s = { metric: 'success_rate' as const, min_share: 0.1, draws: 500 };
    expect(topTwoThompsonProbabilities(stats, s, seededRandom(7))).toEqual(topTwoThompsonProbabilities(stats, s, seededRandom(7)));
  });

  it('send about β of the free share to a clear leader', () => {
    const pi = topTwoThompsonProbabilities([arm(2000, 1600), arm(2000, 1800)], { metric: 'success_rate', min_share: 0.1, draws: 2000 }, seededRandom(3));
    // 0.1 + 0.8·0.75 = 0.7 for the leader.
    expect(pi[1]).toBeCloseTo(0.7, 2);
    expect(pi[0]).toBeCloseTo(0.3, 2);
  });

  it('for cost_per_success prefer the arm that is cheaper per success', () => {
    // Same success rate; arm 1 costs half as much per request.
    const pi = topTwoThompsonProbabilities(
      [arm(1000, 900, 1000 * 0.004, 1000 * 0.004 ** 2 * 1.2), arm(1000, 900, 1000 * 0.002, 1000 * 0.002 ** 2 * 1.2)],
      { metric: 'cost_per_success', min_share: 0.05, draws: 1000 },
      seededRandom(5),
    );
    expect(pi[1]).toBeGreaterThan(0.7);
  });

  it('match the literal procedure (leader with β, else redraw until another arm is best) on three arms', () => {
    const stats = [arm(60, 45), arm(60, 50), arm(60, 48)];
    const pi = topTwoThompsonProbabilities(stats, { metric: 'success_rate', min_share: 0, draws: 20_000 }, seededRandom(11));
    const sample = posteriorSampler(stats, 'success_rate', seededRandom(12));
    const random = seededRandom(13);
    const counts = [0, 0, 0];
    const best = (x: Float64Array) => x.indexOf(Math.max(...x));
    const N = 20_000;
    for (let d = 0; d < N; d++) {
      const leader = best(sample());
      if (random() < 0.75) counts[leader]!++;
      else {
        let c = leader;
        while (c === leader) c = best(sample());
        counts[c]!++;
      }
    }
    counts.forEach((c, i) => expect(pi[i]).toBeCloseTo(c / N, 1));
    counts.forEach((c, i) => expect(Math.abs(pi[i]! - c / N)).toBeLessThan(0.02));
  });

  it('refuse a min_share that cannot be given to every arm', () => {
    expect(() => topTwoThompsonProbabilities([arm(1, 1), arm(1, 1), arm(1, 1)], { metric: 'success_rate', min_share: 0.4 }, seededRandom(1))).toThrow(RangeError);
  });
});

describe('inverse-propensity-weighted estimates', () => {
  it('with a constant probability equal the plain ratio', () => {
    const s = emptyWeightedRatioSums();
    const users = [[2, 1], [1, 1], [4, 3], [3, 0]] as const;
    for (const [n, y] of users) addWeightedUser(s, n, y, 0.25);
    expect(ipwRatioEstimate(s).estimate).toBeCloseTo(5 / 10, 12);
    // Linearized variance: Σ w²(y − R n)² / (Σ w n)², with w = 4.
    const r = 0.5;
    const num = users.reduce((acc, [n, y]) => acc + 16 * (y - r * n) ** 2, 0);
    expect(ipwRatioEstimate(s).se).toBeCloseTo(Math.sqrt(num) / 40, 12);
  });

  it('weights a user by the inverse of their assignment probability', () => {
    const s = emptyWeightedRatioSums();
    addWeightedUser(s, 1, 1, 0.5); // w = 2
    addWeightedUser(s, 1, 0, 0.1); // w = 10
    expect(ipwRatioEstimate(s).estimate).toBeCloseTo(2 / 12, 12);
    expect(() => addWeightedUser(s, 1, 1, 0)).toThrow(RangeError);
  });

  it('compares two arms with a z-test', () => {
    const c = ipwCompare({ estimate: 0.8, se: 0.01, users: 100 }, { estimate: 0.83, se: 0.01, users: 100 });
    expect(c.diff).toBeCloseTo(0.03, 12);
    expect(c.se).toBeCloseTo(Math.SQRT2 * 0.01, 12);
    expect(c.p_value!).toBeLessThan(0.05);
    expect(ipwCompare({ estimate: null, se: null, users: 0 }, { estimate: 0.5, se: 0.1, users: 3 }).diff).toBeNull();
  });
});

describe('bandit simulation (seeded)', () => {
  it('regret is lower than a 50/50 split and the weighted estimate is unbiased', () => {
    const rates = [0.8, 0.85];
    const r = simulateBandit({ runs: 200, users: 2000, rates, batch: 200, bandit: { metric: 'success_rate', min_share: 0.1, draws: 200 }, seed: 1405 });
    console.log(
      `bandit: regret ${r.mean_regret_thompson.toFixed(1)} (Thompson) vs ${r.regret_equal_split.toFixed(1)} (50/50); shares ${r.mean_share.map((x) => x.toFixed(3)).join('/')}; ` +
        `IPW ${r.mean_ipw_estimate.map((x) => x.toFixed(4)).join('/')}, Hájek ${r.mean_hajek_estimate.map((x) => x.toFixed(4)).join('/')}, naive ${r.mean_naive_estimate.map((x) => x.toFixed(4)).join('/')} (true ${rates.join('/')})`,
    );
    expect(r.mean_regret_thompson).toBeLessThan(0.8 * r.regret_equal_split);
    rates.forEach((rate, i) => {
      const mcError = r.sd_ipw_estimate[i]! / Math.sqrt(r.runs);
      expect(Math.abs(r.mean_ipw_estimate[i]! - rate)).toBeLessThan(3.5 * mcError);
      expect(Math.abs(r.mean_hajek_estimate[i]! - rate)).toBeLessThan(0.01);
    });
  });
});
