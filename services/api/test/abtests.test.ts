import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@model-router/logger';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';
import { waitFor } from '@model-router/tests/support';

let h: Harness;
let aggregator: Awaited<ReturnType<typeof startMetricAggregator>>;

beforeAll(async () => {
  h = await startHarness();
  aggregator = await startMetricAggregator(h.env.config(), { logger: createLogger('aggregator-test', 'error'), opsPort: 0 });
});
afterAll(async () => {
  await aggregator.stop();
  await h.stop();
});

/** The seed's create body, with dates that make it startable now. */
function seedTest(overrides: Record<string, unknown> = {}) {
  return {
    name: 'GPT-4 vs Claude-3 Test',
    description: '比较两个模型的性能',
    start_time: new Date(Date.now() - 60_000).toISOString(),
    end_time: new Date(Date.now() + 7 * 86_400_000).toISOString(),
    strategy: 'consistent_hash',
    variants: [
      { id: 'variant_gpt4', name: 'GPT-4 Turbo', model_id: 'gpt-4-turbo-preview', weight: 0.5, description: 'OpenAI GPT-4' },
      { id: 'variant_claude3', name: 'Claude-3 Opus', model_id: 'claude-3-opus-20240229', weight: 0.5, description: 'Anthropic Claude-3' },
    ],
    created_by: 'admin',
    ...overrides,
  };
}

const app = () => request(h.api.app);
const create = async (body: Record<string, unknown>) => (await app().post('/api/v1/abtests').set(ADMIN).send(body).expect(201)).body;
const act = (id: string, action: string, status = 200) => app().post(`/api/v1/abtests/${id}/${action}`).set(ADMIN).expect(status);
const routeAs = async (userId: string | undefined, extra: Record<string, unknown> = {}) =>
  (await app().post('/api/v1/route').send({ prompt: '用户的问题', max_tokens: 1000, strategy: 'cheapest', user_id: userId, enable_ab_test: true, ...extra }).expect(200)).body;

describe('A/B test lifecycle', () => {
  it('creates the seed example as a draft and walks draft → running ⇄ paused → completed', async () => {
    const test = await create(seedTest({ id: 'test_001' }));
    expect(test).toMatchObject({ id: 'test_001', status: 'draft', strategy: 'consistent_hash', created_by: 'admin' });
    expect(test.variants.map((v: { id: string }) => v.id)).toEqual(['variant_gpt4', 'variant_claude3']);

    await act('test_001', 'pause', 409);
    await act('test_001', 'complete', 409);
    expect((await act('test_001', 'start')).body.status).toBe('running');
    await act('test_001', 'start', 409);
    const deleteRunning = await app().delete('/api/v1/abtests/test_001').set(ADMIN).expect(409);
    expect(deleteRunning.body.error.code).toBe('INVALID_TRANSITION');
    expect((await act('test_001', 'pause')).body.status).toBe('paused');
    expect((await act('test_001', 'start')).body.status).toBe('running');
    const completed = (await act('test_001', 'complete')).body;
    expect(completed.status).toBe('completed');
    expect(completed.completed_at).toBeTruthy();
    const again = await act('test_001', 'start', 409);
    expect(again.body.error).toMatchObject({ code: 'INVALID_TRANSITION', details: { from: 'completed', action: 'start' } });
    await app().delete('/api/v1/abtests/test_001').set(ADMIN).expect(204);
    await app().get('/api/v1/abtests/test_001').expect(404);
  });

  it('lists with status and created_by filters, limit and offset', async () => {
    for (const [id, by] of [['list_a', 'alice'], ['list_b', 'alice'], ['list_c', 'bob']]) await create(seedTest({ id, created_by: by }));
    await act('list_b', 'start');
    const all = (await app().get('/api/v1/abtests?created_by=alice').expect(200)).body;
    expect(all).toMatchObject({ total: 2, limit: 50, offset: 0 });
    expect(all.tests.map((t: { id: string }) => t.id).sort()).toEqual(['list_a', 'list_b']);
    const running = (await app().get('/api/v1/abtests?status=running&created_by=alice').expect(200)).body;
    expect(running.tests.map((t: { id: string }) => t.id)).toEqual(['list_b']);
    const page = (await app().get('/api/v1/abtests?limit=1&offset=1&created_by=alice').expect(200)).body;
    expect(page).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(page.tests).toHaveLength(1);
    await act('list_b', 'complete');
  });

  const bad: Array<[string, Record<string, unknown>]> = [
    ['one variant', { variants: [{ id: 'a', model_id: 'gpt-4o', weight: 1 }] }],
    ['eleven variants', { variants: Array.from({ length: 11 }, (_, i) => ({ id: `v${i}`, model_id: 'gpt-4o', weight: 1 / 11 })) }],
    ['duplicate variant ids', { variants: [{ id: 'a', model_id: 'gpt-4o', weight: 0.5 }, { id: 'a', model_id: 'gpt-4o-mini', weight: 0.5 }] }],
    ['unknown model', { variants: [{ id: 'a', model_id: 'gpt-4o', weight: 0.5 }, { id: 'b', model_id: 'no-such-model', weight: 0.5 }] }],
    ['weights not summing to 1', { variants: [{ id: 'a', model_id: 'gpt-4o', weight: 0.5 }, { id: 'b', model_id: 'gpt-4o-mini', weight: 0.4 }] }],
    ['zero weight', { variants: [{ id: 'a', model_id: 'gpt-4o', weight: 1 }, { id: 'b', model_id: 'gpt-4o-mini', weight: 0 }] }],
    ['negative weight', { variants: [{ id: 'a', model_id: 'gpt-4o', weight: 1.5 }, { id: 'b', model_id: 'gpt-4o-mini', weight: -0.5 }] }],
    ['end before start', { start_time: '2030-01-08T00:00:00Z', end_time: '2030-01-01T00:00:00Z' }],
    ['unknown strategy', { strategy: 'round_robin' }],
    ['missing name', { name: undefined }],
    ['unknown field', { colour: 'blue' }],
    ['bad start_time', { start_time: 'tomorrow' }],
  ];
  it.each(bad)('refuses %s with 400 and creates nothing', async (_name, overrides) => {
    const before = (await app().get('/api/v1/abtests?limit=1000').expect(200)).body.total;
    const res = await app().post('/api/v1/abtests').set(ADMIN).send(seedTest(overrides)).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect((await app().get('/api/v1/abtests?limit=1000').expect(200)).body.total).toBe(before);
  });

  it('refuses a duplicate id (409), writes without the admin key (401), bad list queries (400), unknown ids (404)', async () => {
    await create(seedTest({ id: 'dup_test' }));
    expect((await app().post('/api/v1/abtests').set(ADMIN).send(seedTest({ id: 'dup_test' })).expect(409)).body.error.code).toBe('CONFLICT');
    await app().post('/api/v1/abtests').send(seedTest()).expect(401);
    await app().post('/api/v1/abtests/dup_test/start').expect(401);
    await app().get('/api/v1/abtests?status=finished').expect(400);
    await app().get('/api/v1/abtests?limit=0').expect(400);
    await app().get('/api/v1/abtests?limit=abc').expect(400);
    for (const path of ['/api/v1/abtests/nope', '/api/v1/abtests/nope/results']) {
      expect((await app().get(path).expect(404)).body.error.code).toBe('AB_TEST_NOT_FOUND');
    }
    await act('nope', 'start', 404);
  });

  it('cannot start a test whose end_time has passed', async () => {
    await create(seedTest({ id: 'expired_test', start_time: '2024-01-01T00:00:00Z', end_time: '2024-01-08T00:00:00Z' }));
    expect((await act('expired_test', 'start', 409)).body.error.code).toBe('INVALID_TRANSITION');
  });
});

