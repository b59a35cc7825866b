/**
 * The A/B test additions end to end (SPEC "A/B test additions"): settings accepted and refused by
 * the create endpoint, and the new fields of GET /results through HTTP and the real pipeline
 * (BullMQ on Redis, the metric-aggregator writing Postgres): confidence sequences, CUPED from
 * pre-period events, Holm, crossover, Thompson sampling with stored assignment probabilities and
 * IPW estimates, and a guardrail that pauses its test and alerts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AbTestResultsReader, AbTestRollupsReader, createPool, type Pool } from '@model-router/database';
import { addCupedUser, addWeightedUser, emptyCupedSums, emptyWeightedRatioSums } from '@model-router/domain';
import { createLogger } from '@model-router/logger';
import { checkAbTestGuardrails, MAINTENANCE_JOBS, startMetricAggregator } from '@model-router/metric-aggregator';
import { BOSS_JOB_CATALOG, type JobBoss, startBoss } from '@model-router/queue';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';
import { waitFor } from '@model-router/tests/support';

let h: Harness;
let aggregator: Awaited<ReturnType<typeof startMetricAggregator>>;
let pool: Pool;
let boss: JobBoss;

beforeAll(async () => {
  h = await startHarness();
  aggregator = await startMetricAggregator(h.env.config(), { logger: createLogger('aggregator-test', 'error'), opsPort: 0 });
  const url = h.env.config().database.url;
  pool = createPool(url, 2);
  boss = await startBoss(url);
});
afterAll(async () => {
  await boss.stop({ graceful: false, close: true });
  await pool.end();
  await aggregator.stop();
  await h.stop();
});

const app = () => request(h.api.app);
const create = async (body: Record<string, unknown>) => (await app().post('/api/v1/abtests').set(ADMIN).send(body).expect(201)).body;
const act = (id: string, action: string, status = 200) => app().post(`/api/v1/abtests/${id}/${action}`).set(ADMIN).expect(status);
const results = async (id: string) => (await app().get(`/api/v1/abtests/${id}/results`).expect(200)).body;
const routeAs = async (userId: string, testId: string) =>
  (await app().post('/api/v1/route').send({ prompt: 'hi', max_tokens: 100, strategy: 'cheapest', user_id: userId, enable_ab_test: true, ab_test_id: testId }).expect(200)).body;
async function postMetrics(path: string, metrics: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < metrics.length; i += 1000) await app().post(path).send({ metrics: metrics.slice(i, i + 1000) }).expect(202);
}
const TWO = [
  { id: 'a', model_id: 'gpt-4o', weight: 0.5 },
  { id: 'b', model_id: 'gpt-4o-mini', weight: 0.5 },
];

describe('creating a test with analysis, guardrails and bandit settings', () => {
  it('stores the settings with their defaults', async () => {
    const plain = await create({ id: 'x_defaults', name: 'defaults', variants: TWO });
    expect(plain).toMatchObject({
      analysis: { method: 'sequential', planned_users: 1000, alpha: 0.05, cuped: { enabled: true, pre_period_days: 7 } },
      guardrails: [],
      bandit: null,
      paused_reason: null,
    });
    const bandit = await create({
      id: 'x_bandit',
      name: 'bandit',
      strategy: 'thompson_sampling',
      variants: TWO,
      analysis: { method: 'fixed_horizon', planned_users: 500, cuped: { pre_period_days: 3 } },
      guardrails: [{ metric: 'p95_latency_ms', tolerance: 0.2 }],
      bandit: { metric: 'cost_per_success', min_share: 0.2, update_every: '30s' },
    });
    expect(bandit).toMatchObject({
      strategy: 'thompson_sampling',
      analysis: { method: 'fixed_horizon', planned_users: 500, alpha: 0.05, cuped: { enabled: true, pre_period_days: 3 } },
      guardrails: [{ metric: 'p95_latency_ms', tolerance: 0.2 }],
      bandit: { metric: 'cost_per_success', min_share: 0.2, update_every: '30s', top_two_beta: 0.75 },
    });
    expect((await app().get('/api/v1/abtests/x_bandit').expect(200)).body).toEqual(bandit);
    // A thompson_sampling test without settings gets the defaults.
    expect((await create({ id: 'x_ts', name: 'ts', strategy: 'thompson_sampling', variants: TWO })).bandit).toEqual({
      metric: 'success_rate',
      min_share: 0.1,
      update_every: '1m',
      top_two_beta: 0.75,
    });
  });

  const THREE = [
    { id: 'a', model_id: 'gpt-4o', weight: 0.4 },
    { id: 'b', model_id: 'gpt-4o-mini', weight: 0.3 },
    { id: 'c', model_id: 'gpt-4o-mini', weight: 0.3 },
  ];
  const bad: Array<[string, Record<string, unknown>]> = [
    ['bandit settings on a consistent_hash test', { strategy: 'consistent_hash', bandit: { min_share: 0.1 } }],
    ['a min_share the variants cannot all get', { strategy: 'thompson_sampling', variants: THREE, bandit: { min_share: 0.4 } }],
    ['an unknown guardrail metric', { guardrails: [{ metric: 'p99_latency_ms', tolerance: 0.1 }] }],
    ['a negative tolerance', { guardrails: [{ metric: 'error_rate', tolerance: -0.1 }] }],
    ['an unknown analysis method', { analysis: { method: 'bayesian' } }],
    ['a tiny planned_users', { analysis: { planned_users: 1 } }],
    ['a pre-period longer than 30 days', { analysis: { cuped: { pre_period_days: 90 } } }],
    ['an update_every under a second', { strategy: 'thompson_sampling', bandit: { update_every: '10ms' } }],
    ['an unknown bandit metric', { strategy: 'thompson_sampling', bandit: { metric: 'latency' } }],
    ['an unknown analysis field', { analysis: { power: 0.8 } }],
  ];
  it.each(bad)('refuses %s with 400 and creates nothing', async (_name, overrides) => {
    const before = (await app().get('/api/v1/abtests?limit=1000').expect(200)).body.total;
    const res = await app().post('/api/v1/abtests').set(ADMIN).send({ name: 'bad', variants: TWO, ...overrides }).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect((await app().get('/api/v1/abtests?limit=1000').expect(200)).body.total).toBe(before);
  });
});

describe('results through the real pipeline', () => {
  it('sequential, CUPED from pre-period events, Holm with two treatments, and crossover', async () => {
    const USERS = 300;
    const level = (i: number) => 200 + ((i * 37) % 1000); // each user's own latency level
    // Pre-period usage: a day before the test, on any model, outside any test.
    const dayAgo = new Date(Date.now() - 86_400_000).toISOString();
    await postMetrics(
      '/api/v1/metrics',
      Array.from({ length: USERS }, (_, i) => [0, 1].map((k) => ({ model_id: 'gpt-4o', success: true, latency_ms: level(i) + 5 * k, tokens: 100, cost: 0.001, user_id: `cu-${i}`, event_id: `pre-${i}-${k}`, timestamp: dayAgo }))).flat(),
    );
    await waitFor(async () => (await pool.query("SELECT count(*)::int AS n FROM model_router.metric_events WHERE event_id LIKE 'pre-%'")).rows[0].n, (n) => n === 2 * USERS);

    await create({
      id: 'x_cuped',
      name: 'cuped',
      strategy: 'consistent_hash',
      variants: [
        { id: 'a', model_id: 'gpt-4o', weight: 0.4 },
        { id: 'b', model_id: 'gpt-4o-mini', weight: 0.3 },
        { id: 'c', model_id: 'gpt-4o-mini', weight: 0.3 },
      ],
    });
    await act('x_cuped', 'start');
    const variantOf = new Map<string, string>();
    for (let i = 0; i < USERS; i++) variantOf.set(`cu-${i}`, (await routeAs(`cu-${i}`, 'x_cuped')).variant_id);
    const metrics = [...variantOf].flatMap(([user, variant], i) =>
      [0, 1].map((k) => ({ variant_id: variant, user_id: user, success: (i + k) % 7 !== 0, latency_ms: level(i) + (variant === 'b' ? 40 : 0) + 3 * k, tokens: 100, cost: 0.001, event_id: `t-${user}-${k}` })),
    );
    // One user also shows up in another variant (crossover).
    const crossed = [...variantOf][0]!;
    metrics.push({ variant_id: crossed[1] === 'a' ? 'b' : 'a', user_id: crossed[0], success: true, latency_ms: 300, tokens: 100, cost: 0.001, event_id: 'cross-1' } as (typeof metrics)[number]);
    await postMetrics('/api/v1/abtests/x_cuped/metrics', metrics);

    const r = await waitFor(
      () => results('x_cuped'),
      (body) => Object.values(body.results as Record<string, { request_count: number }>).reduce((s, v) => s + v.request_count, 0) === 2 * USERS + 1,
    );
    expect(r.paused_reason).toBeNull();
    expect(r.analysis).toMatchObject({ method: 'sequential', planned_users: 1000, alpha: 0.05 });
    expect(r.analysis.crossover).toEqual({ users: 1, share: 1 / USERS, warning: true, mismatch: false });
    expect(r.analysis.warnings.map((w: { code: string }) => w.code)).toEqual(expect.arrayContaining(['crossover', 'multiple_comparisons']));
    expect(r.analysis.comparisons.map((c: { variant_id: string }) => c.variant_id)).toEqual(['b', 'c']);
    for (const c of r.analysis.comparisons) {
      const latency = c.user_level.latency_ms;
      expect(Object.keys(latency.sequential).sort()).toEqual(['ci_high', 'ci_low', 'p_value', 'significant']);
      expect(latency.sequential.ci_low).toBeLessThan(latency.sequential.ci_high);
      // History explains nearly all of a user's latency: CUPED removes most of the variance.
      expect(latency.cuped).toMatchObject({ applied: true });
      expect(latency.cuped.users_with_history).toBeGreaterThanOrEqual(USERS * 0.6);
      expect(latency.cuped.variance_reduction).toBeGreaterThan(0.9);
      expect(latency.cuped.se).toBeLessThan(latency.se);
      expect(c.user_level.success_rate.cuped).toBeNull();
      // Two treatments: Holm, and `significant` follows it.
      for (const m of ['latency_ms', 'cost_per_request', 'success_rate']) {
        const ul = c.user_level[m];
        expect(ul).toHaveProperty('p_value_holm');
        expect(ul.significant).toBe(ul.p_value_holm !== null && ul.p_value_holm < 0.05);
      }
    }
    // The read model's SQL sums equal the domain's, built here from the per-user rows themselves.
    const test = (await app().get('/api/v1/abtests/x_cuped').expect(200)).body;
    const started = new Date(test.started_at);
    const from = new Date(started.getTime() - 7 * 86_400_000);
    const totals = (await pool.query("SELECT variant_id, user_id, n, latency_sum, cost_nanos_sum FROM model_router.abtest_user_totals WHERE ab_test_id = 'x_cuped'")).rows;
    const pre = new Map(
      (await pool.query('SELECT user_id, count(*)::int AS m, sum(latency_ms) AS lx, sum(cost_nanos)::float8 AS cx FROM model_router.metric_events WHERE occurred_at >= $1 AND occurred_at < $2 AND user_id IS NOT NULL GROUP BY user_id', [from, started])).rows.map((row) => [row.user_id, row]),
    );
    const expected = new Map<string, { latency_ms: ReturnType<typeof emptyCupedSums>; cost_per_request: ReturnType<typeof emptyCupedSums> }>();
    for (const t of totals) {
      const e = expected.get(t.variant_id) ?? { latency_ms: emptyCupedSums(), cost_per_request: emptyCupedSums() };
      expected.set(t.variant_id, e);
      const p = pre.get(t.user_id);
      addCupedUser(e.latency_ms, Number(t.n), Number(t.latency_sum), p ? p.m : 0, p ? Number(p.lx) : 0);
      addCupedUser(e.cost_per_request, Number(t.n), Number(t.cost_nanos_sum) / 1e9, p ? p.m : 0, p ? Number(p.cx) / 1e9 : 0);
    }
    const got = await new AbTestResultsReader(pool, new AbTestRollupsReader(pool)).cupedSums('x_cuped', from, started);
    expect([...got.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const [variant, sums] of got) {
      for (const metric of ['latency_ms', 'cost_per_request'] as const) {
        for (const [key, value] of Object.entries(sums[metric])) {
          const want = expected.get(variant)![metric][key as keyof typeof sums.latency_ms];
          expect(Math.abs(value - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
        }
      }
    }

    const [b, cc] = r.analysis.comparisons;
    // The +40 ms of b is found with CUPED (its sequence excludes 0); c's nothing is not.
    expect(b.user_level.latency_ms.cuped.diff).toBeGreaterThan(30);
    expect(b.user_level.latency_ms.cuped.diff).toBeLessThan(50);
    expect(b.user_level.latency_ms.significant).toBe(true);
    expect(cc.user_level.latency_ms.significant).toBe(false);
    await act('x_cuped', 'complete');
  }, 180_000);

  it('thompson_sampling: sticky users, the assignment probability stored with every exposure, IPW estimates', async () => {
    await create({ id: 'x_thompson', name: 'thompson', strategy: 'thompson_sampling', variants: TWO, bandit: { metric: 'success_rate', min_share: 0.1, update_every: '1s' } });
    await act('x_thompson', 'start');
    const USERS = 200;
    const variantOf = new Map<string, string>();
    for (let i = 0; i < USERS; i++) variantOf.set(`ts-${i}`, (await routeAs(`ts-${i}`, 'x_thompson')).variant_id);
    for (let i = 0; i < 20; i++) expect((await routeAs(`ts-${i}`, 'x_thompson')).variant_id).toBe(variantOf.get(`ts-${i}`));
    expect(new Set(variantOf.values())).toEqual(new Set(['a', 'b']));
    await postMetrics(
      '/api/v1/abtests/x_thompson/metrics',
      [...variantOf].map(([user, variant], i) => ({ variant_id: variant, user_id: user, success: variant === 'b' || i % 2 === 0, latency_ms: 300, tokens: 50, cost: 0.001, event_id: `ts-m-${user}` })),
    );
    const r = await waitFor(
      () => results('x_thompson'),
      (body) => body.results.a.request_count + body.results.b.request_count === USERS && body.results.a.exposures + body.results.b.exposures === USERS,
    );
    const stored = await pool.query(
      "SELECT count(*)::int AS n, min(assignment_probability) AS lo, max(assignment_probability) AS hi FROM model_router.abtest_exposures WHERE ab_test_id = 'x_thompson' AND assignment_probability IS NOT NULL",
    );
    expect(stored.rows[0]).toMatchObject({ n: USERS });
    expect(stored.rows[0].lo).toBeGreaterThanOrEqual(0.1);
    expect(stored.rows[0].hi).toBeLessThanOrEqual(0.9);
    // The read model's weighted sums equal the domain's over the stored probabilities.
    const rows = (
      await pool.query(
        `SELECT t.variant_id, t.n, t.success_count, t.latency_sum, t.cost_nanos_sum, x.assignment_probability AS p
         FROM model_router.abtest_user_totals t JOIN model_router.abtest_exposures x USING (ab_test_id, user_id, variant_id)
         WHERE t.ab_test_id = 'x_thompson'`,
      )
    ).rows;
    const wanted = new Map<string, ReturnType<typeof emptyWeightedRatioSums>>();
    for (const row of rows) {
      const w = wanted.get(row.variant_id) ?? emptyWeightedRatioSums();
      wanted.set(row.variant_id, w);
      addWeightedUser(w, Number(row.n), Number(row.success_count), Number(row.p));
    }
    const ipwSums = await new AbTestResultsReader(pool, new AbTestRollupsReader(pool)).ipwSums('x_thompson');
    for (const [variant, w] of wanted) {
      for (const [key, value] of Object.entries(ipwSums.get(variant)!.success_rate)) {
        const want = w[key as keyof typeof w];
        expect(Math.abs(value - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
      }
    }
    expect(r.analysis.ipw.map((v: { variant_id: string; users: number }) => v.variant_id)).toEqual(['a', 'b']);
    expect(r.analysis.ipw.reduce((s: number, v: { users: number }) => s + v.users, 0)).toBe(USERS);
    expect(r.analysis.ipw[1].success_rate.estimate).toBeCloseTo(1, 9);
    expect(r.analysis.ipw[0].success_rate.estimate).toBeGreaterThan(0.2);
    expect(r.analysis.ipw[0].success_rate.estimate).toBeLessThan(0.8);
    const ipw = r.analysis.comparisons[0].user_level.success_rate.ipw;
    expect(ipw.diff).toBeCloseTo(r.analysis.ipw[1].success_rate.estimate - r.analysis.ipw[0].success_rate.estimate, 9);
    expect(ipw.p_value).toBeLessThan(0.05);
    await act('x_thompson', 'complete');
  }, 180_000);

  it('a tripped guardrail pauses the test with paused_reason and alerts abtest.guardrail_tripped', async () => {
    await create({ id: 'x_guard', name: 'guard', strategy: 'consistent_hash', variants: TWO, guardrails: [{ metric: 'error_rate', tolerance: 0.1 }, { metric: 'cost_per_request', tolerance: 0.5 }] });
    await act('x_guard', 'start');
    const USERS = 400;
    // The treatment fails 60 % of its calls, the control 5 %; costs are equal.
    await postMetrics(
      '/api/v1/abtests/x_guard/metrics',
      Array.from({ length: USERS }, (_, i) => {
        const variant = i % 2 === 0 ? 'a' : 'b';
        return [0, 1, 2].map((k) => ({
          variant_id: variant,
          user_id: `g-${i}`,
          success: variant === 'a' ? (i * 3 + k) % 20 !== 0 : (i * 3 + k) % 5 >= 3,
          latency_ms: 300,
          tokens: 50,
          cost: 0.001,
          event_id: `g-${i}-${k}`,
        }));
      }).flat(),
    );
    const before = await waitFor(() => results('x_guard'), (body) => body.results.a.request_count + body.results.b.request_count === 3 * USERS);
    expect(before.analysis.guardrails.map((g: { metric: string; tripped: boolean }) => [g.metric, g.tripped])).toEqual([
      ['error_rate', true],
      ['cost_per_request', false],
    ]);

    const alerts = await checkAbTestGuardrails({ pool, boss, logger: createLogger('guardrail-test', 'error'), deliverAlerts: true, alpha: 0.05 });
    expect(alerts.map((a) => [a.ab_test_id, a.variant_id, a.metric])).toEqual([['x_guard', 'b', 'error_rate']]);
    const test = (await app().get('/api/v1/abtests/x_guard').expect(200)).body;
    expect(test.status).toBe('paused');
    expect(test.paused_reason).toContain('guardrail error_rate tripped: variant b');
    expect((await results('x_guard')).paused_reason).toBe(test.paused_reason);
    const jobs = await boss.fetch<{ event: string; ab_test_id: string; metric: string; sequential_ci_low: number }>(BOSS_JOB_CATALOG['alert.webhook'].queue);
    expect(jobs.map((j) => [j.data.event, j.data.ab_test_id, j.data.metric])).toEqual([['abtest.guardrail_tripped', 'x_guard', 'error_rate']]);
    expect(jobs[0]!.data.sequential_ci_low).toBeGreaterThan(0);
    // Already paused: a second pass pauses and alerts nothing.
    expect(await checkAbTestGuardrails({ pool, boss, logger: createLogger('guardrail-test', 'error'), deliverAlerts: true, alpha: 0.05 })).toEqual([]);
    // Started again by hand, the reason is cleared.
    expect((await act('x_guard', 'start')).body.paused_reason).toBeNull();
    // The aggregator's scheduled check (a job of its pg-boss queue, sent here instead of waiting for
    // the minute) finds the same evidence and pauses it again, counting the trip.
    await boss.send(MAINTENANCE_JOBS.checkAbGuardrails.queue, {});
    const repaused = await waitFor(async () => (await app().get('/api/v1/abtests/x_guard').expect(200)).body, (t) => t.status === 'paused');
    expect(repaused.paused_reason).toContain('guardrail error_rate tripped');
    const exposition = await (await fetch(`${aggregator.url}/metrics`)).text();
    expect(exposition).toMatch(/model_router_abtest_guardrail_tripped_total\{ab_test="x_guard",variant="b",metric="error_rate"[^}]*\} 1\n/);
    await act('x_guard', 'complete');
  }, 180_000);
});
