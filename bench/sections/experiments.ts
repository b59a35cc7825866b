/**
 * Section "experiments": the seeded simulations of the A/B statistics (packages/domain/src/abtest/
 * simulations.ts) at sizes too large for the unit tier, with the claims they check as targets:
 * - continuous peeking (a look after every 100 users, A/A): the false-positive rate of the
 *   always-valid p-value stays ≤ α + 1 %, where the fixed-horizon one does not; the 95 %
 *   confidence sequence covers a real effect at every look in ≥ 94 % of runs;
 * - CUPED: unbiased (within 3 Monte Carlo errors) and a narrower interval with correlated history;
 * - top-two Thompson sampling: less regret than a fixed equal split, and an unbiased
 *   inverse-propensity-weighted estimate of each arm.
 * BENCH_EXPERIMENTS_SCALE (default 1) multiplies the number of runs.
 */
import { simulateBandit, simulateCuped, simulatePeeking } from '@model-router/domain';
import { envNumber, fixed } from '../lib/stats.js';
import type { Section, SectionResult } from '../lib/types.js';

const ALPHA = 0.05;
const pct = (x: number) => `${fixed(100 * x, 2)} %`;

export const experimentsSection: Section = {
  name: 'experiments',
  title: 'A/B statistics by simulation (seeded)',
  async run(ctx): Promise<SectionResult> {
    const scale = envNumber('BENCH_EXPERIMENTS_SCALE', 1);
    const runs = (n: number) => Math.max(10, Math.round(n * scale));
    const timed = <T>(label: string, f: () => T): { value: T; seconds: number } => {
      ctx.log(`experiments: ${label}…`);
      const started = process.hrtime.bigint();
      const value = f();
      return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
    };

    const peekingSizes = [1000, 5000];
    const peeking = peekingSizes.map((users) => ({
      users,
      aa: timed(`peeking A/A, ${users} users`, () => simulatePeeking({ runs: runs(users === 1000 ? 10_000 : 2_000), users, look_every: 100, alpha: ALPHA, effect: 0, seed: 9001 + users })),
      ab: timed(`peeking +5 %, ${users} users`, () => simulatePeeking({ runs: runs(users === 1000 ? 10_000 : 2_000), users, look_every: 100, alpha: ALPHA, effect: 0.05, seed: 9101 + users })),
    }));

    const cupedCases = [
      { label: '80 % with history, drift 0.25', history_share: 0.8, drift_sd: 0.25 },
      { label: '80 % with history, drift 0.6', history_share: 0.8, drift_sd: 0.6 },
      { label: 'no history (fallback)', history_share: 0, drift_sd: 0.25 },
    ];
    const cuped = cupedCases.map((c, i) => ({
      ...c,
      r: timed(`CUPED ${c.label}`, () => simulateCuped({ runs: runs(2000), users: 2000, effect: 0.05, history_share: c.history_share, drift_sd: c.drift_sd, alpha: ALPHA, seed: 9201 + i })),
    }));

    const banditCases = [
      { label: '2 arms 0.80/0.85', rates: [0.8, 0.85] },
      { label: '3 arms 0.80/0.82/0.85', rates: [0.8, 0.82, 0.85] },
    ];
    const bandit = banditCases.map((c, i) => ({
      ...c,
      r: timed(`bandit ${c.label}`, () =>
        simulateBandit({ runs: runs(500), users: 5000, rates: c.rates, batch: 250, bandit: { metric: 'success_rate', min_share: 0.05, draws: 1000 }, seed: 9301 + i }),
      ),
    }));

    const targets: SectionResult['targets'] = [];
    for (const p of peeking) {
      const seq = p.aa.value.sequential_rejections / p.aa.value.runs;
      const cover = p.ab.value.sequential_covered / p.ab.value.runs;
      targets.push({ name: `sequential FPR under peeking, ${p.users} users`, target: `≤ ${pct(ALPHA + 0.01)}`, actual: pct(seq), pass: seq <= ALPHA + 0.01 });
      targets.push({ name: `confidence-sequence coverage, ${p.users} users`, target: '≥ 94 %', actual: pct(cover), pass: cover >= 0.94 });
    }
    for (const c of cuped) {
      const err = c.r.value.sd_diff_cuped / Math.sqrt(c.r.value.runs);
      const bias = Math.abs(c.r.value.mean_diff_cuped - c.r.value.true_diff);
      targets.push({ name: `CUPED unbiased, ${c.label}`, target: `bias ≤ 3 MC errors (${fixed(3 * err, 2)} ms)`, actual: `${fixed(bias, 2)} ms`, pass: bias <= 3 * err });
    }
    const correlated = cuped[0]!.r.value;
    targets.push({
      name: 'CUPED narrows the interval (correlated history)',
      target: 'se < plain se',
      actual: `${fixed(correlated.mean_se_cuped, 2)} vs ${fixed(correlated.mean_se_plain, 2)} ms`,
      pass: correlated.mean_se_cuped < correlated.mean_se_plain,
    });
    for (const b of bandit) {
      targets.push({ name: `Thompson regret < equal split, ${b.label}`, target: `< ${fixed(b.r.value.regret_equal_split, 1)}`, actual: fixed(b.r.value.mean_regret_thompson, 1), pass: b.r.value.mean_regret_thompson < b.r.value.regret_equal_split });
      const worst = Math.max(...b.rates.map((rate, i) => Math.abs(b.r.value.mean_ipw_estimate[i]! - rate) / (b.r.value.sd_ipw_estimate[i]! / Math.sqrt(b.r.value.runs))));
      targets.push({ name: `IPW estimate unbiased, ${b.label}`, target: '≤ 3 MC errors', actual: `${fixed(worst, 2)} MC errors`, pass: worst <= 3 });
    }

    return {
      tables: [
        {
          title: 'Continuous peeking: a look after every 100 users, α = 0.05 (user-level delta method)',
          columns: ['users', 'runs', 'looks', 'fixed-horizon FPR (A/A)', 'sequential FPR (A/A)', 'sequence coverage (+5 %)', 'fixed CI coverage (+5 %)', 's'],
          rows: peeking.map((p) => [
            String(p.users),
            String(p.aa.value.runs),
            String(p.aa.value.looks_per_run),
            pct(p.aa.value.fixed_horizon_rejections / p.aa.value.runs),
            pct(p.aa.value.sequential_rejections / p.aa.value.runs),
            pct(p.ab.value.sequential_covered / p.ab.value.runs),
            pct(p.ab.value.fixed_horizon_covered / p.ab.value.runs),
            fixed(p.aa.seconds + p.ab.seconds, 1),
          ]),
        },
        {
          title: 'CUPED on user-level latency (2,000 users, +5 % effect)',
          columns: ['case', 'runs', 'true diff ms', 'mean plain', 'mean CUPED', 'MC error', 'se plain', 'se CUPED', 'variance reduction', 'coverage', 's'],
          rows: cuped.map((c) => [
            c.label,
            String(c.r.value.runs),
            fixed(c.r.value.true_diff, 2),
            fixed(c.r.value.mean_diff_plain, 2),
            fixed(c.r.value.mean_diff_cuped, 2),
            fixed(c.r.value.sd_diff_cuped / Math.sqrt(c.r.value.runs), 2),
            fixed(c.r.value.mean_se_plain, 2),
            fixed(c.r.value.mean_se_cuped, 2),
            pct(c.r.value.mean_variance_reduction),
            pct(c.r.value.cuped_covered / c.r.value.runs),
            fixed(c.r.seconds, 1),
          ]),
        },
        {
          title: 'Top-two Thompson sampling (5,000 users, posterior every 250, min_share 0.05, β 0.75)',
          columns: ['case', 'runs', 'regret Thompson', 'regret equal split', 'shares', 'IPW mean', 'naive mean', 'true', 's'],
          rows: bandit.map((b) => [
            b.label,
            String(b.r.value.runs),
            fixed(b.r.value.mean_regret_thompson, 1),
            fixed(b.r.value.regret_equal_split, 1),
            b.r.value.mean_share.map((x) => fixed(x, 3)).join('/'),
            b.r.value.mean_ipw_estimate.map((x) => fixed(x, 4)).join('/'),
            b.r.value.mean_naive_estimate.map((x) => fixed(x, 4)).join('/'),
            b.rates.join('/'),
            fixed(b.r.seconds, 1),
          ]),
        },
      ],
      targets,
      notes: [
        'Seeded (mulberry32, stdlib samplers): the same figures on every machine; the seconds are this machine\'s.',
        'FPR: share of A/A runs in which any look was significant. Coverage: share of runs whose interval held the true difference at every look.',
        'IPW: Horvitz–Thompson mean of 1/π-weighted successes per arm; naive: the arm\'s plain success rate (biased by adaptive allocation).',
      ],
      data: {
        peeking: peeking.map((p) => ({ users: p.users, aa: p.aa.value, effect_5pct: p.ab.value, seconds: p.aa.seconds + p.ab.seconds })),
        cuped: cuped.map((c) => ({ case: c.label, ...c.r.value, seconds: c.r.seconds })),
        bandit: bandit.map((b) => ({ case: b.label, rates: b.rates, ...b.r.value, seconds: b.r.seconds })),
      },
    };
  },
};