describe('routing with a running test, through the real pipeline', () => {
  const USERS = 1000;
  it('assigns 1,000 users stickily, reports the variant, records exposures and metrics exactly', async () => {
    await create(seedTest({ id: 'route_test' }));
    await act('route_test', 'start');

    const first = new Map<string, string>();
    for (let i = 0; i < USERS; i++) {
      const body = await routeAs(`user-${i}`, { ab_test_id: 'route_test' });
      expect(body.is_ab_test).toBe(true);
      expect(body.ab_test_id).toBe('route_test');
      expect(body.reason).toBe(`A/B Test: route_test, Variant: ${body.variant_id}`);
      expect(body.model_id).toBe(body.variant_id === 'variant_gpt4' ? 'gpt-4-turbo-preview' : 'claude-3-opus-20240229');
      first.set(`user-${i}`, body.variant_id);
    }
    for (let i = 0; i < USERS; i++) expect((await routeAs(`user-${i}`, { ab_test_id: 'route_test' })).variant_id).toBe(first.get(`user-${i}`));
    const inGpt4 = [...first.values()].filter((v) => v === 'variant_gpt4').length;
    // 50/50 by hashing: far inside 5 standard deviations (±79) of 500.
    expect(Math.abs(inGpt4 - USERS / 2)).toBeLessThan(80);

    // Each user reports two calls on the variant they were given.
    const metrics = [...first].flatMap(([user, variant], i) => [
      { variant_id: variant, user_id: user, success: i % 10 !== 0, latency_ms: 400 + (i % 50), tokens: 500, cost: 0.01, event_id: `m1-${user}` },
      { variant_id: variant, user_id: user, success: true, latency_ms: 380, tokens: 480, cost: 0.012, event_id: `m2-${user}` },
    ]);
    for (let i = 0; i < metrics.length; i += 1000) {
      await app().post('/api/v1/abtests/route_test/metrics').send({ metrics: metrics.slice(i, i + 1000) }).expect(202);
    }
    // A retry of the same events counts once.
    await app().post('/api/v1/abtests/route_test/metrics').send({ metrics: metrics.slice(0, 10) }).expect(202);

    const results = await waitFor(
      async () => (await app().get('/api/v1/abtests/route_test/results').expect(200)).body,
      (r) =>
        r.results.variant_gpt4.request_count + r.results.variant_claude3.request_count === 2 * USERS &&
        r.results.variant_gpt4.exposures + r.results.variant_claude3.exposures === USERS,
    );
    const gpt = results.results.variant_gpt4;
    const expectedFailures = [...first.values()].filter((v, i) => v === 'variant_gpt4' && i % 10 === 0).length;
    expect(gpt).toMatchObject({
      variant_id: 'variant_gpt4',
      request_count: 2 * inGpt4,
      failure_count: expectedFailures,
      success_count: 2 * inGpt4 - expectedFailures,
      total_tokens: 980 * inGpt4,
      exposures: inGpt4,
      users: inGpt4,
    });
    expect(gpt.total_cost).toBeCloseTo(0.022 * inGpt4, 9);
    expect(gpt.p50_latency_ms).toBeGreaterThan(300);
    expect(results.analysis).toMatchObject({ control_variant_id: 'variant_gpt4', alpha: 0.05 });
    expect(results.analysis.srm.mismatch).toBe(false);
    expect(results.analysis.comparisons).toHaveLength(1);
    const comparison = results.analysis.comparisons[0];
    expect(comparison.variant_id).toBe('variant_claude3');
    for (const metric of ['latency_ms', 'cost_per_request']) expect(comparison[metric]).toHaveProperty('df');
    expect(comparison.success_rate).toHaveProperty('z');
    expect(comparison.user_level.latency_ms).toHaveProperty('se');
  }, 180_000);

  it('routes to a fallback when the variant model is unavailable, still reporting the variant', async () => {
    await create(seedTest({ id: 'fallback_test', variants: [
      { id: 'a', model_id: 'gpt-4o', weight: 0.5 },
      { id: 'b', model_id: 'gpt-4o', weight: 0.5 },
    ] }));
    await act('fallback_test', 'start');
    await app().patch('/api/v1/models/gpt-4o').set(ADMIN).send({ enabled: false }).expect(200);
    try {
      const body = await routeAs('user-x', { ab_test_id: 'fallback_test' });
      expect(body).toMatchObject({ is_ab_test: true, ab_test_id: 'fallback_test' });
      expect(['a', 'b']).toContain(body.variant_id);
      expect(body.model_id).not.toBe('gpt-4o');
      expect(body.reason).toContain('variant model gpt-4o unavailable: disabled');
    } finally {
      await app().patch('/api/v1/models/gpt-4o').set(ADMIN).send({ enabled: true }).expect(200);
      await act('fallback_test', 'complete');
    }
  });

  it('puts no request without a user id, or naming a test that is not running, into a test', async () => {
    await create(seedTest({ id: 'draft_test' }));
    const noUser = await routeAs(undefined, { ab_test_id: 'route_test' });
    expect(noUser).toMatchObject({ is_ab_test: false, ab_test_id: null, variant_id: null });
    const draft = await routeAs('user-1', { ab_test_id: 'draft_test' });
    expect(draft).toMatchObject({ is_ab_test: false, ab_test_id: null });
    const optedOut = await routeAs('user-1', { ab_test_id: 'route_test', enable_ab_test: false });
    expect(optedOut.is_ab_test).toBe(false);
  });

  it('keeps a weighted_random user in the variant drawn first', async () => {
    await create(seedTest({ id: 'random_test', strategy: 'weighted_random' }));
    await act('random_test', 'start');
    for (let u = 0; u < 20; u++) {
      const first = (await routeAs(`r-${u}`, { ab_test_id: 'random_test' })).variant_id;
      for (let k = 0; k < 3; k++) expect((await routeAs(`r-${u}`, { ab_test_id: 'random_test' })).variant_id).toBe(first);
    }
    await act('random_test', 'complete');
  });

  it('refuses metrics for a variant not in the test (400) or a test that is not running (409)', async () => {
    const base = { user_id: 'u', success: true, latency_ms: 10 };
    const wrongVariant = await app().post('/api/v1/abtests/route_test/metrics').send({ ...base, variant_id: 'variant_x' }).expect(400);
    expect(wrongVariant.body.error.code).toBe('VALIDATION_ERROR');
    const notRunning = await app().post('/api/v1/abtests/draft_test/metrics').send({ ...base, variant_id: 'variant_gpt4' }).expect(409);
    expect(notRunning.body.error.code).toBe('CONFLICT');
    await app().post('/api/v1/abtests/nope/metrics').send({ ...base, variant_id: 'variant_gpt4' }).expect(404);
    await app().post('/api/v1/abtests/route_test/metrics').send({ ...base }).expect(400);
    await app().post('/api/v1/abtests/route_test/metrics').send({ ...base, variant_id: 'variant_gpt4', latency_ms: -1 }).expect(400);
  });
});
